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

func (j *Journal) StatementSums(ctx context.Context, institutionID string, from, to time.Time) ([]gateway.SumRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	type key struct {
		cancelled, fund bool
		name            string
	}
	sums := map[key]*gateway.SumRow{}
	add := func(k key, code string, amount decimal.Decimal) {
		r := sums[k]
		if r == nil {
			r = &gateway.SumRow{Cancelled: k.cancelled, Fund: k.fund, Name: k.name}
			sums[k] = r
		}
		r.FundCode = max(r.FundCode, code) // as Postgres's max(fund_code)
		r.Amount = r.Amount.Add(amount)
		if !amount.IsZero() {
			r.Count++
		}
	}
	for _, st := range j.settlements {
		if st.InstitutionID != institutionID {
			continue
		}
		for _, cancelled := range []bool{false, true} {
			if !inWindow(st, cancelled, from, to) {
				continue
			}
			for name, amount := range parts(st) {
				add(key{cancelled: cancelled, name: name}, "", amount)
			}
			for fund, p := range fundTotals(st.Payments) {
				add(key{cancelled: cancelled, fund: true, name: fund}, p.FundCode, p.Amount)
			}
		}
	}
	out := make([]gateway.SumRow, 0, len(sums))
	for _, r := range sums {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b gateway.SumRow) int {
		return cmp.Or(compareBool(a.Cancelled, b.Cancelled), compareBool(a.Fund, b.Fund), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// inWindow: the settlement was settled (cancelled false) or cancelled (true) in [from, to).
func inWindow(st *gateway.Settlement, cancelled bool, from, to time.Time) bool {
	at := st.SettledAt
	if cancelled {
		if st.State != gateway.StateCancelled {
			return false
		}
		at = st.CancelledAt
	}
	return !at.Before(from) && at.Before(to)
}

func (j *Journal) NetPayments(ctx context.Context, q gateway.PaymentQuery) (map[string]decimal.Decimal, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	out := map[string]decimal.Decimal{}
	for _, st := range j.settlements {
		if !slices.Contains(q.InstitutionIDs, st.InstitutionID) || st.Receipt.MedType != q.MedType {
			continue
		}
		paid := decimal.Zero
		for _, p := range st.Payments {
			if slices.Contains(q.Funds, p.Fund) {
				paid = paid.Add(p.Amount)
			}
		}
		if inWindow(st, false, q.From, q.To) {
			out[st.InstitutionID] = out[st.InstitutionID].Add(paid)
		}
		if inWindow(st, true, q.From, q.To) && !st.SettledAt.Before(q.SettledFrom) {
			out[st.InstitutionID] = out[st.InstitutionID].Sub(paid)
		}
	}
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
