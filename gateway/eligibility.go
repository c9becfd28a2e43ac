package gateway

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// EligibilityRequest asks who a person is and what is left of their year (人员信息获取).
type EligibilityRequest struct {
	InstitutionID string
	Credential    Credential
	Date          string // YYYY-MM-DD; "" = today
}

// EligibilityView is the answer: the person (masked), the aid categories valid on the date,
// and per pool what is left this year as seen from the asking institution.
type EligibilityView struct {
	Person            PersonSummary
	Categories        []policy.Category
	Flags             []string
	Remaining         []PoolRemaining
	AccountBalance    decimal.Decimal // available to a bill now
	Policy            PolicyRef
	AsOf              time.Time
	ChronicRegistered bool
	ChronicDiseases   []string
	Stale             bool // older than the gateway's freshness bound
	AidPaidHere       bool // the institution pays medical aid one-stop
}

// GetEligibility reads a person's eligibility and position without settling anything.
func (s *Service) GetEligibility(ctx context.Context, caller Caller, req *EligibilityRequest) (*EligibilityView, error) {
	if err := authorize(caller, req.InstitutionID); err != nil {
		return nil, err
	}
	date := today(s.now(), s.location())
	if req.Date != "" {
		d, err := policy.ParseDate(req.Date)
		if err != nil {
			return nil, invalid(ReasonInvalidDate, "date", "%v", err)
		}
		date = d
	}
	person, err := s.person(ctx, req.Credential)
	if err != nil {
		return nil, err
	}
	p, err := s.policyFor(person, date)
	if err != nil {
		return nil, err
	}
	pos, err := s.Ledger.Position(ctx, person.Key, date.Year, person.AsOf)
	if err != nil {
		return nil, err
	}
	inst := caller.Institution
	// A referred outpatient visit to this institution: Remaining resolves every pool from it,
	// each as if of the pool's own medical type.
	v := visit(inst, person, policy.Outpatient, date, date, true)
	remaining, err := policy.Remaining(p, person.policyPerson(), v, pos.Accumulators)
	if err != nil {
		return nil, Internal(err)
	}
	view := &EligibilityView{
		Person:         summary(person),
		Flags:          person.Flags,
		AccountBalance: person.accountAvailable(pos.AccountSpent),
		Policy:         policyRef(p),
		AsOf:           person.AsOf,
		Stale:          s.stale(person),
		AidPaidHere:    inst.AidDesignated,
	}
	for _, c := range person.Categories {
		if within(date, c.From, c.To) {
			view.Categories = append(view.Categories, c)
		}
	}
	for _, r := range remaining {
		view.Remaining = append(view.Remaining, poolRemaining(r))
	}
	for _, c := range person.Chronic {
		view.ChronicDiseases = append(view.ChronicDiseases, c.Disease)
	}
	view.ChronicRegistered = chronicRegistered(person, inst.ID)
	return view, nil
}

func poolRemaining(r policy.PoolRemaining) PoolRemaining {
	return PoolRemaining{
		Fund: r.Fund, Pool: r.Pool, MedTypes: r.MedTypes, ThresholdKind: string(r.ThresholdKind),
		ThresholdRemaining: r.Threshold, Capped: r.Capped, CapRemaining: r.CapRoom,
	}
}
