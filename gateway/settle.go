package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// Service is the settle pipeline. Read it top to bottom: Settle is
//
//	1 authenticate (the API layer did: Caller) → 2 validate → 3 identity and eligibility →
//	4 policy and visit → 5 catalog → 6 ledger transaction around policy.Split → 7 answer.
//
// PreSettle is the same without step 6's writes. Every failure is an *Error.
type Service struct {
	Directory   Directory
	Identity    Identity
	Eligibility Eligibility
	Catalog     Catalog
	Policies    func() *policy.Set // the current policy set (it may be reloaded)
	Ledger      Ledger
	Location    *time.Location   // "today" is taken here; the policy documents' dates are local
	Now         func() time.Time // time.Now unless a test fixes the clock
	// Freshness bounds the age of an eligibility record: an older one is still used (the
	// agency's export is late, the person is most likely unchanged) but the answer says it
	// is stale and OnStale counts it. 0 means no bound.
	Freshness time.Duration
	OnStale   func()
	// HighCost are the out-of-pocket thresholds whose crossing alerts civil affairs.
	HighCost []HighCostRule
	// Observer is told of settlements, replays, pre-settlements and cancellations; nil: nobody.
	Observer Observer
	// DuplicateWindow: a bill with the same person, institution and items as one settled
	// this recently under another request id is held (POSSIBLE_DUPLICATE_BILL) until the
	// cashier confirms it; 0 turns the check off.
	DuplicateWindow time.Duration
}

// HighCostRule: alert when a person's out-of-pocket spending this year (cash + account, net
// of cancellations) passes Threshold; AidOnly limits the rule to persons holding an aid
// category on the settlement date.
type HighCostRule struct {
	Threshold decimal.Decimal
	AidOnly   bool
}

// OutOfPocketKey is the accumulator of a person's cash and account payments in a year: kept
// with the policy's accumulators so a cancellation takes it back like the others.
const OutOfPocketKey = "personal.out_of_pocket"

// Caller is the authenticated terminal a call comes from.
type Caller struct {
	Institution *Institution
	TerminalID  string
}

// Settle settles a bill once per (institution, request id); replayed is true when the
// answer is the one stored for an identical earlier request.
func (s *Service) Settle(ctx context.Context, caller Caller, req *SettleRequest) (*Settlement, bool, error) {
	pc, err := s.prepare(ctx, caller, req, true)
	if err != nil {
		return s.settledBefore(ctx, caller, req, err)
	}
	key := SettleKey{
		InstitutionID: req.InstitutionID,
		RequestID:     req.RequestID,
		RequestHash:   req.hash(),
		PersonKey:     pc.person.Key,
		Year:          pc.bill.settleDate.Year,
		AccountSince:  pc.accountSince(),
		History:       s.historyQuery(pc),
	}
	st, replayed, err := s.Ledger.Settle(ctx, key, func(pos Position) (*Settlement, error) {
		// Under the person's lock: two cashiers cannot both pass the same check.
		if err := s.checkFraud(pc, pos.History); err != nil {
			return nil, err
		}
		return pc.split(pos)
	})
	var flagged *Error
	if errors.As(err, &flagged) && (flagged.Reason == ReasonPossibleDuplicateBill || flagged.Reason == ReasonConcurrentAdmission) {
		s.observer().Flagged(flagged.Reason, pc.inst)
	}
	if err != nil {
		return nil, false, err
	}
	if replayed {
		s.observer().Replayed(st)
	} else {
		s.observer().Settled(st, pc.inst)
	}
	return st, replayed, nil
}

// settledBefore answers a Settle that prepare refused: when the same request was settled
// before, the retry gets the stored answer, not a refusal caused by what changed since —
// the snapshot, the catalog, or "today" passing midnight into a year without a policy.
func (s *Service) settledBefore(ctx context.Context, caller Caller, req *SettleRequest, refusal error) (*Settlement, bool, error) {
	if checkRequestID(req.RequestID) != nil || authorize(caller, req.InstitutionID) != nil {
		return nil, false, refusal
	}
	st, err := s.Ledger.Find(ctx, req.InstitutionID, req.RequestID)
	switch {
	case errors.Is(err, ErrSettlementNotFound):
		return nil, false, refusal
	case err != nil:
		return nil, false, err
	case st.RequestHash != req.hash():
		return nil, false, Errorf(ErrIdempotencyConflict, "request_id",
			"request %q of institution %s was settled with different content", req.RequestID, req.InstitutionID)
	}
	s.observer().Replayed(st)
	return st, true, nil
}

// PreSettle splits a bill exactly as Settle would now, and writes nothing.
func (s *Service) PreSettle(ctx context.Context, caller Caller, req *SettleRequest) (*Settlement, error) {
	pc, err := s.prepare(ctx, caller, req, false)
	if err != nil {
		return nil, err
	}
	pos, err := s.Ledger.Position(ctx, pc.person.Key, pc.bill.settleDate.Year, pc.accountSince())
	if err != nil {
		return nil, err
	}
	st, err := pc.split(pos)
	if err != nil {
		return nil, err
	}
	st.State = StatePreSettled
	s.observer().PreSettled(st, pc.inst)
	return st, nil
}

// Cancel reverses a settlement of the caller's institution (结算撤销).
func (s *Service) Cancel(ctx context.Context, caller Caller, c CancelKey) (*Settlement, bool, error) {
	if err := checkRequestID(c.RequestID); err != nil {
		return nil, false, err
	}
	if err := authorize(caller, c.InstitutionID); err != nil {
		return nil, false, err
	}
	if c.SettlementID == "" {
		return nil, false, invalid(ReasonInvalidArgument, "settlement_id", "required")
	}
	if len(c.Reason) > 256 {
		return nil, false, invalid(ReasonInvalidArgument, "reason", "at most 256 bytes")
	}
	st, replayed, err := s.Ledger.Cancel(ctx, c)
	if err == nil && !replayed {
		s.observer().Cancelled(st)
	}
	return st, replayed, err
}

// GetSettlement returns a settlement of the caller's institution.
func (s *Service) GetSettlement(ctx context.Context, caller Caller, institutionID, settlementID string) (*Settlement, error) {
	if err := authorize(caller, institutionID); err != nil {
		return nil, err
	}
	if settlementID == "" {
		return nil, invalid(ReasonInvalidArgument, "settlement_id", "required")
	}
	return s.Ledger.Get(ctx, institutionID, settlementID)
}

// prepared is a bill that passed steps 2–5: what split needs besides the ledger's position.
type prepared struct {
	bill   *bill
	inst   *Institution
	person *Person
	policy *policy.Policy
	visit  policy.Visit
	lines  []policy.Line
	items  []Item
	stale  bool // the eligibility record is older than the freshness bound
	rules  []HighCostRule
}

func (s *Service) prepare(ctx context.Context, caller Caller, req *SettleRequest, storing bool) (*prepared, error) {
	// 2 validate: the request on its own, and that the terminal may act for the institution.
	b, err := validate(req, today(s.now(), s.location()), storing)
	if err != nil {
		return nil, err
	}
	if err := authorize(caller, req.InstitutionID); err != nil {
		return nil, err
	}
	inst := caller.Institution

	// 3 identity and eligibility.
	person, err := s.person(ctx, req.Credential)
	if err != nil {
		return nil, err
	}

	// 4 the insured region's policy for the year, and the visit as the policy sees it.
	p, err := s.policyFor(person, b.settleDate)
	if err != nil {
		return nil, err
	}
	visit := visit(inst, person, req.MedType, b.settleDate, b.admission, req.ReferralNo != "")
	if visit.MedType == policy.Chronic && !chronicRegistered(person, inst.ID) {
		return nil, &Error{Kind: KindFailedPrecondition, Reason: ReasonChronicNotRegistered, Field: "med_type",
			Message: "the person has no chronic-care registration at this institution"}
	}

	// 5 the treatment region's catalog: class and ceiling of every line.
	lines, items, err := s.classify(inst.Region, b)
	if err != nil {
		return nil, err
	}
	return &prepared{bill: b, inst: inst, person: person, policy: p, visit: visit, lines: lines, items: items, stale: s.stale(person), rules: s.HighCost}, nil
}

func authorize(caller Caller, institutionID string) error {
	if institutionID == "" {
		return invalid(ReasonInvalidArgument, "institution_id", "required")
	}
	if caller.Institution == nil || caller.Institution.ID != institutionID {
		return &Error{Kind: KindPermissionDenied, Reason: ReasonWrongInstitution, Field: "institution_id",
			Message: "this terminal acts only for its own institution"}
	}
	return nil
}

func (s *Service) person(ctx context.Context, c Credential) (*Person, error) {
	if err := checkCredential(c); err != nil {
		return nil, err
	}
	if s.Identity == nil {
		return nil, Internal(errors.New("gateway: Service.Identity is not set"))
	}
	c, err := s.Identity.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	p, err := s.Eligibility.Lookup(ctx, c)
	if err != nil {
		return nil, err
	}
	if p.Scheme != "employee" && p.Scheme != "resident" {
		return nil, &Error{Kind: KindFailedPrecondition, Reason: ReasonNotInsured, Field: "credential",
			Message: "the person is not insured in a basic medical insurance scheme"}
	}
	return p, nil
}

// stale reports (and counts) a record older than the freshness bound.
func (s *Service) stale(p *Person) bool {
	if s.Freshness <= 0 || s.now().Sub(p.AsOf) <= s.Freshness {
		return false
	}
	if s.OnStale != nil {
		s.OnStale()
	}
	return true
}

func (s *Service) policyFor(person *Person, date policy.Date) (*policy.Policy, error) {
	p, err := s.Policies().Select(person.InsuredRegion, date)
	if errors.Is(err, policy.ErrNoPolicy) {
		return nil, &Error{Kind: KindFailedPrecondition, Reason: ReasonNoPolicy, Field: "settle_date", Message: err.Error()}
	}
	return p, err
}

// aidFunds are paid one-stop only at institutions designated for medical aid; elsewhere
// the patient claims them from the civil-affairs office with the receipt.
var aidFunds = []string{"medical_aid", "tilted_aid"}

const noteAidNotHere = "medical aid is not paid one-stop at this institution (not aid-designated): the patient may claim it at the civil-affairs office with this receipt"

// visit derives what the policy conditions on from the institution, the person and the bill.
func visit(inst *Institution, person *Person, medType string, date, admission policy.Date, referred bool) policy.Visit {
	crossRegion := person.InsuredRegion != inst.Region
	filed := false
	for _, f := range person.Filings {
		if f.Region == inst.Region && within(date, f.From, f.To) {
			filed = true
		}
	}
	var skip []string
	if !inst.AidDesignated {
		skip = aidFunds
	}
	return policy.Visit{
		SkipFunds:     skip,
		MedType:       medType,
		Level:         inst.Level,
		Date:          date,
		AdmissionDate: admission,
		Referred:      referred,
		CrossRegion:   crossRegion,
		Filed:         crossRegion && filed,
		InCounty:      !crossRegion && inst.AidDesignated && inst.County == person.County,
	}
}

func within(d, from, to policy.Date) bool {
	return (from.IsZero() || !d.Before(from)) && (to.IsZero() || !to.Before(d))
}

func chronicRegistered(p *Person, institutionID string) bool {
	for _, c := range p.Chronic {
		if slices.Contains(c.Institutions, institutionID) {
			return true
		}
	}
	return false
}

// classify looks every line up in the treatment region's catalog; all unknown codes are
// named in one error.
func (s *Service) classify(region string, b *bill) ([]policy.Line, []Item, error) {
	lines := make([]policy.Line, len(b.lines))
	items := make([]Item, len(b.lines))
	var unknown []string
	first := -1
	for i, l := range b.lines {
		item, ok := s.Catalog.Item(region, l.Code)
		if !ok {
			if !slices.Contains(unknown, l.Code) {
				unknown = append(unknown, l.Code)
			}
			if first < 0 {
				first = i
			}
			continue
		}
		items[i] = item
		lines[i] = policy.Line{Code: l.Code, Class: item.Class, Amount: l.amount}
		if item.CeilingUnitPrice.Valid {
			lines[i].Ceiling = decimal.NewNullDecimal(item.CeilingUnitPrice.Decimal.Mul(l.quantity).Round(2))
		}
	}
	if len(unknown) > 0 {
		return nil, nil, &Error{Kind: KindInvalidArgument, Reason: ReasonUnknownItem, Field: lineName(first, "code"),
			Message: "not in the catalog of region " + region + ": " + joinCodes(unknown)}
	}
	return lines, items, nil
}

// split is step 6's pure part: the policy engine on the ledger's position, and the
// settlement record made of its result.
func (pc *prepared) split(pos Position) (*Settlement, error) {
	person := pc.person.policyPerson()
	if pc.bill.req.UseAccount {
		person.AccountBalance = pc.person.accountAvailable(pos.AccountSpent)
	}
	res, err := policy.Split(pc.policy, person, pc.visit, pos.Accumulators, pc.lines)
	if err != nil {
		return nil, splitError(err)
	}
	remaining, err := policy.Remaining(pc.policy, person, pc.visit, res.AccumulatorsAfter)
	if err != nil {
		return nil, Internal(err)
	}
	st := pc.settlement(res, remaining)
	pc.highCost(st, pos.Accumulators[OutOfPocketKey])
	return st, nil
}

// accountSince is when the account's spending is counted from: the snapshot's as-of, or
// zero for a bill that does not use the account, which spares the ledger the read.
func (pc *prepared) accountSince() time.Time {
	if !pc.bill.req.UseAccount {
		return time.Time{}
	}
	return pc.person.AsOf
}

// highCost adds the bill's out-of-pocket spending to the year's and lists the thresholds
// it crosses.
func (pc *prepared) highCost(st *Settlement, before decimal.Decimal) {
	spent := st.Cash.Add(st.Account)
	if !spent.IsPositive() {
		return
	}
	if st.Deltas == nil {
		st.Deltas = policy.Accumulators{}
	}
	st.Deltas[OutOfPocketKey] = spent
	after := before.Add(spent)
	aid := false
	for _, c := range pc.person.Categories {
		aid = aid || within(pc.bill.settleDate, c.From, c.To)
	}
	for _, r := range pc.rules {
		if (!r.AidOnly || aid) && before.LessThan(r.Threshold) && !after.LessThan(r.Threshold) {
			st.Alerts = append(st.Alerts, HighCostAlert{Year: st.Year, Threshold: r.Threshold, OutOfPocket: after, AidHolder: aid})
		}
	}
}

// splitError names a rejection by the policy engine with its SPEC.md code in upper case
// (INVALID_LINE, …). The request was validated before, so what reaches here is a catalog or
// snapshot value the engine refuses, such as a class that is not A, B or C.
func splitError(err error) error {
	var ie *policy.InputError
	if !errors.As(err, &ie) {
		return Internal(err)
	}
	return &Error{Kind: KindInvalidArgument, Reason: strings.ToUpper(string(ie.Code)), Field: ie.Field, Message: ie.Reason}
}

// settlement turns a split into the record the ledger stores and the API answers with.
func (pc *prepared) settlement(res *policy.Result, remaining []policy.PoolRemaining) *Settlement {
	req := pc.bill.req
	st := &Settlement{
		InstitutionID:   req.InstitutionID,
		RequestID:       req.RequestID,
		PersonKey:       pc.person.Key,
		Year:            pc.bill.settleDate.Year,
		State:           StateSettled,
		Total:           res.Total,
		PolicyScope:     res.PolicyScope,
		FundTotal:       res.FundTotal(),
		Hospital:        res.Hospital,
		Account:         res.Account,
		Cash:            res.Cash,
		Deltas:          res.Deltas,
		BillFingerprint: pc.bill.fingerprint(),
		Receipt: Receipt{
			MedType:          req.MedType,
			SettleDate:       pc.bill.settleDate,
			Excluded:         res.Excluded,
			Overlimit:        res.Overlimit,
			Preselfpay:       res.Preselfpay,
			Person:           pc.personSummary(),
			Policy:           policyRef(pc.policy),
			EligibilityAsOf:  pc.person.AsOf,
			EligibilityStale: pc.stale,
		},
	}
	if req.MedType == policy.Inpatient {
		st.Receipt.AdmissionDate = pc.bill.admission
	}
	for _, t := range res.Trace {
		if t.Skipped == policy.SkippedFund && !slices.Contains(st.Receipt.Notes, noteAidNotHere) {
			st.Receipt.Notes = append(st.Receipt.Notes, noteAidNotHere)
		}
		if t.Kind != policy.KindPool || t.Skipped != "" || (t.Pay == 0 && t.ThresholdApplied == 0) {
			continue
		}
		st.Payments = append(st.Payments, FundPayment{
			Fund: t.Fund, FundCode: FundCodes[t.Fund], Pool: t.Pool, Category: t.Category,
			Amount: t.Pay.Decimal(), ThresholdApplied: t.ThresholdApplied.Decimal(), Ratio: t.Ratio.Decimal(),
		})
	}
	for i, l := range pc.bill.lines {
		st.Receipt.Lines = append(st.Receipt.Lines, ReceiptLine{
			Code: l.Code, Name: firstNonEmpty(l.Name, pc.items[i].Name), Class: pc.items[i].Class,
			Amount: l.amount, Ceiling: pc.lines[i].Ceiling,
		})
	}
	for _, r := range remaining {
		st.Receipt.Remaining = append(st.Receipt.Remaining, poolRemaining(r))
	}
	return st
}

// FundCodes are the national fund-payment type codes (DESIGN.md glossary) of the funds
// that have one.
var FundCodes = map[string]string{
	"basic_employee":   "310100",
	"personal_account": "310200",
	"civil_servant":    "320100",
	"large_supplement": "330100",
	"basic_resident":   "390100",
	"critical_illness": "390200",
	"medical_aid":      "610100",
	"hospital":         "999996",
}

// policyPerson is the person as the policy engine sees them; the account balance is the
// caller's to set.
func (p *Person) policyPerson() policy.Person {
	return policy.Person{Scheme: p.Scheme, Status: p.Status, Categories: p.Categories, Flags: p.Flags}
}

// accountAvailable is the personal account a bill may use now: the snapshot's balance less
// what the ledger has settled from it since the snapshot.
func (p *Person) accountAvailable(spent decimal.Decimal) decimal.Decimal {
	return decimal.Max(decimal.Zero, p.AccountBalance.Sub(spent))
}

// personSummary is the receipt's person, with the aid categories that covered this bill.
func (pc *prepared) personSummary() PersonSummary {
	ps := summary(pc.person)
	ps.Categories = aidCategories(pc.person, pc.visit.MedType, pc.bill.settleDate, pc.bill.admission)
	return ps
}

func summary(p *Person) PersonSummary {
	return PersonSummary{NameMasked: p.NameMasked, IDMasked: p.IDMasked, Scheme: p.Scheme, Status: p.Status, InsuredRegion: p.InsuredRegion}
}

func (s *Service) observer() Observer {
	if s.Observer == nil {
		return nopObserver{}
	}
	return s.Observer
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// location is where "today" and statement months are taken; UTC when unset (tests).
func (s *Service) location() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func policyRef(p *policy.Policy) PolicyRef {
	return PolicyRef{ID: p.ID, Name: p.Name, Region: p.Region, Year: p.Year, File: filepath.Base(p.File), Version: p.Version}
}
