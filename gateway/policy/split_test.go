package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

const fixtureRoot = "../../testdata/policy"

// TestFixtureCases runs every worked case of SPEC.md's fixture root, figure by figure.
func TestFixtureCases(t *testing.T) {
	reports, err := CheckRoot(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		t.Run(filepath.Base(r.File), func(t *testing.T) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			for _, m := range r.Mismatches {
				t.Errorf("%s: got %s, want %s", m.Field, m.Got, m.Want)
			}
		})
	}
}

func mustPolicy(t testing.TB, id string) *Policy {
	t.Helper()
	p, err := Load(filepath.Join(fixtureRoot, "policies", id+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestSplitRejectsInOrder: the first failing check wins, in the order of SPEC.md §4.6.8.
func TestSplitRejectsInOrder(t *testing.T) {
	p := mustPolicy(t, "jining-employee-2022")
	good := Line{Code: "X", Class: ClassA, Amount: d("10.00")}
	visit := Visit{MedType: Outpatient, Level: 1, Date: Date{2022, 6, 15}, Referred: true}
	tests := []struct {
		name    string
		visit   Visit
		person  Person
		acc     Accumulators
		lines   []Line
		want    error
		field   string
		wantMsg string
	}{
		{"unknown med type before an empty bill", Visit{MedType: "dental"}, Person{}, nil, nil, ErrUnknownMedType, "visit.med_type", ""},
		{"empty bill before a bad account", visit, Person{AccountBalance: d("-1")}, nil, []Line{}, ErrEmptyBill, "lines", ""},
		{"negative amount", visit, Person{}, nil, []Line{good, {Class: ClassA, Amount: d("-5")}}, ErrInvalidAmount, "lines[1].amount", ""},
		{"three decimals", visit, Person{}, nil, []Line{{Class: ClassA, Amount: d("12.345")}}, ErrInvalidAmount, "lines[0].amount", ""},
		{"trailing zero is still two decimals", visit, Person{}, Accumulators{"x": d("-1")}, []Line{{Class: ClassA, Amount: d("12.340")}}, ErrInvalidAmount, "accumulators[x]", ""},
		{"amount before class", visit, Person{}, nil, []Line{{Class: "D", Amount: d("-1")}}, ErrInvalidAmount, "lines[0].amount", ""},
		{"class before ceiling", visit, Person{}, nil, []Line{{Class: "D", Amount: d("1"), Ceiling: decimal.NewNullDecimal(d("-1"))}}, ErrInvalidLine, "lines[0].class", ""},
		{"bad ceiling", visit, Person{}, nil, []Line{{Class: ClassC, Amount: d("1"), Ceiling: decimal.NewNullDecimal(d("0.001"))}}, ErrInvalidAmount, "lines[0].ceiling", ""},
		{"lines before accumulators", visit, Person{}, Accumulators{"a": d("-1")}, []Line{{Class: "Z", Amount: d("1")}}, ErrInvalidLine, "lines[0].class", ""},
		{"first bad accumulator by key", visit, Person{}, Accumulators{"b": d("-1"), "a": d("0.001"), "c": d("1")}, []Line{good}, ErrInvalidAmount, "accumulators[a]", ""},
		{"account balance last", visit, Person{AccountBalance: d("1.001")}, nil, []Line{good}, ErrInvalidAmount, "person.account_balance", ""},
		{"too large", visit, Person{}, nil, []Line{{Class: ClassA, Amount: d("1000000000000.01")}}, ErrInvalidAmount, "lines[0].amount", ""},
		{"level outside 1-3 where a by_level value is read", Visit{MedType: Outpatient, Level: 4, Referred: true}, Person{Scheme: "employee"}, nil, []Line{good}, ErrInvalidVisit, "visit.level", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Split(p, tt.person, tt.visit, tt.acc, tt.lines)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want %v", res, err, tt.want)
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tt.field {
				t.Errorf("got field %q, want %q (%v)", ie.Field, tt.field, err)
			}
		})
	}
}

// TestCaseInputsFailInSplitOrder: a case file's unparsable amount is reported only where
// Split would reach it, so case files and Go callers see the same first error.
func TestCaseInputsFailInSplitOrder(t *testing.T) {
	ceiling := CaseAmount("abc")
	tests := []struct {
		name string
		c    Case
		want Code
	}{
		{"med type before a bad amount", Case{Visit: CaseVisit{MedType: "dental"}, Lines: []CaseLine{{Class: "A", Amount: "x"}}}, CodeUnknownMedType},
		{"bad amount", Case{Visit: CaseVisit{MedType: Outpatient}, Lines: []CaseLine{{Class: "A", Amount: "1e3"}}}, CodeInvalidAmount},
		{"class before an unparsable ceiling", Case{Visit: CaseVisit{MedType: Outpatient}, Lines: []CaseLine{{Class: "Q", Amount: "1", Ceiling: &ceiling}}}, CodeInvalidLine},
		{"unparsable accumulator", Case{Visit: CaseVisit{MedType: Outpatient}, Lines: []CaseLine{{Class: "A", Amount: "1"}}, Accumulators: map[string]CaseAmount{"k": "NaN"}}, CodeInvalidAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, _, err := tt.c.Inputs()
			var ie *InputError
			if !errors.As(err, &ie) || ie.Code != tt.want {
				t.Errorf("got %v, want code %s", err, tt.want)
			}
		})
	}
}

// TestTraceExplainsEachFigure checks the trace of p05 (hospital ceiling) stage by stage.
func TestTraceExplainsEachFigure(t *testing.T) {
	set, err := LoadDir(filepath.Join(fixtureRoot, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadCase(filepath.Join(fixtureRoot, "cases", "p05-hospital-ceiling.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(set)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ fund, skipped, category, applied, ratio, pay, after string }
	want := []row{
		{"basic_resident", "", "", "500.00", "0.8", "27680.00", "7420.00"},
		{"critical_illness", "", "", "7420.00", "0.65", "0.00", "7420.00"}, // dibian: threshold 8000 and +5 points; only 7420 left
		{"medical_aid", "", "dibian", "4000.00", "0.7", "2394.00", "5026.00"},
		{"tilted_aid", "", "dibian", "5026.00", "0.5", "0.00", "5026.00"},
		{"hospital", "", "", "0.00", "0", "1516.00", "3510.00"}, // limit = 10% of 35100
	}
	if len(res.Trace) != len(want) {
		t.Fatalf("got %d trace rows, want %d", len(res.Trace), len(want))
	}
	for i, w := range want {
		tr := res.Trace[i]
		got := row{tr.Fund, tr.Skipped, tr.Category, tr.ThresholdApplied.String(), tr.Ratio.String(), tr.Pay.String(), tr.BurdenAfter.String()}
		if tr.Kind == KindHospitalCeiling {
			got.applied, got.ratio = "0.00", "0"
			if tr.Limit != 351000 {
				t.Errorf("hospital limit: got %s, want 3510.00", tr.Limit)
			}
		}
		if got != w {
			t.Errorf("stage %d: got %+v, want %+v", i, got, w)
		}
	}
	wantDeltas := map[string]string{
		"basic_resident.inpatient.paid":           "27680.00",
		"critical_illness.all.threshold":          "7420.00",
		"medical_aid.inpatient_chronic.paid":      "2394.00",
		"medical_aid.inpatient_chronic.threshold": "4000.00",
		"tilted_aid.all.threshold":                "5026.00",
	}
	if len(res.Deltas) != len(wantDeltas) {
		t.Errorf("got deltas %v, want %v", res.Deltas, wantDeltas)
	}
	for k, v := range wantDeltas {
		if !res.Deltas[k].Equal(d(v)) {
			t.Errorf("delta %s: got %s, want %s", k, res.Deltas[k], v)
		}
	}
}

// TestCandidateTieGoesToFirstListed: two categories paying the same use the one the stage
// lists first, and its threshold is what is credited (SPEC.md §4.6.5).
func TestCandidateTieGoesToFirstListed(t *testing.T) {
	p, err := Parse("tie.yaml", []byte(`region: "1"
name: tie
year: 2022
stages:
  - fund: medical_aid
    categories: [dibian, dibao]
    pools:
      - name: all
        med_types: [outpatient]
        ratio: "0"
        rules:
          - when: {category: [dibian]}
            threshold: {annual: "30"}
          - when: {category: [dibao]}
            threshold: {annual: "50"}
`))
	if err != nil {
		t.Fatal(err)
	}
	person := Person{Categories: []Category{{Code: "dibao"}, {Code: "dibian"}}}
	visit := Visit{MedType: Outpatient, Level: 1, Date: Date{2022, 3, 1}, Referred: true}
	res, err := Split(p, person, visit, nil, []Line{{Class: ClassA, Amount: d("100")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Trace[0].Category; got != "dibian" {
		t.Errorf("chosen category: got %q, want dibian (listed first in the stage)", got)
	}
	if got := res.AccumulatorsAfter["medical_aid.all.threshold"]; !got.Equal(d("30")) {
		t.Errorf("threshold credited: got %s, want 30.00 (the winner's)", got)
	}
}

func TestCategoryValidity(t *testing.T) {
	cat := Category{Code: "dibao", From: Date{2022, 7, 10}, To: Date{2022, 7, 31}}
	tests := []struct {
		medType         string
		date, admission Date
		want            bool
	}{
		{Outpatient, Date{2022, 7, 10}, Date{}, true},          // first day
		{Outpatient, Date{2022, 7, 31}, Date{}, true},          // last day
		{Outpatient, Date{2022, 8, 1}, Date{}, false},          // ended
		{Outpatient, Date{2022, 7, 9}, Date{}, false},          // not yet
		{Inpatient, Date{2022, 8, 5}, Date{2022, 7, 20}, true}, // lost during the stay
		{Inpatient, Date{2022, 7, 20}, Date{2022, 7, 1}, true}, // gained during the stay
		{Inpatient, Date{2022, 8, 5}, Date{2022, 7, 1}, false}, // held only in the middle of the stay
		{Chronic, Date{2022, 8, 5}, Date{2022, 7, 20}, false},  // admission only counts for inpatient
	}
	for _, tt := range tests {
		p := Person{Categories: []Category{cat}}
		v := Visit{MedType: tt.medType, Date: tt.date, AdmissionDate: tt.admission}
		if got := p.validFor("dibao", &v); got != tt.want {
			t.Errorf("%s on %s (admitted %s): got %v, want %v", tt.medType, tt.date, tt.admission, got, tt.want)
		}
	}
}

// TestCaseAmountsAsNumbers: a case written with JSON numbers is read by the literal text, so
// 12.345 is still refused rather than rounded through a float.
func TestCaseAmountsAsNumbers(t *testing.T) {
	dir := t.TempDir()
	doc := `{"policy": "jining-employee-2022", "visit": {"med_type": "outpatient", "level": 1, "date": "2022-06-15"},
	         "person": {"scheme": "employee", "status": "in_service", "account_balance": 10},
	         "lines": [{"code": "X", "class": "A", "amount": AMOUNT}]}`
	set, err := LoadDir(filepath.Join(fixtureRoot, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	for amount, want := range map[string]string{"350": "350.00", "0.1": "0.10", "12.345": "invalid_amount", `"350.00"`: "350.00"} {
		write(t, dir+"/c.json", strings.Replace(doc, "AMOUNT", amount, 1))
		c, err := LoadCase(dir + "/c.json")
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Run(set)
		got := ""
		if err != nil {
			var ie *InputError
			errors.As(err, &ie)
			got = string(ie.Code)
		} else {
			got = res.Total.StringFixed(2)
		}
		if got != want {
			t.Errorf("amount %s: got %s, want %s", amount, got, want)
		}
	}
}

// TestSkipFundsLeavesAidToTheCashier: p05 at an institution that may not pay medical aid:
// the aid stages are skipped (and say why), what they paid stays with the patient, and no
// aid accumulator moves; the other stages are unchanged.
func TestSkipFundsLeavesAidToTheCashier(t *testing.T) {
	set, err := LoadDir(filepath.Join(fixtureRoot, "policies"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadCase(filepath.Join(fixtureRoot, "cases", "p05-hospital-ceiling.json"))
	if err != nil {
		t.Fatal(err)
	}
	person, visit, acc, lines, err := c.Inputs()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := set.ByID(c.Policy)
	if !ok {
		t.Fatal(c.Policy)
	}
	full, err := Split(p, person, visit, acc, lines)
	if err != nil {
		t.Fatal(err)
	}
	visit.SkipFunds = []string{"medical_aid", "tilted_aid"}
	res, err := Split(p, person, visit, acc, lines)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Trace {
		skip := tr.Fund == "medical_aid" || tr.Fund == "tilted_aid"
		if skip != (tr.Skipped == SkippedFund) || (skip && tr.Pay != 0) {
			t.Errorf("stage %s: skipped %q, pay %s", tr.Fund, tr.Skipped, tr.Pay)
		}
	}
	if res.Funds["medical_aid"].Sign() != 0 || !res.Funds["basic_resident"].Equal(full.Funds["basic_resident"]) {
		t.Errorf("funds %v", res.Funds)
	}
	// The hospital's share is figured on the burden the aid no longer reduces.
	if got, want := res.Cash.Add(res.Hospital), full.Cash.Add(full.Hospital).Add(full.Funds["medical_aid"]); !got.Equal(want) {
		t.Errorf("cash + hospital %s, want %s", got, want)
	}
	for k := range res.Deltas {
		if strings.HasPrefix(k, "medical_aid.") || strings.HasPrefix(k, "tilted_aid.") {
			t.Errorf("aid accumulator %s moved", k)
		}
	}
}
