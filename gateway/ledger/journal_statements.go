package ledger

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

var _ gateway.Statements = (*Journal)(nil)

// The journal's statements scan every settlement in memory: a dev ledger holds few.

func (j *Journal) StatementSums(ctx context.Context, q gateway.SumQuery) ([]gateway.SumRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	type key struct {
		inst      string
		cancelled bool
		medType   string
		fund      bool
		name      string
	}
	sums := map[key]*gateway.SumRow{}
	add := func(k key, code string, amount decimal.Decimal) {
		r := sums[k]
		if r == nil {
			r = &gateway.SumRow{InstitutionID: k.inst, Cancelled: k.cancelled, MedType: k.medType, Fund: k.fund, Name: k.name, FundCode: code}
			sums[k] = r
		}
		r.FundCode = max(r.FundCode, code) // as Postgres's max(fund_code)
		r.Amount = r.Amount.Add(amount)
		if !amount.IsZero() {
			r.Count++
		}
	}
	for _, st := range j.settlements {
		if !slices.Contains(q.InstitutionIDs, st.InstitutionID) || (q.MedType != "" && st.Receipt.MedType != q.MedType) {
			continue
		}
		for _, cancelled := range []bool{false, true} {
			at := st.SettledAt
			if cancelled {
				if st.State != gateway.StateCancelled || (!q.SettledFrom.IsZero() && st.SettledAt.Before(q.SettledFrom)) {
					continue
				}
				at = st.CancelledAt
			}
			if at.Before(q.From) || !at.Before(q.To) {
				continue
			}
			k := key{inst: st.InstitutionID, cancelled: cancelled, medType: st.Receipt.MedType}
			for name, amount := range parts(st) {
				k.name = name
				add(k, "", amount)
			}
			k.fund = true
			for fund, p := range fundTotals(st.Payments) {
				k.name = fund
				add(k, p.FundCode, p.Amount)
			}
		}
	}
	out := make([]gateway.SumRow, 0, len(sums))
	for _, r := range sums {
		out = append(out, *r)
	}
	slices.SortFunc(out, compareSumRows)
	return out, nil
}

// parts are a settlement's amounts by statement part.
func parts(st *gateway.Settlement) map[string]decimal.Decimal {
	return map[string]decimal.Decimal{"total": st.Total, "fund_total": st.FundTotal, "hospital": st.Hospital, "account": st.Account, "cash": st.Cash}
}

// fundTotals sums a bill's payments per fund: two stages of one fund are one amount.
func fundTotals(ps []gateway.FundPayment) map[string]gateway.FundPayment {
	out := map[string]gateway.FundPayment{}
	for _, p := range ps {
		t := out[p.Fund]
		t.Amount = t.Amount.Add(p.Amount)
		t.FundCode = max(t.FundCode, p.FundCode)
		out[p.Fund] = t
	}
	return out
}

func compareSumRows(a, b gateway.SumRow) int {
	return cmp.Or(cmp.Compare(a.InstitutionID, b.InstitutionID), compareBool(a.Cancelled, b.Cancelled),
		cmp.Compare(a.MedType, b.MedType), compareBool(a.Fund, b.Fund), cmp.Compare(a.Name, b.Name))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func (j *Journal) AidInpatientSums(ctx context.Context, institutionID string, from, to time.Time) (gateway.AidInpatientSums, error) {
	var s gateway.AidInpatientSums
	if err := ctx.Err(); err != nil {
		return s, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, st := range j.settlements {
		if st.InstitutionID != institutionID || st.SettledAt.Before(from) || !st.SettledAt.Before(to) ||
			st.Receipt.MedType != policy.Inpatient || st.State == gateway.StateCancelled || len(st.Receipt.Person.Categories) == 0 {
			continue
		}
		s.Settlements++
		s.Total = s.Total.Add(st.Total)
		s.Excluded = s.Excluded.Add(st.Receipt.Excluded)
		s.Overlimit = s.Overlimit.Add(st.Receipt.Overlimit)
		s.Account = s.Account.Add(st.Account)
		s.Cash = s.Cash.Add(st.Cash)
	}
	return s, nil
}

func (j *Journal) ListSettlements(ctx context.Context, institutionID string, from, to time.Time, fn func(*gateway.Settlement) error) error {
	var list []*gateway.Settlement
	j.mu.Lock()
	for _, st := range j.settlements {
		if st.InstitutionID == institutionID && !st.SettledAt.Before(from) && st.SettledAt.Before(to) {
			list = append(list, clone(st))
		}
	}
	j.mu.Unlock() // fn may be slow (a stream to a client): not under the lock
	slices.SortFunc(list, func(a, b *gateway.Settlement) int {
		return cmp.Or(a.SettledAt.Compare(b.SettledAt), cmp.Compare(a.ID, b.ID))
	})
	for _, st := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(st); err != nil {
			return err
		}
	}
	return nil
}
