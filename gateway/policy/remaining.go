package policy

import (
	"slices"

	"github.com/shopspring/decimal"
)

// PoolRemaining is what is left of one pool's annual amounts for a person: the threshold
// still to pay before the pool pays, and the room under its cap.
type PoolRemaining struct {
	Fund          string
	Pool          string
	MedTypes      []string
	ThresholdKind ThresholdKind   // "" when the pool has no threshold
	Threshold     decimal.Decimal // annual: still to pay this year; per_visit: due on every visit
	Capped        bool
	CapRoom       decimal.Decimal // when Capped
}

// Remaining lists, for every pool the person is entitled to, what is left given the
// accumulators acc (for example Result.AccumulatorsAfter). Each pool is resolved for the
// visit as if it were of the pool's own medical type, so an outpatient visit also shows the
// inpatient pools. In a stage with categories the first valid category in the stage's order
// stands for the person (a bill may pick another, more generous one: see the Trace). Pools
// of stages whose condition fails, or with no valid category, are left out.
func Remaining(p *Policy, person Person, visit Visit, acc Accumulators) ([]PoolRemaining, error) {
	s := splitter{p: p, person: &person}
	s.acc = make([]fen, len(p.keys))
	for i, key := range p.keys {
		if v, ok := acc[key]; ok {
			f, bad := toFen(v)
			if bad != nil {
				return nil, bad.at("accumulators[" + key + "]")
			}
			s.acc[i] = f
		}
	}
	var out []PoolRemaining
	for si := range p.Stages {
		st := &p.Stages[si]
		if st.Kind != KindPool {
			continue
		}
		for pi := range st.Pools {
			pool := &st.Pools[pi]
			v := visit
			if !slices.Contains(pool.MedTypes, v.MedType) {
				v.MedType = pool.MedTypes[0]
			}
			s.visit = &v
			if !s.matches(&st.When, "", false) {
				continue
			}
			category, hasCandidate := "", len(st.Categories) > 0
			if hasCandidate {
				i := slices.IndexFunc(st.Categories, func(c string) bool { return person.validFor(c, &v) })
				if i < 0 {
					continue
				}
				category = st.Categories[i]
			}
			pr, err := s.resolve(pool, category, hasCandidate)
			if err != nil {
				return nil, err
			}
			r := PoolRemaining{Fund: st.Fund, Pool: pool.Name, MedTypes: pool.MedTypes, ThresholdKind: pr.thresholdKind, Capped: pr.cap.Set}
			switch pr.thresholdKind {
			case Annual:
				r.Threshold = max(0, pr.threshold-s.acc[pool.thresholdSlot]).Decimal()
			case PerVisit:
				r.Threshold = pr.threshold.Decimal()
			default:
				r.Threshold = fen(0).Decimal()
			}
			if pr.cap.Set {
				r.CapRoom = max(0, pr.cap.Amount-s.acc[pool.paidSlot]).Decimal()
			}
			out = append(out, r)
		}
	}
	return out, nil
}
