package policy

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// The properties below run Split over policies built directly as structs, so they reach
// combinations no fixture file spells out: stages of every kind in any order, rules that
// change a threshold's kind or drop a cap for one candidate, two stages sharing a fund or an
// accumulator key. Each property is one rapid.Check so a failure shrinks to the smallest
// policy and bill that breaks that one promise.

// The vocabulary is kept small on purpose: random stages must share fund ids, pool names and
// category codes often enough to meet (a shared accumulator key, a rule naming a category the
// person holds, a fund paid by two stages).
var (
	propFunds      = []string{"basic", "aid", "ci"}
	propPoolNames  = []string{"outpatient", "inpatient", "all"}
	propCategories = []string{"tekun", "orphan", "dibao", "dibian"}
	propFlags      = []string{"union_member", "child_mutual", "civil_servant"}
	propBuckets    = []Bucket{BucketBurden, BucketPreselfpay, BucketOverlimit, BucketExcluded}
	// Keys no random policy touches: they must come out of a split exactly as they went in.
	propForeignKeys = []string{"union_mutual.all.paid", "basic.dental.threshold", "legacy"}
	propVisitDay    = time.Date(2022, time.June, 15, 0, 0, 0, 0, time.UTC)
)

// fenUpTo draws an amount in [0, max], sometimes 0, often whole yuan: thresholds, caps and
// accumulators that are round figures are the ones that meet exactly and decide the edges.
func fenUpTo(max fen) *rapid.Generator[fen] {
	return rapid.Custom(func(t *rapid.T) fen {
		switch rapid.IntRange(0, 7).Draw(t, "amount shape") {
		case 0:
			return 0
		case 1, 2, 3:
			return 100 * fen(rapid.Int64Range(0, int64(max/100)).Draw(t, "whole yuan"))
		default:
			return fen(rapid.Int64Range(0, int64(max)).Draw(t, "fen"))
		}
	})
}

// ratioGen draws a rate in [0, 1]: the edges, rates with three decimals (which make
// half-fen products, so half-up rounding is exercised), and any nine-decimal rate.
var ratioGen = rapid.Custom(func(t *rapid.T) ratio {
	switch rapid.IntRange(0, 5).Draw(t, "ratio shape") {
	case 0:
		return rapid.SampledFrom([]ratio{0, ratioOne}).Draw(t, "ratio edge")
	case 1, 2:
		return ratio(rapid.Int64Range(0, 20).Draw(t, "ratio in steps of 0.05") * 50_000_000)
	case 3:
		return ratio(rapid.Int64Range(0, 200).Draw(t, "ratio in steps of 0.005") * 5_000_000)
	default:
		return ratio(rapid.Int64Range(0, int64(ratioOne)).Draw(t, "ratio"))
	}
})

// ratioDeltaGen draws a rule's ratio_delta in [-1, 1].
var ratioDeltaGen = rapid.Custom(func(t *rapid.T) ratio {
	if rapid.Bool().Draw(t, "delta in steps of 0.05") {
		return ratio(rapid.Int64Range(-20, 20).Draw(t, "delta steps") * 50_000_000)
	}
	return ratio(rapid.Int64Range(-int64(ratioOne), int64(ratioOne)).Draw(t, "delta"))
})

func byLevelGen[T any](one *rapid.Generator[T]) *rapid.Generator[byLevel[T]] {
	return rapid.Custom(func(t *rapid.T) byLevel[T] {
		if !rapid.Bool().Draw(t, "by_level") {
			return flat(one.Draw(t, "flat"))
		}
		b := byLevel[T]{ByLevel: true}
		for i := range b.Levels {
			b.Levels[i] = one.Draw(t, fmt.Sprintf("level %d", i+1))
		}
		return b
	})
}

// thresholdGen draws an absent, annual or per-visit threshold of up to 5000 yuan, the scale
// of the bills below so that it is sometimes met, sometimes not.
var thresholdGen = rapid.Custom(func(t *rapid.T) Threshold {
	kind := rapid.SampledFrom([]ThresholdKind{"", Annual, PerVisit}).Draw(t, "threshold kind")
	if kind == "" {
		return Threshold{}
	}
	return Threshold{Kind: kind, Amount: byLevelGen(fenUpTo(500_000)).Draw(t, "threshold amount")}
})

var capGen = rapid.Custom(func(t *rapid.T) Cap {
	if !rapid.Bool().Draw(t, "capped") {
		return Cap{}
	}
	return Cap{Set: true, Amount: fenUpTo(1_000_000).Draw(t, "cap")}
})

// someOf draws a non-empty list from all, repeats allowed; the loader never yields an empty
// list, and an empty non-nil list would mean "matches nothing".
func someOf[E any](all []E) *rapid.Generator[[]E] {
	return rapid.SliceOfN(rapid.SampledFrom(all), 1, len(all)+1)
}

// conditionGen draws a `when` with minParts to maxParts parts (a part drawn twice counts
// once). Rules use up to three (they should match about half the time); stages one or two,
// and only half of them have a `when` at all, so that most stages run and the state they
// share is exercised.
func conditionGen(minParts, maxParts int) *rapid.Generator[Condition] {
	return rapid.Custom(func(t *rapid.T) Condition {
		var c Condition
		boolean := func(label string) *bool {
			b := rapid.Bool().Draw(t, label)
			return &b
		}
		for range rapid.IntRange(minParts, maxParts).Draw(t, "parts") {
			switch rapid.IntRange(0, 9).Draw(t, "part") {
			case 0:
				c.Schemes = someOf(knownSchemes).Draw(t, "scheme")
			case 1:
				c.Statuses = someOf(knownStatuses).Draw(t, "status")
			case 2:
				c.MedTypes = someOf(MedTypes).Draw(t, "med_type")
			case 3:
				c.Levels = someOf([]int{1, 2, 3}).Draw(t, "level")
			case 4:
				c.Referred = boolean("referred")
			case 5:
				c.CrossRegion = boolean("cross_region")
			case 6:
				c.Filed = boolean("filed")
			case 7:
				c.InCounty = boolean("in_county")
			case 8:
				c.Flags = someOf(propFlags).Draw(t, "flag")
			case 9:
				c.Categories = someOf(propCategories).Draw(t, "category")
			}
		}
		return c
	})
}

var ruleGen = rapid.Custom(func(t *rapid.T) Rule {
	r := Rule{When: conditionGen(0, 3).Draw(t, "when")}
	if rapid.Bool().Draw(t, "sets threshold") {
		th := thresholdGen.Draw(t, "threshold")
		r.Threshold = &th
	}
	if rapid.Bool().Draw(t, "sets ratio") {
		x := byLevelGen(ratioGen).Draw(t, "ratio")
		r.Ratio = &x
	}
	if rapid.Bool().Draw(t, "has ratio_delta") {
		d := ratioDeltaGen.Draw(t, "ratio_delta")
		r.RatioDelta = &d
	}
	switch rapid.IntRange(0, 2).Draw(t, "cap change") {
	case 1:
		r.Cap = &Cap{} // cap: none
	case 2:
		c := capGen.Draw(t, "cap")
		r.Cap = &c
	}
	return r
})

var poolGen = rapid.Custom(func(t *rapid.T) Pool {
	return Pool{
		Name:      rapid.SampledFrom(propPoolNames).Draw(t, "pool name"),
		MedTypes:  someOf(MedTypes).Draw(t, "med_types"),
		Threshold: thresholdGen.Draw(t, "threshold"),
		Ratio:     byLevelGen(ratioGen).Draw(t, "ratio"),
		Cap:       capGen.Draw(t, "cap"),
		Rules:     rapid.SliceOfN(ruleGen, 0, 3).Draw(t, "rules"),
	}
})

// stageGen draws mostly pool stages (the ones with state), with the odd hospital ceiling or
// personal account in between.
var stageGen = rapid.Custom(func(t *rapid.T) Stage {
	kind := rapid.SampledFrom([]StageKind{KindPool, KindPool, KindPool, KindHospitalCeiling, KindAccount}).Draw(t, "kind")
	s := Stage{Kind: kind}
	if rapid.Bool().Draw(t, "has when") {
		s.When = conditionGen(1, 2).Draw(t, "when")
	}
	switch kind {
	case KindPool:
		s.Fund = rapid.SampledFrom(propFunds).Draw(t, "fund")
		s.Pools = rapid.SliceOfN(poolGen, 1, 3).Draw(t, "pools")
		if rapid.Bool().Draw(t, "has categories") {
			s.Categories = someOf(propCategories).Draw(t, "categories")
		}
	case KindHospitalCeiling:
		s.Fund = "hospital"
		s.MaxShare = ratioGen.Draw(t, "max_share")
	case KindAccount:
		s.Fund = "personal_account"
		buckets := rapid.Permutation(propBuckets).Draw(t, "bucket order")
		s.Covers = buckets[:rapid.IntRange(1, len(buckets)).Draw(t, "buckets covered")]
	}
	return s
})

var policyGen = rapid.Custom(func(t *rapid.T) *Policy {
	p := &Policy{
		Region:          "000000",
		Name:            "random",
		Year:            2022,
		PreselfpayRatio: ratioGen.Draw(t, "preselfpay_ratio"),
		Stages:          rapid.SliceOfN(stageGen, 1, 6).Draw(t, "stages"),
		File:            "random.yaml",
		ID:              "random",
	}
	p.assignSlots()
	return p
})

// dayGen draws a day near the visit, or the zero Date (open-ended validity).
func dayGen(from, to int) *rapid.Generator[Date] {
	return rapid.Custom(func(t *rapid.T) Date {
		if rapid.IntRange(0, 3).Draw(t, "open-ended") == 0 {
			return Date{}
		}
		return DateOf(propVisitDay.AddDate(0, 0, rapid.IntRange(from, to).Draw(t, "days from the visit")))
	})
}

var categoryGen = rapid.Custom(func(t *rapid.T) Category {
	return Category{
		Code: rapid.SampledFrom(append(slices.Clone(propCategories), "zhichu")).Draw(t, "code"),
		From: dayGen(-60, 20).Draw(t, "from"),
		To:   dayGen(-40, 40).Draw(t, "to"),
	}
})

// amountOf turns fen into a decimal, sometimes written with a third, zero, decimal: Split
// takes values, not spellings, and must treat 12.340 as 12.34.
func amountOf(t *rapid.T, v fen, label string) decimal.Decimal {
	if rapid.IntRange(0, 4).Draw(t, label+" written with three decimals") == 0 {
		return decimal.New(int64(v)*10, -3)
	}
	return v.Decimal()
}

var personGen = rapid.Custom(func(t *rapid.T) Person {
	return Person{
		Scheme:         rapid.SampledFrom(knownSchemes).Draw(t, "scheme"),
		Status:         rapid.SampledFrom(knownStatuses).Draw(t, "status"),
		Categories:     rapid.SliceOfN(categoryGen, 0, 4).Draw(t, "categories"),
		Flags:          rapid.SliceOfN(rapid.SampledFrom(propFlags), 0, 3).Draw(t, "flags"),
		AccountBalance: amountOf(t, fenUpTo(10_000_000).Draw(t, "account balance"), "account balance"),
	}
})

var visitGen = rapid.Custom(func(t *rapid.T) Visit {
	date := propVisitDay.AddDate(0, 0, rapid.IntRange(-5, 5).Draw(t, "visit day"))
	v := Visit{
		MedType:     rapid.SampledFrom(MedTypes).Draw(t, "med_type"),
		Level:       rapid.IntRange(1, 3).Draw(t, "level"),
		Date:        DateOf(date),
		Referred:    rapid.Bool().Draw(t, "referred"),
		CrossRegion: rapid.Bool().Draw(t, "cross_region"),
		Filed:       rapid.Bool().Draw(t, "filed"),
		InCounty:    rapid.Bool().Draw(t, "in_county"),
	}
	if rapid.Bool().Draw(t, "has admission date") {
		v.AdmissionDate = DateOf(date.AddDate(0, 0, -rapid.IntRange(0, 40).Draw(t, "days in hospital")))
	}
	return v
})

var lineGen = rapid.Custom(func(t *rapid.T) Line {
	l := Line{
		Code:   "L",
		Class:  rapid.SampledFrom([]string{ClassA, ClassB, ClassC}).Draw(t, "class"),
		Amount: amountOf(t, fenUpTo(100_000_000).Draw(t, "amount"), "amount"),
	}
	if rapid.Bool().Draw(t, "has ceiling") {
		l.Ceiling = decimal.NewNullDecimal(amountOf(t, fenUpTo(100_000_000).Draw(t, "ceiling"), "ceiling"))
	}
	return l
})

// splitInput is one random call of Split.
type splitInput struct {
	policy *Policy
	person Person
	visit  Visit
	acc    Accumulators
	lines  []Line
}

// accumulatorsGen draws values for a random part of the policy's own keys (zero included)
// plus keys the policy never touches.
func accumulatorsGen(p *Policy) *rapid.Generator[Accumulators] {
	return rapid.Custom(func(t *rapid.T) Accumulators {
		acc := Accumulators{}
		for _, key := range append(slices.Clone(p.keys), propForeignKeys...) {
			if rapid.Bool().Draw(t, "has "+key) {
				acc[key] = amountOf(t, fenUpTo(1_000_000).Draw(t, key), key)
			}
		}
		return acc
	})
}

var splitInputGen = rapid.Custom(func(t *rapid.T) splitInput {
	p := policyGen.Draw(t, "policy")
	return splitInput{
		policy: p,
		person: personGen.Draw(t, "person"),
		visit:  visitGen.Draw(t, "visit"),
		acc:    accumulatorsGen(p).Draw(t, "accumulators"),
		lines:  rapid.SliceOfN(lineGen, 1, 30).Draw(t, "lines"),
	}
})

// split runs Split; random input is always valid (levels 1–3, amounts in range), so any
// error is a failure.
func (in splitInput) split(t *rapid.T) *Result {
	res, err := Split(in.policy, in.person, in.visit, in.acc, in.lines)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	return res
}

// GoString is what rapid prints for a failing input (it logs draws with %#v): everything,
// pointers followed, instead of the addresses %#v would show.
func (in splitInput) GoString() string {
	return propSnapshot(struct {
		Policy *Policy
		Person Person
		Visit  Visit
		Acc    Accumulators
		Lines  []Line
	}{in.policy, in.person, in.visit, in.acc, in.lines})
}

type namedAmount struct {
	name  string
	value decimal.Decimal
}

// resultAmounts lists every amount a result carries, the trace's included.
func resultAmounts(r *Result) []namedAmount {
	out := []namedAmount{
		{"total", r.Total}, {"excluded", r.Excluded}, {"overlimit", r.Overlimit},
		{"preselfpay", r.Preselfpay}, {"policy_scope", r.PolicyScope},
		{"hospital", r.Hospital}, {"account", r.Account}, {"cash", r.Cash},
	}
	for _, k := range sortedKeys(r.Funds) {
		out = append(out, namedAmount{"funds." + k, r.Funds[k]})
	}
	for _, k := range sortedKeys(r.AccumulatorsAfter) {
		out = append(out, namedAmount{"accumulators_after." + k, r.AccumulatorsAfter[k]})
	}
	for _, k := range sortedKeys(r.Deltas) {
		out = append(out, namedAmount{"deltas." + k, r.Deltas[k]})
	}
	for i, st := range r.Trace {
		for _, a := range []namedAmount{
			{"burden_before", st.BurdenBefore.Decimal()}, {"pay", st.Pay.Decimal()}, {"burden_after", st.BurdenAfter.Decimal()},
			{"threshold", st.Threshold.Decimal()}, {"threshold_applied", st.ThresholdApplied.Decimal()}, {"cap", st.Cap.Decimal()},
			{"cap_room", st.CapRoom.Decimal()}, {"uncapped", st.Uncapped.Decimal()}, {"limit", st.Limit.Decimal()},
		} {
			out = append(out, namedAmount{fmt.Sprintf("trace[%d].%s", i, a.name), a.value})
		}
		for _, b := range st.Buckets {
			out = append(out, namedAmount{fmt.Sprintf("trace[%d].buckets.%s", i, b.Bucket), b.Amount.Decimal()})
		}
		for _, c := range st.Candidates {
			out = append(out, namedAmount{fmt.Sprintf("trace[%d].candidates.%s", i, c.Category), c.Pay.Decimal()})
		}
	}
	return out
}

func TestPropertyEveryAmountIsWholeFenAndNotNegative(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		res := splitInputGen.Draw(t, "input").split(t)
		for _, a := range resultAmounts(res) {
			if a.value.Sign() < 0 {
				t.Errorf("%s = %s is negative", a.name, a.value)
			}
			if !a.value.Shift(2).IsInteger() {
				t.Errorf("%s = %s has more than two decimals", a.name, a.value)
			}
		}
	})
}

func TestPropertyFiguresAddUpToTotal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := splitInputGen.Draw(t, "input")
		res := in.split(t)
		paid := res.FundTotal().Add(res.Hospital).Add(res.Account).Add(res.Cash)
		if !paid.Equal(res.Total) {
			t.Errorf("funds %s + hospital %s + account %s + cash %s = %s, want total %s",
				res.FundTotal(), res.Hospital, res.Account, res.Cash, paid, res.Total)
		}
		classified := res.PolicyScope.Add(res.Preselfpay).Add(res.Overlimit).Add(res.Excluded)
		if !classified.Equal(res.Total) {
			t.Errorf("policy_scope %s + preselfpay %s + overlimit %s + excluded %s = %s, want total %s",
				res.PolicyScope, res.Preselfpay, res.Overlimit, res.Excluded, classified, res.Total)
		}
		if res.Account.GreaterThan(in.person.AccountBalance) {
			t.Errorf("account pays %s from a balance of %s", res.Account, in.person.AccountBalance)
		}
	})
}

// TestPropertyNoPoolPaysPastItsCap follows the trace stage by stage. The cap a stage obeys is
// resolved here again from SPEC.md §4.2 (the pool's cap, then every matching rule's cap in
// order, `cap: none` removing it) for the candidate the trace says won, so a rule that drops
// or changes the cap for one person is checked, not trusted. Two stages may share one
// accumulator key, so the bound is per stage: after ≤ max(cap, before).
func TestPropertyNoPoolPaysPastItsCap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := splitInputGen.Draw(t, "input")
		res := in.split(t)
		paid := map[string]decimal.Decimal{}
		for _, key := range in.policy.keys {
			paid[key] = in.acc[key] // zero when absent
		}
		for _, tr := range res.Trace {
			st := &in.policy.Stages[tr.Stage]
			if st.Kind != KindPool || tr.Skipped != "" {
				continue
			}
			pool := specPoolFor(st, &in.visit)
			if pool == nil || pool.Name != tr.Pool {
				t.Fatalf("stage %d ran pool %q, want the first pool for %s", tr.Stage, tr.Pool, in.visit.MedType)
			}
			want := specEffectiveCap(pool, &in.person, &in.visit, tr.Category, len(st.Categories) > 0)
			if tr.Capped != want.Set || (want.Set && tr.Cap != want.Amount) {
				t.Fatalf("stage %d (category %q): trace says capped=%v cap=%s, SPEC gives capped=%v cap=%s",
					tr.Stage, tr.Category, tr.Capped, tr.Cap, want.Set, want.Amount)
			}
			key := st.Fund + "." + pool.Name + ".paid"
			before := paid[key]
			after := before.Add(tr.Pay.Decimal())
			if want.Set {
				room := decimal.Max(decimal.Zero, want.Amount.Decimal().Sub(before))
				if !tr.CapRoom.Decimal().Equal(room) {
					t.Fatalf("stage %d: cap room %s, want max(0, %s − %s) = %s", tr.Stage, tr.CapRoom, want.Amount, before, room)
				}
				if tr.Pay > tr.CapRoom {
					t.Fatalf("stage %d pays %s past its cap room %s", tr.Stage, tr.Pay, tr.CapRoom)
				}
				if limit := decimal.Max(want.Amount.Decimal(), before); after.GreaterThan(limit) {
					t.Fatalf("stage %d takes %s from %s to %s, past max(cap %s, before)", tr.Stage, key, before, after, want.Amount)
				}
			}
			paid[key] = after
		}
		for key, v := range paid {
			if strings.HasSuffix(key, ".paid") && !res.AccumulatorsAfter[key].Equal(v) {
				t.Fatalf("accumulators_after[%s] = %s, the trace adds up to %s", key, res.AccumulatorsAfter[key], v)
			}
		}
	})
}

func TestPropertyDeltasExplainAccumulators(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := splitInputGen.Draw(t, "input")
		res := in.split(t)
		keys := map[string]bool{}
		for _, m := range []Accumulators{in.acc, res.AccumulatorsAfter, res.Deltas} {
			for k := range m {
				keys[k] = true
			}
		}
		for k := range keys {
			if want := in.acc[k].Add(res.Deltas[k]); !res.AccumulatorsAfter[k].Equal(want) {
				t.Errorf("accumulators_after[%s] = %s, want input %s + delta %s = %s", k, res.AccumulatorsAfter[k], in.acc[k], res.Deltas[k], want)
			}
		}
		// Both maps list non-zero values only (SPEC.md §5), and a bill can only add to the
		// accumulators of the policy's own pools.
		for k, v := range res.AccumulatorsAfter {
			if v.IsZero() {
				t.Errorf("accumulators_after lists %s at zero", k)
			}
		}
		for k, v := range res.Deltas {
			if v.IsZero() {
				t.Errorf("deltas lists %s at zero", k)
			}
			if !slices.Contains(in.policy.keys, k) {
				t.Errorf("delta for %s, a key the policy never touches", k)
			}
		}
	})
}

func TestPropertySplitIsDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := splitInputGen.Draw(t, "input")
		first, second := propSnapshot(in.split(t)), propSnapshot(in.split(t))
		if first != second {
			t.Fatalf("two splits of one input differ:\n%s\n%s", first, second)
		}
	})
}

func TestPropertySplitDoesNotMutateItsInput(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := splitInputGen.Draw(t, "input")
		before := propSnapshot([]any{in.person, in.visit, in.acc, in.lines})
		res := in.split(t)
		if after := propSnapshot([]any{in.person, in.visit, in.acc, in.lines}); after != before {
			t.Fatalf("Split changed its input:\nbefore %s\nafter  %s", before, after)
		}
		// The result must not share the caller's map either: writing to it would change the
		// caller's accumulators behind their back.
		for k := range res.AccumulatorsAfter {
			res.AccumulatorsAfter[k] = decimal.New(-1, 0)
		}
		if after := propSnapshot([]any{in.person, in.visit, in.acc, in.lines}); after != before {
			t.Fatalf("accumulators_after aliases the input accumulators")
		}
	})
}

func TestPropertySplitDoesNotMutateThePolicy(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := splitInputGen.Draw(t, "input")
		before := propSnapshot(in.policy)
		res := in.split(t)
		if after := propSnapshot(in.policy); after != before {
			t.Fatalf("Split changed the policy:\nbefore %s\nafter  %s", before, after)
		}
		// Nor may the result alias the policy's own lists.
		for i := range res.Trace {
			res.Trace[i].Fund, res.Trace[i].Pool = "x", "x"
			for j := range res.Trace[i].Buckets {
				res.Trace[i].Buckets[j].Bucket = "x"
			}
		}
		if after := propSnapshot(in.policy); after != before {
			t.Fatalf("the result aliases the policy")
		}
	})
}

// TestPropertySplitMatchesSpecModel compares every figure with specSplit, a second reading
// of SPEC.md §3–§5 written in decimal arithmetic with accumulators kept by key, so that a
// slip in the engine's fen arithmetic or its slot bookkeeping shows up as a figure that
// differs.
func TestPropertySplitMatchesSpecModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := splitInputGen.Draw(t, "input")
		res := in.split(t)
		want := specSplit(in.policy, in.person, in.visit, in.acc, in.lines)
		got := specFigures{
			total: res.Total, excluded: res.Excluded, overlimit: res.Overlimit, preselfpay: res.Preselfpay,
			scope: res.PolicyScope, hospital: res.Hospital, account: res.Account, cash: res.Cash,
			funds: res.Funds, after: res.AccumulatorsAfter,
		}
		for _, tr := range res.Trace {
			chosen := tr.Category
			if tr.Kind != KindPool || tr.Skipped != "" {
				chosen = "-"
			}
			got.chosen = append(got.chosen, chosen)
		}
		if g, w := got.String(), want.String(); g != w {
			t.Fatalf("Split and SPEC.md disagree:\n got %s\nwant %s", g, w)
		}
	})
}

func TestPropertyMulRoundIsHalfUp(t *testing.T) {
	amountGen := rapid.Custom(func(t *rapid.T) fen {
		switch rapid.IntRange(0, 3).Draw(t, "amount shape") {
		case 0:
			return rapid.SampledFrom([]fen{0, 1, maxAmount, maxBillTotal}).Draw(t, "amount edge")
		case 1:
			return fen(rapid.Int64Range(int64(maxBillTotal)-1_000_000, int64(maxBillTotal)).Draw(t, "near the bill limit"))
		default:
			return fen(rapid.Int64Range(0, int64(maxBillTotal)).Draw(t, "amount"))
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		a := amountGen.Draw(t, "a")
		r := ratioGen.Draw(t, "r")
		// decimal's Round is half away from zero, which is half-up for a product ≥ 0.
		want := a.Decimal().Mul(r.Decimal()).Round(2)
		if got := mulRound(a, r); !got.Decimal().Equal(want) {
			t.Fatalf("mulRound(%s, %s) = %s, want %s", a, r.Decimal(), got, want.StringFixed(2))
		}
	})
}

func TestPropertyParseAmountRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := fenUpTo(maxAmount).Draw(t, "v")
		spellings := []string{v.String()}
		if v%100 == 0 {
			spellings = append(spellings, strconv.FormatInt(int64(v/100), 10))
		}
		if v%10 == 0 {
			spellings = append(spellings, fmt.Sprintf("%d.%d", v/100, v%100/10))
		}
		for _, s := range spellings {
			d, err := ParseAmount("amount", s)
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", s, err)
			}
			got, bad := toFen(d)
			if bad != nil || got != v {
				t.Fatalf("toFen(ParseAmount(%q)) = %v, %v; want %d fen", s, got, bad, v)
			}
		}
	})
}

func TestPropertyParseAmountRejects(t *testing.T) {
	badGen := rapid.Custom(func(t *rapid.T) string {
		v := fenUpTo(maxAmount).Draw(t, "v")
		switch rapid.IntRange(0, 2).Draw(t, "kind of bad") {
		case 0: // a third significant decimal, maybe followed by zeros
			digit := rapid.IntRange(1, 9).Draw(t, "third decimal")
			zeros := strings.Repeat("0", rapid.IntRange(0, 3).Draw(t, "trailing zeros"))
			return fmt.Sprintf("%s%d%s", v, digit, zeros)
		case 1: // negative
			return "-" + max(v, 1).String()
		default: // above 10^12 yuan
			return (maxAmount + 1 + fenUpTo(maxAmount).Draw(t, "excess")).String()
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		s := badGen.Draw(t, "s")
		d, err := ParseAmount("amount", s)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Code != CodeInvalidAmount || ie.Field != "amount" {
			t.Fatalf("ParseAmount(%q) = %v, %v; want an invalid_amount error for field amount", s, d, err)
		}
	})
}

// ---- SPEC.md, read a second time -----------------------------------------------------------

// specFigures are SPEC.md §5's outputs.
type specFigures struct {
	total, excluded, overlimit, preselfpay, scope, hospital, account, cash decimal.Decimal
	funds, after                                                           map[string]decimal.Decimal
	// chosen[i] is the category pool stage i used ("" for a stage without categories), or
	// "-" when the stage did not run: ties between candidates show only here.
	chosen []string
}

func (f specFigures) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "total=%s excluded=%s overlimit=%s preselfpay=%s policy_scope=%s hospital=%s account=%s cash=%s",
		f.total, f.excluded, f.overlimit, f.preselfpay, f.scope, f.hospital, f.account, f.cash)
	for _, m := range []struct {
		name string
		m    map[string]decimal.Decimal
	}{{"funds", f.funds}, {"accumulators_after", f.after}} {
		for _, k := range sortedKeys(m.m) {
			if !m.m[k].IsZero() {
				fmt.Fprintf(&b, " %s.%s=%s", m.name, k, m.m[k])
			}
		}
	}
	fmt.Fprintf(&b, " chosen=%q", f.chosen)
	return b.String()
}

// specSplit is SPEC.md §3–§5 in decimal arithmetic, straight from the text. It assumes valid
// input (amounts checked, levels 1–3).
func specSplit(p *Policy, person Person, visit Visit, acc Accumulators, lines []Line) specFigures {
	round := func(x decimal.Decimal) decimal.Decimal { return x.Round(2) } // half-up for x ≥ 0
	zero := decimal.Zero
	f := specFigures{funds: map[string]decimal.Decimal{}, after: map[string]decimal.Decimal{}, chosen: make([]string, len(p.Stages))}

	// Step 1.
	for _, l := range lines {
		over := zero
		if l.Ceiling.Valid {
			over = decimal.Max(zero, l.Amount.Sub(l.Ceiling.Decimal))
		}
		within := l.Amount.Sub(over)
		f.total = f.total.Add(l.Amount)
		f.overlimit = f.overlimit.Add(over)
		switch l.Class {
		case ClassC:
			f.excluded = f.excluded.Add(within)
		case ClassB:
			pre := round(within.Mul(p.PreselfpayRatio.Decimal()))
			f.preselfpay = f.preselfpay.Add(pre)
			f.scope = f.scope.Add(within.Sub(pre))
		case ClassA:
			f.scope = f.scope.Add(within)
		}
	}

	// Step 2.
	a := map[string]decimal.Decimal{}
	for k, v := range acc {
		a[k] = v
	}
	R := f.scope
	left := map[Bucket]decimal.Decimal{BucketPreselfpay: f.preselfpay, BucketOverlimit: f.overlimit, BucketExcluded: f.excluded}
	balance := person.AccountBalance
	for si := range p.Stages {
		st := &p.Stages[si]
		f.chosen[si] = "-"
		if !specMatches(&st.When, &person, &visit, "", false) {
			continue
		}
		switch st.Kind {
		case KindHospitalCeiling:
			limit := round(st.MaxShare.Decimal().Mul(f.scope))
			pay := decimal.Max(zero, R.Sub(limit))
			R = R.Sub(pay)
			f.hospital = f.hospital.Add(pay)
		case KindAccount:
			for _, b := range st.Covers {
				owed := left[b]
				if b == BucketBurden {
					owed = R
				}
				pay := decimal.Min(owed, balance)
				balance = balance.Sub(pay)
				f.account = f.account.Add(pay)
				if b == BucketBurden {
					R = R.Sub(pay)
				} else {
					left[b] = owed.Sub(pay)
				}
			}
		case KindPool:
			pool := specPoolFor(st, &visit)
			if pool == nil {
				continue
			}
			paidKey := st.Fund + "." + pool.Name + ".paid"
			thresholdKey := st.Fund + "." + pool.Name + ".threshold"
			type outcome struct {
				pay, applied decimal.Decimal
				annual       bool
			}
			evaluate := func(candidate string, hasCandidate bool) outcome {
				th, cp := pool.Threshold, pool.Cap
				r := specAtLevel(pool.Ratio, visit.Level).Decimal()
				for _, rule := range pool.Rules {
					if !specMatches(&rule.When, &person, &visit, candidate, hasCandidate) {
						continue
					}
					if rule.Threshold != nil {
						th = *rule.Threshold
					}
					if rule.Ratio != nil {
						r = specAtLevel(*rule.Ratio, visit.Level).Decimal()
					}
					if rule.Cap != nil {
						cp = *rule.Cap
					}
					if rule.RatioDelta != nil {
						r = r.Add(rule.RatioDelta.Decimal())
					}
				}
				r = decimal.Min(decimal.Max(r, zero), decimal.NewFromInt(1))
				T := zero
				if th.Kind != "" {
					T = specAtLevel(th.Amount, visit.Level).Decimal()
				}
				applied := zero
				switch th.Kind {
				case Annual:
					applied = decimal.Min(R, decimal.Max(zero, T.Sub(a[thresholdKey])))
				case PerVisit:
					applied = decimal.Min(R, T)
				}
				pay := round(R.Sub(applied).Mul(r))
				if cp.Set {
					pay = decimal.Min(pay, decimal.Max(zero, cp.Amount.Decimal().Sub(a[paidKey])))
				}
				return outcome{pay: pay, applied: applied, annual: th.Kind == Annual}
			}
			var best outcome
			chosen := ""
			if len(st.Categories) == 0 {
				best = evaluate("", false)
			} else {
				found := false
				for _, code := range st.Categories {
					if !specHolds(&person, &visit, code) {
						continue
					}
					if o := evaluate(code, true); !found || o.pay.GreaterThan(best.pay) {
						best, chosen, found = o, code, true
					}
				}
				if !found {
					continue
				}
			}
			f.chosen[si] = chosen
			R = R.Sub(best.pay)
			a[paidKey] = a[paidKey].Add(best.pay)
			if best.annual {
				a[thresholdKey] = a[thresholdKey].Add(best.applied)
			}
			f.funds[st.Fund] = f.funds[st.Fund].Add(best.pay)
		}
	}
	f.cash = f.total.Sub(f.hospital).Sub(f.account)
	for _, v := range f.funds {
		f.cash = f.cash.Sub(v)
	}
	for k, v := range a {
		if !v.IsZero() {
			f.after[k] = v
		}
	}
	return f
}

func specPoolFor(st *Stage, visit *Visit) *Pool {
	for i := range st.Pools {
		if slices.Contains(st.Pools[i].MedTypes, visit.MedType) {
			return &st.Pools[i]
		}
	}
	return nil
}

func specAtLevel[T any](b byLevel[T], level int) T {
	if b.ByLevel {
		return b.Levels[level-1]
	}
	return b.Value
}

// specEffectiveCap is the cap a pool has for one candidate after its rules (SPEC.md §4.2).
func specEffectiveCap(pool *Pool, person *Person, visit *Visit, candidate string, hasCandidate bool) Cap {
	cp := pool.Cap
	for _, rule := range pool.Rules {
		if rule.Cap != nil && specMatches(&rule.When, person, visit, candidate, hasCandidate) {
			cp = *rule.Cap
		}
	}
	return cp
}

// specMatches is SPEC.md §4.1 with §4.3's reading of `category`.
func specMatches(c *Condition, person *Person, visit *Visit, candidate string, hasCandidate bool) bool {
	anyOf := func(list []string, v string) bool { return list == nil || slices.Contains(list, v) }
	is := func(want *bool, got bool) bool { return want == nil || *want == got }
	if !anyOf(c.Schemes, person.Scheme) || !anyOf(c.Statuses, person.Status) || !anyOf(c.MedTypes, visit.MedType) ||
		(c.Levels != nil && !slices.Contains(c.Levels, visit.Level)) ||
		!is(c.Referred, visit.Referred) || !is(c.CrossRegion, visit.CrossRegion) ||
		!is(c.Filed, visit.Filed) || !is(c.InCounty, visit.InCounty) {
		return false
	}
	if c.Flags != nil && !slices.ContainsFunc(person.Flags, func(f string) bool { return slices.Contains(c.Flags, f) }) {
		return false
	}
	switch {
	case c.Categories == nil:
		return true
	case hasCandidate:
		return slices.Contains(c.Categories, candidate)
	default:
		return slices.ContainsFunc(c.Categories, func(code string) bool { return specHolds(person, visit, code) })
	}
}

// specHolds: the person holds code valid on the settlement date or, for an inpatient stay,
// on the admission date (which defaults to the settlement date).
func specHolds(person *Person, visit *Visit, code string) bool {
	day := func(d Date) time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }
	validOn := func(c Category, d Date) bool {
		return (c.From.IsZero() || !day(d).Before(day(c.From))) && (c.To.IsZero() || !day(c.To).Before(day(d)))
	}
	admission := visit.AdmissionDate
	if admission.IsZero() {
		admission = visit.Date
	}
	for _, c := range person.Categories {
		if c.Code == code && (validOn(c, visit.Date) || (visit.MedType == Inpatient && validOn(c, admission))) {
			return true
		}
	}
	return false
}

// ---- snapshots ---------------------------------------------------------------------------

var decimalType = reflect.TypeFor[decimal.Decimal]()

// propSnapshot writes a value out in full — through pointers, into unexported fields, map
// keys sorted, decimals by value — so two snapshots are equal exactly when the values are,
// and a snapshot taken before a call is a copy nothing can change.
func propSnapshot(v any) string {
	var b strings.Builder
	writeSnapshot(&b, reflect.ValueOf(v))
	return b.String()
}

func writeSnapshot(b *strings.Builder, v reflect.Value) {
	if !v.IsValid() {
		b.WriteString("<nil>")
		return
	}
	if v.Type() == decimalType {
		b.WriteString(v.Interface().(decimal.Decimal).String())
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		b.WriteString("&")
		writeSnapshot(b, v.Elem())
	case reflect.Struct:
		b.WriteString(v.Type().Name() + "{")
		for i := range v.NumField() {
			fmt.Fprintf(b, "%s:", v.Type().Field(i).Name)
			writeSnapshot(b, v.Field(i))
			b.WriteString(" ")
		}
		b.WriteString("}")
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			b.WriteString("nil")
			return
		}
		b.WriteString("[")
		for i := range v.Len() {
			writeSnapshot(b, v.Index(i))
			b.WriteString(",")
		}
		b.WriteString("]")
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(x.String(), y.String()) })
		b.WriteString("map[")
		for _, k := range keys {
			fmt.Fprintf(b, "%q:", k.String())
			writeSnapshot(b, v.MapIndex(k))
			b.WriteString(",")
		}
		b.WriteString("]")
	case reflect.String:
		b.WriteString(strconv.Quote(v.String()))
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	default:
		panic(fmt.Sprintf("propSnapshot: no rule for %s", v.Type()))
	}
}
