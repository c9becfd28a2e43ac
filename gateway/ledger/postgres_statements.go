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
// (institution_id, cancelled_at) (migration 004), and a settlement's payments by its key:
// their cost follows the size of the period, not of the ledger. The sums are Postgres's, so
// a month of a large hospital (~100,000 settlements) crosses the wire as a dozen rows.

// report runs a statement's queries in one read-only transaction (one snapshot), with the
// sort memory a report needs (the 4 MB default spills a month's sorts to disk) and without
// JIT, whose compiling cost more than it saved on a month of 100,000 settlements.
func (l *Postgres) report(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only: nothing to lose
	if _, err := tx.Exec(ctx, `select set_config('work_mem', '64MB', true), set_config('jit', 'off', true)`); err != nil {
		return unavailable(err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return nil
}

// orUnavailable is unavailable for a failure and nil for none.
func orUnavailable(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(err)
}

// sumsSQL: e is the settlements settled in the window and those cancelled in it (marked
// cancelled). The parts are summed per group and unpivoted; the funds are summed per
// settlement first, so that a bill paid twice by one fund counts once.
const sumsSQL = `with e as materialized (
	select false as cancelled, s.id, s.total, s.fund_total, s.hospital, s.account, s.cash
	from settlements s
	where s.institution_id = $1 and s.settled_at >= $2 and s.settled_at < $3
	union all
	select true, s.id, s.total, s.fund_total, s.hospital, s.account, s.cash
	from cancellations c join settlements s on s.id = c.settlement_id
	where c.institution_id = $1 and c.cancelled_at >= $2 and c.cancelled_at < $3
), parts as (
	select cancelled,
		count(*) filter (where total <> 0) as n_total, sum(total) as total,
		count(*) filter (where fund_total <> 0) as n_fund_total, sum(fund_total) as fund_total,
		count(*) filter (where hospital <> 0) as n_hospital, sum(hospital) as hospital,
		count(*) filter (where account <> 0) as n_account, sum(account) as account,
		count(*) filter (where cash <> 0) as n_cash, sum(cash) as cash
	from e group by cancelled
)
select p.cancelled, false, v.name, '', v.n, v.amount
from parts p cross join lateral (values ('total', p.n_total, p.total), ('fund_total', p.n_fund_total, p.fund_total),
	('hospital', p.n_hospital, p.hospital), ('account', p.n_account, p.account), ('cash', p.n_cash, p.cash)) as v(name, n, amount)
union all
select e.cancelled, true, f.fund, max(f.code), count(*) filter (where f.amount <> 0), sum(f.amount)
from e cross join lateral (select p.fund, max(p.fund_code) as code, sum(p.amount) as amount
	from fund_payments p where p.settlement_id = e.id group by p.fund) f
group by e.cancelled, f.fund`

func (l *Postgres) StatementSums(ctx context.Context, institutionID string, from, to time.Time) ([]gateway.SumRow, error) {
	var out []gateway.SumRow
	err := l.report(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sumsSQL, institutionID, from, to)
		if err != nil {
			return unavailable(err)
		}
		var r gateway.SumRow
		_, err = pgx.ForEachRow(rows, []any{&r.Cancelled, &r.Fund, &r.Name, &r.FundCode, &r.Count, &r.Amount}, func() error {
			out = append(out, r)
			return nil
		})
		return orUnavailable(err)
	})
	return out, err
}

// netSQL: per settlement, the named funds' payments, found by the payments' key.
const netSQL = `select x.institution_id, sum(x.amount) from (
	select s.institution_id, sum((select coalesce(sum(p.amount), 0) from fund_payments p where p.settlement_id = s.id and p.fund = any($5))) as amount
	from settlements s
	where s.institution_id = any($1) and s.settled_at >= $2 and s.settled_at < $3 and s.med_type = $4
	group by s.institution_id
	union all
	select s.institution_id, -sum((select coalesce(sum(p.amount), 0) from fund_payments p where p.settlement_id = s.id and p.fund = any($5)))
	from cancellations c join settlements s on s.id = c.settlement_id
	where c.institution_id = any($1) and c.cancelled_at >= $2 and c.cancelled_at < $3 and s.med_type = $4 and s.settled_at >= $6
	group by s.institution_id
) x group by x.institution_id`

func (l *Postgres) NetPayments(ctx context.Context, q gateway.PaymentQuery) (map[string]decimal.Decimal, error) {
	out := map[string]decimal.Decimal{}
	err := l.report(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, netSQL, q.InstitutionIDs, q.From, q.To, q.MedType, q.Funds, q.SettledFrom)
		if err != nil {
			return unavailable(err)
		}
		var inst string
		var amount decimal.Decimal
		_, err = pgx.ForEachRow(rows, []any{&inst, &amount}, func() error {
			out[inst] = amount
			return nil
		})
		return orUnavailable(err)
	})
	return out, err
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

// listSQL: one row per settlement, its payments as a JSON array of text (amounts exact),
// the receipt's person only, not the whole document.
const listSQL = `select s.id::text, s.request_id, s.person_key, s.year, s.settle_date, s.med_type, s.settled_at, s.cancelled_at,
	s.total, s.policy_scope, s.fund_total, s.hospital, s.account, s.cash, s.receipt->'Person',
	(select json_agg(json_build_array(p.fund, p.fund_code, p.pool, p.category, p.amount::text, p.threshold_applied::text, p.ratio::text) order by p.seq)
		from fund_payments p where p.settlement_id = s.id)
from settlements s
where s.institution_id = $1 and s.settled_at >= $2 and s.settled_at < $3
order by s.settled_at, s.id`

// ListSettlements streams from one query in a read-only transaction, held until fn has seen
// the last settlement or failed.
func (l *Postgres) ListSettlements(ctx context.Context, institutionID string, from, to time.Time, fn func(*gateway.Settlement) error) error {
	return l.report(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, listSQL, institutionID, from, to)
		if err != nil {
			return unavailable(err)
		}
		defer rows.Close()
		for rows.Next() {
			st := &gateway.Settlement{InstitutionID: institutionID, State: gateway.StateSettled}
			var settleDate time.Time
			var cancelledAt *time.Time
			var person, payments []byte
			if err := rows.Scan(&st.ID, &st.RequestID, &st.PersonKey, &st.Year, &settleDate, &st.Receipt.MedType, &st.SettledAt, &cancelledAt,
				&st.Total, &st.PolicyScope, &st.FundTotal, &st.Hospital, &st.Account, &st.Cash, &person, &payments); err != nil {
				return unavailable(err)
			}
			st.SettledAt, st.Receipt.SettleDate = st.SettledAt.UTC(), policy.DateOf(settleDate)
			if cancelledAt != nil {
				st.State, st.CancelledAt = gateway.StateCancelled, cancelledAt.UTC()
			}
			if err := decodeListed(st, person, payments); err != nil {
				return err
			}
			if err := fn(st); err != nil {
				return err
			}
		}
		return orUnavailable(rows.Err())
	})
}

func decodeListed(st *gateway.Settlement, person, payments []byte) error {
	if len(person) > 0 {
		if err := json.Unmarshal(person, &st.Receipt.Person); err != nil {
			return gateway.Internal(fmt.Errorf("settlement %s: receipt person: %w", st.ID, err))
		}
	}
	if len(payments) == 0 {
		return nil
	}
	var ps [][7]string
	if err := json.Unmarshal(payments, &ps); err != nil {
		return gateway.Internal(fmt.Errorf("settlement %s: payments: %w", st.ID, err))
	}
	for _, p := range ps {
		fp := gateway.FundPayment{Fund: p[0], FundCode: p[1], Pool: p[2], Category: p[3]}
		for i, d := range []*decimal.Decimal{&fp.Amount, &fp.ThresholdApplied, &fp.Ratio} {
			v, err := decimal.NewFromString(p[4+i])
			if err != nil {
				return gateway.Internal(fmt.Errorf("settlement %s: payment %q: %w", st.ID, p[4+i], err))
			}
			*d = v
		}
		st.Payments = append(st.Payments, fp)
	}
	return nil
}
