package policy

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// Split divides one bill across the funds of policy p for person and visit, given the
// person's accumulators for the visit's year before this bill (SPEC.md §3–§5).
//
// It returns an *InputError with code invalid_amount, empty_bill, invalid_line,
// unknown_med_type or invalid_visit for bad input, checked in the order SPEC.md §4.6.8
// fixes: med_type, an empty bill, each line (amount, class, ceiling), the accumulator
// values (by key), the account balance. Split never mutates its arguments.
func Split(p *Policy, person Person, visit Visit, acc Accumulators, lines []Line) (*Result, error) {
	s := splitter{p: p, person: &person, visit: &visit}
	if err := s.read(acc, lines); err != nil {
		return nil, err
	}
	s.trace = make([]StageTrace, len(p.Stages))
	for i := range p.Stages {
		if err := s.stage(i); err != nil {
			return nil, err
		}
	}
	return s.result(acc), nil
}

// splitter holds one split's working state, all in fen.
type splitter struct {
	p      *Policy
	person *Person
	visit  *Visit

	total, excluded, overlimit, preselfpay, scope fen

	burden                                      fen // R, the remaining policy-scope burden
	preselfpayLeft, overlimitLeft, excludedLeft fen // what the account may still pay of each
	balance                                     fen // personal account left

	acc, delta []fen // by policy slot (Policy.keys)
	hospital   fen
	account    fen
	trace      []StageTrace
	funds      []fundPay
}

type fundPay struct {
	fund string
	pay  fen
}

// read validates the input in SPEC.md's order and does step 1 (§3).
func (s *splitter) read(acc Accumulators, lines []Line) error {
	if err := checkMedType(s.visit.MedType); err != nil {
		return err
	}
	if err := checkNotEmpty(len(lines)); err != nil {
		return err
	}
	for i := range lines {
		if err := s.line(i, &lines[i]); err != nil {
			return err
		}
	}
	if err := s.readAccumulators(acc); err != nil {
		return err
	}
	balance, err := toFen(s.person.AccountBalance)
	if err != nil {
		return err.at("person.account_balance")
	}
	s.balance = balance
	s.burden = s.scope
	s.preselfpayLeft, s.overlimitLeft, s.excludedLeft = s.preselfpay, s.overlimit, s.excluded
	return nil
}

// line classifies one line (SPEC.md §3) and adds it to the bill totals.
func (s *splitter) line(i int, l *Line) error {
	amount, bad := toFen(l.Amount)
	if bad != nil {
		return bad.at(lineField(i, "amount"))
	}
	if err := checkClass(i, l.Class); err != nil {
		return err
	}
	var over fen
	if l.Ceiling.Valid {
		ceiling, bad := toFen(l.Ceiling.Decimal)
		if bad != nil {
			return bad.at(lineField(i, "ceiling"))
		}
		over = max(0, amount-ceiling)
	}
	within := amount - over
	var excluded, pre, scope fen
	switch l.Class {
	case ClassC:
		excluded = within
	case ClassB:
		pre = mulRound(within, s.p.PreselfpayRatio)
		scope = within - pre
	case ClassA:
		scope = within
	}
	// Each line is at most maxAmount, so only the running total can overflow; every other
	// sum is a part of it.
	total, ok := addChecked(s.total, amount)
	if !ok || total > maxBillTotal {
		return inputErr(CodeInvalidAmount, lineField(i, "amount"), "the bill total passes %s", maxBillTotal)
	}
	s.total = total
	s.overlimit += over
	s.excluded += excluded
	s.preselfpay += pre
	s.scope += scope
	return nil
}

// maxBillTotal keeps every sum of bill figures and accumulators far inside int64.
const maxBillTotal = 1000 * maxAmount

// The checks below are shared with the case-file reader, which must fail in the same order.

func checkMedType(medType string) error {
	if !slices.Contains(MedTypes, medType) {
		return inputErr(CodeUnknownMedType, "visit.med_type", "%q is not one of %v", medType, MedTypes)
	}
	return nil
}

func checkNotEmpty(lines int) error {
	if lines == 0 {
		return inputErr(CodeEmptyBill, "lines", "a bill needs at least one line")
	}
	return nil
}

func checkClass(i int, class string) error {
	if class != ClassA && class != ClassB && class != ClassC {
		return inputErr(CodeInvalidLine, lineField(i, "class"), "%q is not a catalog class (A, B or C)", class)
	}
	return nil
}

func lineField(i int, name string) string { return fmt.Sprintf("lines[%d].%s", i, name) }

// readAccumulators checks every value and loads the ones the policy uses into slots.
func (s *splitter) readAccumulators(acc Accumulators) error {
	for _, v := range acc {
		if _, bad := toFen(v); bad != nil {
			return firstBadAccumulator(acc)
		}
	}
	s.acc = make([]fen, 2*len(s.p.keys))
	s.acc, s.delta = s.acc[:len(s.p.keys)], s.acc[len(s.p.keys):]
	for i, key := range s.p.keys {
		if v, ok := acc[key]; ok {
			s.acc[i], _ = toFen(v)
		}
	}
	return nil
}

// firstBadAccumulator reports the first bad value in key order, so the error does not
// depend on map iteration.
func firstBadAccumulator(acc Accumulators) error {
	keys := sortedKeys(acc)
	for _, key := range keys {
		if _, bad := toFen(acc[key]); bad != nil {
			return bad.at("accumulators[" + key + "]")
		}
	}
	return nil
}

func (s *splitter) stage(i int) error {
	st := &s.p.Stages[i]
	t := &s.trace[i]
	*t = StageTrace{Stage: i, Fund: st.Fund, Kind: st.Kind, BurdenBefore: s.burden}
	defer func() { t.BurdenAfter = s.burden }()
	if !s.matches(&st.When, "", false) {
		t.Skipped = "condition"
		return nil
	}
	if slices.Contains(s.visit.SkipFunds, st.Fund) {
		t.Skipped = SkippedFund
		return nil
	}
	switch st.Kind {
	case KindHospitalCeiling:
		limit := mulRound(s.scope, st.MaxShare)
		pay := max(0, s.burden-limit)
		s.burden -= pay
		s.hospital += pay
		t.Limit, t.Pay = limit, pay
		return nil
	case KindAccount:
		s.payAccount(st, t)
		return nil
	}
	return s.poolStage(st, t)
}

// poolStage runs a pool stage (SPEC.md §4.2, §4.3).
func (s *splitter) poolStage(st *Stage, t *StageTrace) error {
	pool := s.poolFor(st)
	if pool == nil {
		t.Skipped = "no pool"
		return nil
	}
	t.Pool = pool.Name
	var best outcome
	if len(st.Categories) == 0 {
		o, err := s.evaluate(pool, "", false)
		if err != nil {
			return err
		}
		best = o
	} else {
		found := false
		for _, code := range st.Categories {
			if !s.person.validFor(code, s.visit) {
				continue
			}
			o, err := s.evaluate(pool, code, true)
			if err != nil {
				return err
			}
			t.Candidates = append(t.Candidates, Candidate{Category: code, Pay: o.pay})
			// A later candidate must pay strictly more: ties go to the one listed first.
			if !found || o.pay > best.pay {
				best, found = o, true
			}
		}
		if !found {
			t.Skipped = "no category"
			return nil
		}
	}
	s.apply(st, pool, best)
	best.describe(t)
	return nil
}

func (s *splitter) poolFor(st *Stage) *Pool {
	for i := range st.Pools {
		if slices.Contains(st.Pools[i].MedTypes, s.visit.MedType) {
			return &st.Pools[i]
		}
	}
	return nil
}

// outcome is one candidate's evaluation of a pool.
type outcome struct {
	category      string
	thresholdKind ThresholdKind
	threshold     fen
	applied       fen
	ratio         ratio
	capped        bool
	cap, room     fen
	raw, pay      fen
}

// params are a pool's parameters after the rules that match one candidate (SPEC.md §4.2).
type params struct {
	thresholdKind ThresholdKind
	threshold     fen // at the visit's level
	ratio         ratio
	cap           Cap
}

// resolve applies every matching rule, in order, to the pool's base parameters.
func (s *splitter) resolve(pool *Pool, category string, hasCandidate bool) (params, error) {
	th, cp := pool.Threshold, pool.Cap
	r, err := atLevel(s, pool.Ratio)
	if err != nil {
		return params{}, err
	}
	for i := range pool.Rules {
		rule := &pool.Rules[i]
		if !s.matches(&rule.When, category, hasCandidate) {
			continue
		}
		if rule.Threshold != nil {
			th = *rule.Threshold
		}
		if rule.Ratio != nil {
			if r, err = atLevel(s, *rule.Ratio); err != nil {
				return params{}, err
			}
		}
		if rule.Cap != nil {
			cp = *rule.Cap
		}
		if rule.RatioDelta != nil {
			r += *rule.RatioDelta
		}
	}
	pr := params{thresholdKind: th.Kind, ratio: r.clamp(), cap: cp}
	if th.Kind != "" {
		if pr.threshold, err = atLevel(s, th.Amount); err != nil {
			return params{}, err
		}
	}
	return pr, nil
}

// evaluate computes what the pool would pay for one candidate.
func (s *splitter) evaluate(pool *Pool, category string, hasCandidate bool) (outcome, error) {
	pr, err := s.resolve(pool, category, hasCandidate)
	if err != nil {
		return outcome{}, err
	}
	o := outcome{category: category, thresholdKind: pr.thresholdKind, threshold: pr.threshold, ratio: pr.ratio, capped: pr.cap.Set, cap: pr.cap.Amount}
	switch pr.thresholdKind {
	case Annual:
		need := max(0, pr.threshold-s.acc[pool.thresholdSlot])
		o.applied = min(s.burden, need)
	case PerVisit:
		o.applied = min(s.burden, pr.threshold)
	}
	o.raw = mulRound(s.burden-o.applied, o.ratio)
	o.pay = o.raw
	if o.capped {
		o.room = max(0, o.cap-s.acc[pool.paidSlot])
		o.pay = min(o.raw, o.room)
	}
	return o, nil
}

// atLevel reads a by_level value at the visit's level.
func atLevel[T any](s *splitter, b byLevel[T]) (T, error) {
	v, ok := b.at(s.visit.Level)
	if !ok {
		return v, inputErr(CodeInvalidVisit, "visit.level", "the policy needs a level of 1, 2 or 3, got %d", s.visit.Level)
	}
	return v, nil
}

// apply books the winning outcome: the fund pays, R shrinks, accumulators grow.
func (s *splitter) apply(st *Stage, pool *Pool, o outcome) {
	s.burden -= o.pay
	s.acc[pool.paidSlot] += o.pay
	s.delta[pool.paidSlot] += o.pay
	if o.thresholdKind == Annual {
		s.acc[pool.thresholdSlot] += o.applied
		s.delta[pool.thresholdSlot] += o.applied
	}
	for i := range s.funds {
		if s.funds[i].fund == st.Fund {
			s.funds[i].pay += o.pay
			return
		}
	}
	s.funds = append(s.funds, fundPay{st.Fund, o.pay})
}

func (o *outcome) describe(t *StageTrace) {
	t.Category = o.category
	t.ThresholdKind = o.thresholdKind
	t.Threshold = o.threshold
	t.ThresholdApplied = o.applied
	t.Ratio = o.ratio
	t.Capped = o.capped
	if o.capped {
		t.Cap, t.CapRoom = o.cap, o.room
	}
	t.Uncapped = o.raw
	t.Pay = o.pay
}

// payAccount pays the covered buckets from the personal account, in order (SPEC.md §4.5).
func (s *splitter) payAccount(st *Stage, t *StageTrace) {
	var total fen
	for _, b := range st.Covers {
		left := s.bucket(b)
		pay := min(*left, s.balance)
		*left -= pay
		s.balance -= pay
		total += pay
		t.Buckets = append(t.Buckets, BucketPay{Bucket: b, Amount: pay})
	}
	s.account += total
	t.Pay = total
}

func (s *splitter) bucket(b Bucket) *fen {
	switch b {
	case BucketPreselfpay:
		return &s.preselfpayLeft
	case BucketOverlimit:
		return &s.overlimitLeft
	case BucketExcluded:
		return &s.excludedLeft
	}
	return &s.burden
}

// matches tests a condition (SPEC.md §4.1). For a rule of a stage with categories,
// category matches the candidate; everywhere else, any category the person holds valid for
// the visit.
func (s *splitter) matches(c *Condition, candidate string, hasCandidate bool) bool {
	v, p := s.visit, s.person
	switch {
	case c.Schemes != nil && !slices.Contains(c.Schemes, p.Scheme),
		c.Statuses != nil && !slices.Contains(c.Statuses, p.Status),
		c.MedTypes != nil && !slices.Contains(c.MedTypes, v.MedType),
		c.Levels != nil && !slices.Contains(c.Levels, v.Level),
		c.Referred != nil && *c.Referred != v.Referred,
		c.CrossRegion != nil && *c.CrossRegion != v.CrossRegion,
		c.Filed != nil && *c.Filed != v.Filed,
		c.InCounty != nil && *c.InCounty != v.InCounty,
		c.Flags != nil && !slices.ContainsFunc(c.Flags, func(f string) bool { return slices.Contains(p.Flags, f) }):
		return false
	}
	if c.Categories == nil {
		return true
	}
	if hasCandidate {
		return slices.Contains(c.Categories, candidate)
	}
	return p.holds(c.Categories, v)
}

// result turns the working state into the exported Result.
func (s *splitter) result(in Accumulators) *Result {
	r := &Result{
		Policy:      s.p.ID,
		Total:       s.total.Decimal(),
		Excluded:    s.excluded.Decimal(),
		Overlimit:   s.overlimit.Decimal(),
		Preselfpay:  s.preselfpay.Decimal(),
		PolicyScope: s.scope.Decimal(),
		Funds:       make(map[string]decimal.Decimal, len(s.funds)),
		Hospital:    s.hospital.Decimal(),
		Account:     s.account.Decimal(),
		Trace:       s.trace,
	}
	cash := s.total - s.hospital - s.account
	for _, f := range s.funds {
		cash -= f.pay
		if f.pay != 0 {
			r.Funds[f.fund] = f.pay.Decimal()
		}
	}
	r.Cash = cash.Decimal()

	r.AccumulatorsAfter = make(Accumulators, len(in)+len(s.p.keys))
	for key, v := range in {
		if !v.IsZero() {
			r.AccumulatorsAfter[key] = v // validated by read; the policy's own keys are replaced below
		}
	}
	r.Deltas = make(Accumulators)
	for i, key := range s.p.keys {
		if s.acc[i] != 0 {
			r.AccumulatorsAfter[key] = s.acc[i].Decimal()
		} else {
			delete(r.AccumulatorsAfter, key)
		}
		if s.delta[i] != 0 {
			r.Deltas[key] = s.delta[i].Decimal()
		}
	}
	return r
}
