package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestToFenEdges: amounts the cheap int64 path cannot decide alone still get the right
// answer (found by the property tests and fuzzing).
func TestToFenEdges(t *testing.T) {
	tests := []struct {
		in   decimal.Decimal
		want fen
		err  string
	}{
		{d("1.000000000000000000"), 100, ""}, // 19 digits, a small value
		{d("12.340"), 1234, ""},
		{decimal.New(0, -25), 0, ""},
		{decimal.New(0, 20), 0, ""},
		{decimal.New(5, 11), 50_000_000_000_000, ""},
		{decimal.New(1, 13), 0, "above the limit"},
		{d("999999999999999.000"), 0, "above the limit"},
		{d("1000000000000.00"), 100_000_000_000_000, ""},
		{d("1000000000000.01"), 0, "above the limit"},
		{d("0.001"), 0, "more than two decimals"},
		{d("1.0000000000000000000001"), 0, "more than two decimals"},
		{d("-0.01"), 0, "negative"},
	}
	for _, tt := range tests {
		got, err := toFen(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("toFen(%s) = %v, %v; want %v", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Reason, tt.err)):
			t.Errorf("toFen(%s) = %v, %v; want an error saying %q", tt.in, got, err, tt.err)
		}
	}
}

func TestParseAmountRefusesAnySign(t *testing.T) {
	for _, s := range []string{"-0", "-0.00", "-1", "+1", " 1", "1e2", "1.", ".5", "0x10", "NaN", ""} {
		if _, err := ParseAmount("f", s); !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("ParseAmount(%q) = %v, want invalid_amount", s, err)
		}
	}
}

// TestParseRefusesAliasBombs: a small document of nested aliases must not expand to
// millions of nodes (yaml.v3's own guard does not see the loader's walk).
func TestParseRefusesAliasBombs(t *testing.T) {
	const k = 40
	var b strings.Builder
	b.WriteString("region: \"1\"\nname: n\nyear: 2022\nstages:\n  - fund: f\n    pools: &P [&p0 {name: p, med_types: [outpatient], rules: &R [&r0 {when: {level: [1")
	b.WriteString(strings.Repeat(", 1", k-1))
	b.WriteString("]}}" + strings.Repeat(", *r0", k-1) + "]}" + strings.Repeat(", *p0", k-1) + "]\n")
	for range k - 1 {
		b.WriteString("  - {fund: f, pools: *P}\n")
	}
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("got %v, want a refusal of the expansion", err)
	}
}
