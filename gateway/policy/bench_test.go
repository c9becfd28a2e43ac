package policy

import (
	"fmt"
	"testing"

	"github.com/shopspring/decimal"
)

// benchSplit is the bill BenchmarkSplit measures: a dibao recipient's 20-line inpatient
// stay at a county level-2 hospital under province-aid-2022, with accumulators past the
// critical-illness and tilted-aid thresholds, so every stage of the policy runs.
type benchSplit struct {
	p      *Policy
	person Person
	visit  Visit
	acc    Accumulators
	lines  []Line
}

func newBenchSplit(t testing.TB) benchSplit {
	b := benchSplit{
		p: mustPolicy(t, "province-aid-2022"),
		person: Person{Scheme: "resident", Status: "adult",
			Categories: []Category{{Code: "dibian", From: Date{2022, 1, 1}, To: Date{2022, 3, 31}}, {Code: "dibao", From: Date{2022, 4, 1}}}},
		visit: Visit{MedType: Inpatient, Level: 2, Date: Date{2022, 6, 15}, AdmissionDate: Date{2022, 6, 2}, Referred: true, InCounty: true},
		acc: Accumulators{
			"basic_resident.inpatient.paid":      d("12000.00"),
			"critical_illness.all.threshold":     d("8000.00"),
			"critical_illness.all.paid":          d("1500.00"),
			"medical_aid.inpatient_chronic.paid": d("900.00"),
			"tilted_aid.all.threshold":           d("10000.00"),
			"basic_resident.outpatient.paid":     d("300.00"),
		},
	}
	classes := []string{ClassA, ClassA, ClassB, ClassA, ClassC}
	for i := range 20 {
		l := Line{Code: fmt.Sprintf("ITEM-%03d", i), Class: classes[i%len(classes)], Amount: decimal.New(int64(150_000+i*7_919), -2)}
		if i%4 == 3 {
			l.Ceiling = decimal.NewNullDecimal(decimal.New(int64(140_000+i*5_000), -2))
		}
		b.lines = append(b.lines, l)
	}
	return b
}

func (b *benchSplit) run() (*Result, error) { return Split(b.p, b.person, b.visit, b.acc, b.lines) }

// TestBenchBillRunsEveryStage keeps the benchmark honest: every stage runs and every pool
// stage pays, so the figure measures the whole engine.
func TestBenchBillRunsEveryStage(t *testing.T) {
	b := newBenchSplit(t)
	res, err := b.run()
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Trace {
		if tr.Skipped != "" {
			t.Errorf("stage %d (%s) skipped: %s", tr.Stage, tr.Fund, tr.Skipped)
		}
		if tr.Kind == KindPool && tr.Pay <= 0 {
			t.Errorf("stage %d (%s) paid nothing", tr.Stage, tr.Fund)
		}
	}
	if !res.Overlimit.IsPositive() || !res.Excluded.IsPositive() || !res.Preselfpay.IsPositive() {
		t.Errorf("the bill should exercise ceilings and classes B and C: %+v", res)
	}
}

func BenchmarkSplit(b *testing.B) {
	s := newBenchSplit(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStep1Decimal is the road not taken: step 1 alone (SPEC.md §3) over the same 20
// lines in decimal.Decimal arithmetic, to compare with the whole of BenchmarkSplit, which
// counts fen in int64 (money.go). It checks its totals against Split's so the comparison is
// of equal work.
func BenchmarkStep1Decimal(b *testing.B) {
	s := newBenchSplit(b)
	want, err := s.run()
	if err != nil {
		b.Fatal(err)
	}
	preselfpay := decimal.RequireFromString("0.15")
	b.ReportAllocs()
	for b.Loop() {
		total, excluded, overlimit, pre, scope := decimal.Zero, decimal.Zero, decimal.Zero, decimal.Zero, decimal.Zero
		for _, l := range s.lines {
			over := decimal.Zero
			if l.Ceiling.Valid && l.Amount.GreaterThan(l.Ceiling.Decimal) {
				over = l.Amount.Sub(l.Ceiling.Decimal)
			}
			within := l.Amount.Sub(over)
			switch l.Class {
			case ClassC:
				excluded = excluded.Add(within)
			case ClassB:
				p := within.Mul(preselfpay).Round(2)
				pre = pre.Add(p)
				scope = scope.Add(within.Sub(p))
			default:
				scope = scope.Add(within)
			}
			total = total.Add(l.Amount)
			overlimit = overlimit.Add(over)
		}
		if !total.Equal(want.Total) || !scope.Equal(want.PolicyScope) || !pre.Equal(want.Preselfpay) || !excluded.Equal(want.Excluded) || !overlimit.Equal(want.Overlimit) {
			b.Fatalf("decimal step 1 disagrees with Split: total %s scope %s", total, scope)
		}
	}
}
