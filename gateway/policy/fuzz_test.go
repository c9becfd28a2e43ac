package policy

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// brokenPolicySeeds start the fuzzer next to the loader's error paths: each is one edit away
// from a valid document.
var brokenPolicySeeds = []string{
	"",
	"---\n",
	"[]",
	"region: \"1\"\n",
	"region: \"1\"\nname: n\nyear: 2022\nstages: []\n",
	"region: \"1\"\nname: n\nyear: 2022\nstages:\n  - fund: f\n    pools:\n      - name: p\n        med_types: [outpatient]\n        ratio: \"1.5\"\n",
	"region: \"1\"\nname: n\nyear: 2022\nstages:\n  - fund: f\n    colour: blue\n    pools: []\n",
	"region: \"1\"\nname: n\nyear: 2022\nstages:\n  - fund: f\n    kind: account\n    covers: [burden, burden]\n",
	"region: \"1\"\nname: n\nyear: 2022\nstages:\n  - fund: f\n    kind: hospital_ceiling\n    pools: []\n",
	"region: \"1\"\nname: n\nyear: 2022\nstages:\n  - fund: f\n    pools:\n      - name: p\n        med_types: [dental]\n        threshold: {annual: \"-1\", per_visit: \"2\"}\n        ratio: {by_level: {\"1\": \"0.5\"}}\n        cap: 12.345\n        rules:\n          - when: {level: [4], referred: maybe}\n            ratio_delta: \"2\"\n",
	"a: &a [*a]\n",
	"region: &r \"1\"\nname: *r\nyear: 2022\nstages: [{fund: f, pools: [{name: p, med_types: [inpatient]}]}]\n",
	"\t- not yaml: [\n",
}

// FuzzParse: Parse must survive any document, report every problem as a *LoadError naming
// the file, and return only policies that Split can run.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("../../testdata/policy/policies/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no policy files to seed from: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range brokenPolicySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a policy and an error: %v", err)
			}
			checkLoadErrors(t, err)
			return
		}
		checkParsedPolicy(t, p)
		checkFixedBill(t, p)
	})
}

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func checkLoadErrors(t *testing.T, err error) {
	t.Helper()
	leaves := leafErrors(err)
	if len(leaves) == 0 || len(leaves) > maxLoadErrors {
		t.Fatalf("%d errors reported, want 1 to %d: %v", len(leaves), maxLoadErrors, err)
	}
	for _, e := range leaves {
		var le *LoadError
		if !errors.As(e, &le) {
			t.Fatalf("%T is not a *LoadError: %v", e, e)
		}
		if le.File != "fuzz.yaml" || le.Reason == "" || le.Line < 0 {
			t.Fatalf("LoadError without file, reason or a sane line: %#v", le)
		}
	}
}

// keyPart: fund ids and pool names are joined with "." into accumulator keys
// ("<fund>.<pool>.paid"), so a "." (or nothing at all) in one would let two pools share a key
// or one key be read two ways.
func keyPart(s string) bool { return s != "" && !strings.ContainsAny(s, ". \t\n") }

// checkParsedPolicy: everything Split relies on without checking it again.
func checkParsedPolicy(t *testing.T, p *Policy) {
	t.Helper()
	if p.File != "fuzz.yaml" || p.ID != "fuzz" {
		t.Fatalf("File %q, ID %q; want fuzz.yaml, fuzz", p.File, p.ID)
	}
	if p.Region == "" || p.Name == "" || p.Year < 1900 || p.Year > 9999 {
		t.Fatalf("region %q, name %q, year %d accepted", p.Region, p.Name, p.Year)
	}
	unit := func(what string, r ratio) {
		if r < 0 || r > ratioOne {
			t.Fatalf("%s %s is outside [0, 1]", what, r.Decimal())
		}
	}
	unitByLevel := func(what string, b byLevel[ratio]) {
		unit(what, b.Value)
		for _, r := range b.Levels {
			unit(what, r)
		}
	}
	amount := func(what string, v fen) {
		if v < 0 || v > maxAmount {
			t.Fatalf("%s %s is outside [0, %s]", what, v, maxAmount)
		}
	}
	threshold := func(what string, th Threshold) {
		if th.Kind != "" && th.Kind != Annual && th.Kind != PerVisit {
			t.Fatalf("%s has kind %q", what, th.Kind)
		}
		amount(what, th.Amount.Value)
		for _, v := range th.Amount.Levels {
			amount(what, v)
		}
	}
	condition := func(what string, c Condition) {
		for _, lv := range c.Levels {
			if lv < 1 || lv > 3 {
				t.Fatalf("%s: level %d accepted", what, lv)
			}
		}
		for _, m := range c.MedTypes {
			if !slices.Contains(MedTypes, m) {
				t.Fatalf("%s: med_type %q accepted", what, m)
			}
		}
	}
	unit("preselfpay_ratio", p.PreselfpayRatio)
	if len(p.Stages) == 0 {
		t.Fatal("a policy without stages")
	}
	pools := 0
	for _, st := range p.Stages {
		if !keyPart(st.Fund) {
			t.Fatalf("fund %q cannot be part of an accumulator key", st.Fund)
		}
		condition("stage when", st.When)
		switch st.Kind {
		case KindPool:
			if len(st.Pools) == 0 {
				t.Fatalf("pool stage %s has no pools", st.Fund)
			}
			for _, pool := range st.Pools {
				pools++
				if !keyPart(pool.Name) || len(pool.MedTypes) == 0 {
					t.Fatalf("pool %q with med_types %v accepted", pool.Name, pool.MedTypes)
				}
				for _, m := range pool.MedTypes {
					if !slices.Contains(MedTypes, m) {
						t.Fatalf("pool %s: med_type %q accepted", pool.Name, m)
					}
				}
				threshold("threshold", pool.Threshold)
				unitByLevel("ratio", pool.Ratio)
				amount("cap", pool.Cap.Amount)
				for _, r := range pool.Rules {
					condition("rule when", r.When)
					if r.Threshold != nil {
						threshold("rule threshold", *r.Threshold)
					}
					if r.Ratio != nil {
						unitByLevel("rule ratio", *r.Ratio)
					}
					if r.RatioDelta != nil && (*r.RatioDelta < -ratioOne || *r.RatioDelta > ratioOne) {
						t.Fatalf("ratio_delta %s is outside [-1, 1]", r.RatioDelta.Decimal())
					}
					if r.Cap != nil {
						amount("rule cap", r.Cap.Amount)
					}
				}
			}
		case KindHospitalCeiling:
			unit("max_share", st.MaxShare)
		case KindAccount:
			if len(st.Covers) == 0 {
				t.Fatal("an account stage covering nothing")
			}
			for i, b := range st.Covers {
				if !slices.Contains([]Bucket{BucketBurden, BucketPreselfpay, BucketOverlimit, BucketExcluded}, b) || slices.Contains(st.Covers[:i], b) {
					t.Fatalf("covers %v accepted", st.Covers)
				}
			}
		default:
			t.Fatalf("stage %s has kind %q", st.Fund, st.Kind)
		}
		if st.Kind != KindPool && (len(st.Pools) > 0 || len(st.Categories) > 0) {
			t.Fatalf("a %s stage with pools or categories", st.Kind)
		}
	}
	// Every pool's slots name its own keys; Split's state depends on it.
	for _, st := range p.Stages {
		for _, pool := range st.Pools {
			prefix := st.Fund + "." + pool.Name + "."
			if p.keys[pool.paidSlot] != prefix+"paid" || p.keys[pool.thresholdSlot] != prefix+"threshold" {
				t.Fatalf("pool %s: slots %d, %d name %q, %q", prefix, pool.paidSlot, pool.thresholdSlot, p.keys[pool.paidSlot], p.keys[pool.thresholdSlot])
			}
		}
	}
	if len(p.keys) > 2*pools {
		t.Fatalf("%d accumulator keys for %d pools", len(p.keys), pools)
	}
}

// checkFixedBill splits one bill for each medical type. The person holds a category and
// every flag so that most stages run; level 2 exists in every by_level value.
func checkFixedBill(t *testing.T, p *Policy) {
	t.Helper()
	day := Date{p.Year, 6, 15}
	person := Person{
		Scheme: "resident", Status: "adult",
		Categories:     []Category{{Code: "dibao", From: Date{p.Year, 1, 1}}},
		Flags:          []string{"union_member", "child_mutual", "civil_servant"},
		AccountBalance: decimal.RequireFromString("300.00"),
	}
	lines := []Line{{Code: "X", Class: ClassB, Amount: decimal.RequireFromString("12345.67"),
		Ceiling: decimal.NewNullDecimal(decimal.RequireFromString("12000.00"))}}
	acc := Accumulators{"other.pool.paid": decimal.RequireFromString("1.00")}
	for _, medType := range MedTypes {
		visit := Visit{MedType: medType, Level: 2, Date: day, Referred: true, InCounty: true}
		res, err := Split(p, person, visit, acc, lines)
		if err != nil {
			t.Fatalf("%s: Split: %v", medType, err)
		}
		if res.Total.String() != "12345.67" {
			t.Fatalf("%s: total %s, want 12345.67", medType, res.Total)
		}
		sum := res.FundTotal().Add(res.Hospital).Add(res.Account).Add(res.Cash)
		if !sum.Equal(res.Total) {
			t.Fatalf("%s: funds %s + hospital %s + account %s + cash %s ≠ total %s",
				medType, res.FundTotal(), res.Hospital, res.Account, res.Cash, res.Total)
		}
		for _, v := range []decimal.Decimal{res.FundTotal(), res.Hospital, res.Account, res.Cash} {
			if v.Sign() < 0 {
				t.Fatalf("%s: negative figure in %+v", medType, res)
			}
		}
	}
}

// FuzzParseAmount: ParseAmount accepts exactly plain decimal yuan with at most two
// significant decimals in [0, 10^12], and refuses everything else with invalid_amount.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{
		"0", "0.00", "12.34", "12.345", "-5", "-0", "1e3", "abc", "", " 1", "1 ", ".5", "5.",
		"999999999999.99", "1000000000000", "1000000000000.00", "1000000000000.01", "12.340",
		"0x10", "+1", "1_000", "١٢", "00012.30", "NaN", "Infinity",
	} {
		f.Add(s)
	}
	plain := regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	twoDecimalsAtMost := regexp.MustCompile(`^[0-9]+(\.[0-9]{1,2})?$`)
	limit := decimal.New(1, 12)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAmount("amount", s)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Code != CodeInvalidAmount || ie.Field != "amount" {
				t.Fatalf("ParseAmount(%q): %v, want an invalid_amount error for field amount", s, err)
			}
			// Unsigned, at most two decimals and within the limit: nothing to refuse.
			if twoDecimalsAtMost.MatchString(s) {
				if v, perr := decimal.NewFromString(s); perr == nil && !v.GreaterThan(limit) {
					t.Fatalf("ParseAmount(%q) refused a plain amount: %v", s, err)
				}
			}
			return
		}
		if !plain.MatchString(s) {
			t.Fatalf("ParseAmount(%q) = %s accepted text that is not plain decimal yuan", s, d)
		}
		if strings.HasPrefix(s, "-") && !d.IsZero() {
			t.Fatalf("ParseAmount(%q) = %s accepted a negative amount", s, d)
		}
		if d.Sign() < 0 || d.GreaterThan(limit) || !d.Shift(2).IsInteger() {
			t.Fatalf("ParseAmount(%q) = %s: outside [0, 10^12] or finer than a fen", s, d)
		}
		v, bad := toFen(d)
		if bad != nil || !v.Decimal().Equal(d) {
			t.Fatalf("toFen(ParseAmount(%q) = %s) = %s, %v", s, d, v, bad)
		}
		if want, _ := decimal.NewFromString(s); !d.Equal(want) {
			t.Fatalf("ParseAmount(%q) = %s, want %s", s, d, want)
		}
	})
}
