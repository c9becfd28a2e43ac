package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

var _ gateway.Statements = (*Postgres)(nil)

// Statement queries read settlements by (institution_id, settled_at) and cancellations by
// (institution_id, cancelled_at) (migration 004); the sums are Postgres's, so a month of a
// large hospital crosses the wire as a few dozen rows.

// sumsSQL: e is every settlement settled in the window and every one cancelled in it (the
// latter marked cancelled); each is summed once per part and once per fund, a fund's
// payments within one bill added up first so that a bill counts once per fund.
const sumsSQL = `with e as materialized (
	select false as cancelled, s.id, s.institution_id, s.med_type, s.total, s.fund_total, s.hospital, s.account, s.cash
	from settlements s
	where s.institution_id = any($1) and s.settled_at >= $2 and s.settled_at < $3 and ($4 = '' or s.med_type = $4)
	union all
	select true, s.id, s.institution_id, s.med_type, s.total, s.fund_total, s.hospital, s.account, s.cash
	from cancellations c join settlements s on s.id = c.settlement_id
	where c.institution_id = any($1) and c.cancelled_at >= $2 and c.cancelled_at < $3 and ($4 = '' or s.med_type = $4)
		and ($5::timestamptz is null or s.settled_at >= $5)
)
select e.institution_id, e.cancelled, e.med_type, false, p.name, '', count(*) filter (where p.amount <> 0), sum(p.amount)
from e cross join lateral (values ('total', e.total), ('fund_total', e.fund_total), ('hospital', e.hospital),
	('account', e.account), ('cash', e.cash)) as p(name, amount)
group by e.institution_id, e.cancelled, e.med_type, p.name
union all
select f.institution_id, f.cancelled, f.med_type, true, f.fund, max(f.code), count(*) filter (where f.amount <> 0), sum(f.amount)
from (select e.institution_id, e.cancelled, e.med_type, e.id, p.fund, max(p.fund_code) as code, sum(p.amount) as amount
	from e join fund_payments p on p.settlement_id = e.id
	group by e.institution_id, e.cancelled, e.med_type, e.id, p.fund) f
group by f.institution_id, f.cancelled, f.med_type, f.fund
order by 1, 2, 3, 4, 5`

func (l *Postgres) StatementSums(ctx context.Context, q gateway.SumQuery) ([]gateway.SumRow, error) {
	var settledFrom *time.Time
	if !q.SettledFrom.IsZero() {
		settledFrom = &q.SettledFrom
	}
	rows, err := l.pool.Query(ctx, sumsSQL, q.InstitutionIDs, q.From, q.To, q.MedType, settledFrom)
	if err != nil {
		return nil, unavailable(err)
	}
	var out []gateway.SumRow
	var r gateway.SumRow
	_, err = pgx.ForEachRow(rows, []any{&r.InstitutionID, &r.Cancelled, &r.MedType, &r.Fund, &r.Name, &r.FundCode, &r.Count, &r.Amount}, func() error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// aidSQL reads excluded and overlimit from the receipt: they are in no column, and only
// aid recipients' inpatient settlements, a small part of the month, are read.
const aidSQL = `select count(*), coalesce(sum(total), 0),
	coalesce(sum((receipt->>'Excluded')::numeric), 0), coalesce(sum((receipt->>'Overlimit')::numeric), 0),
	coalesce(sum(account), 0), coalesce(sum(cash), 0)
from settlements
where institution_id = $1 and settled_at >= $2 and settled_at < $3 and med_type = 'inpatient' and cancelled_at is null
	and coalesce(receipt->'Person'->'Categories', '[]') not in ('[]'::jsonb, 'null'::jsonb)`

func (l *Postgres) AidInpatientSums(ctx context.Context, institutionID string, from, to time.Time) (gateway.AidInpatientSums, error) {
	var s gateway.AidInpatientSums
	err := l.pool.QueryRow(ctx, aidSQL, institutionID, from, to).Scan(&s.Settlements, &s.Total, &s.Excluded, &s.Overlimit, &s.Account, &s.Cash)
	if err != nil {
		return gateway.AidInpatientSums{}, unavailable(err)
	}
	return s, nil
}

// listSQL: one row per payment (one for a settlement without any), in the order the lines
// are answered; the receipt's person only, not the whole document.
const listSQL = `select s.id::text, s.request_id, s.person_key, s.year, s.settle_date, s.med_type, s.settled_at, s.cancelled_at,
	s.total, s.policy_scope, s.fund_total, s.hospital, s.account, s.cash, s.receipt->'Person',
	p.fund, p.fund_code, p.pool, p.category, p.amount, p.threshold_applied, p.ratio
from settlements s left join fund_payments p on p.settlement_id = s.id
where s.institution_id = $1 and s.settled_at >= $2 and s.settled_at < $3
order by s.settled_at, s.id, p.seq`

// ListSettlements streams from one query: the connection is held until fn has seen the
// last settlement or failed.
func (l *Postgres) ListSettlements(ctx context.Context, institutionID string, from, to time.Time, fn func(*gateway.Settlement) error) error {
	rows, err := l.pool.Query(ctx, listSQL, institutionID, from, to)
	if err != nil {
		return unavailable(err)
	}
	defer rows.Close()
	var cur *gateway.Settlement
	var fnErr error
	for rows.Next() {
		var (
			id, requestID, personKey, medType string
			year                              int
			settleDate, settledAt             time.Time
			cancelledAt                       *time.Time
			person                            []byte
			fund, code, pool, category        *string
			amount, applied, ratio            decimal.NullDecimal
			st                                gateway.Settlement
		)
		if err := rows.Scan(&id, &requestID, &personKey, &year, &settleDate, &medType, &settledAt, &cancelledAt,
			&st.Total, &st.PolicyScope, &st.FundTotal, &st.Hospital, &st.Account, &st.Cash, &person,
			&fund, &code, &pool, &category, &amount, &applied, &ratio); err != nil {
			return unavailable(err)
		}
		if cur == nil || cur.ID != id {
			if cur != nil {
				if fnErr = fn(cur); fnErr != nil {
					return fnErr
				}
			}
			st.ID, st.InstitutionID, st.RequestID, st.PersonKey, st.Year = id, institutionID, requestID, personKey, year
			st.SettledAt, st.State = settledAt.UTC(), gateway.StateSettled
			if cancelledAt != nil {
				st.State, st.CancelledAt = gateway.StateCancelled, cancelledAt.UTC()
			}
			st.Receipt.MedType, st.Receipt.SettleDate = medType, policy.DateOf(settleDate)
			if len(person) > 0 {
				if err := json.Unmarshal(person, &st.Receipt.Person); err != nil {
					return gateway.Internal(fmt.Errorf("settlement %s: receipt person: %w", id, err))
				}
			}
			cur = &st
		}
		if fund != nil {
			cur.Payments = append(cur.Payments, gateway.FundPayment{Fund: *fund, FundCode: deref(code), Pool: deref(pool), Category: deref(category),
				Amount: amount.Decimal, ThresholdApplied: applied.Decimal, Ratio: ratio.Decimal})
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(err)
	}
	if cur != nil {
		return fn(cur)
	}
	return nil
}
