package policy

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/shopspring/decimal"
)

// Fen is an amount in whole fen (0.01 yuan). The engine counts money this way: SPEC.md
// only ever needs sums, comparisons and round(amount × ratio) half-up to the fen, all exact
// in integers, so nothing is lost against decimal.Decimal. What is gained is speed: a
// decimal.Decimal allocates a big.Int for every value, and a 20-line bill makes hundreds of
// them (README, "Performance"). The trace reports its figures as Fen for the same reason;
// the Result's own figures are decimal.Decimal, the project's money type.
type Fen int64

// fen is the engine's short name for Fen.
type fen = Fen

// maxAmount bounds every amount the engine accepts (a line, a ceiling, an accumulator, a
// balance, a threshold or cap in a policy): 10^12 yuan. Far above any real bill, and far
// enough below the int64 range that sums over many lines are checked cheaply.
const maxAmount fen = 100_000_000_000_000

var maxAmountDecimal = decimal.New(int64(maxAmount), -2)

// ParseAmount parses a money amount written as plain decimal yuan ("123.45", "7", "0.50"):
// digits, an optional fraction, no sign, no exponent, no spaces. The value must be a whole
// number of fen and at most 10^12. Every failure is an *InputError with code invalid_amount
// naming field; a leading '-' (even on zero) is refused as negative.
func ParseAmount(field, s string) (decimal.Decimal, error) {
	if strings.HasPrefix(s, "-") && plainDecimal(s) {
		return decimal.Decimal{}, inputErr(CodeInvalidAmount, field, "%q is negative", s)
	}
	if !plainDecimal(s) {
		return decimal.Decimal{}, inputErr(CodeInvalidAmount, field, "%q is not a decimal amount", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, inputErr(CodeInvalidAmount, field, "%q is not a decimal amount", s)
	}
	if _, err := toFen(d); err != nil {
		return decimal.Decimal{}, err.at(field)
	}
	return d, nil
}

// plainDecimal reports whether s is -?digits(.digits)?.
func plainDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasDot || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// toFen converts an amount to fen, refusing negative values, fractions of a fen and values
// above maxAmount. It does not allocate for ordinary amounts, which matters on the hot path;
// the caller names the field on the error (InputError.at), so no name is built in vain.
func toFen(d decimal.Decimal) (fen, *InputError) {
	if d.Sign() < 0 {
		return 0, inputErr(CodeInvalidAmount, "", "%s is negative", d.String())
	}
	// The cheap path: the coefficient fits an int64 and the exponent is an ordinary one.
	if d.NumDigits() <= 18 {
		coef, exp := d.CoefficientInt64(), d.Exponent()
		switch {
		case exp >= -2 && exp <= 12:
			if p := pow10[exp+2]; coef <= int64(maxAmount)/p {
				return fen(coef * p), nil
			}
		case exp < -2 && exp >= -20:
			p := pow10[-exp-2]
			if coef%p != 0 {
				return 0, inputErr(CodeInvalidAmount, "", "%s has more than two decimals", d.String())
			}
			if coef/p <= int64(maxAmount) {
				return fen(coef / p), nil
			}
		}
	}
	return slowFen(d)
}

// slowFen decides the amounts the cheap path cannot: huge coefficients (many trailing zeros),
// unusual exponents, values above the limit.
func slowFen(d decimal.Decimal) (fen, *InputError) {
	v := d.Shift(2)
	if !v.IsInteger() {
		return 0, inputErr(CodeInvalidAmount, "", "%s has more than two decimals", d.String())
	}
	if v.GreaterThan(decimal.New(int64(maxAmount), 0)) {
		return 0, inputErr(CodeInvalidAmount, "", "%s is above the limit of %s", d.String(), maxAmountDecimal.StringFixed(2))
	}
	return fen(v.IntPart()), nil
}

var pow10 = [19]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// Decimal returns the amount as a decimal with exactly two decimals.
func (f Fen) Decimal() decimal.Decimal { return decimal.New(int64(f), -2) }

// String formats the amount with exactly two decimals, as every output of SPEC.md is written.
func (f Fen) String() string {
	sign := ""
	v := int64(f)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// addChecked adds two amounts, failing instead of overflowing.
func addChecked(a, b fen) (fen, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// Rate is a ratio in units of 10^-9 (1 = 1,000,000,000). Policies write rates such as
// "0.85" or "0.055"; nine decimals leave room for any rate a document states and keep every
// product with an amount inside 128 bits.
type Rate int64

// ratio is the engine's short name for Rate.
type ratio = Rate

const (
	ratioScale       = 9
	ratioOne   ratio = 1_000_000_000
)

// parseRatio reads a rate such as "0.85"; the caller checks the range it needs.
func parseRatio(s string) (ratio, error) {
	if !plainDecimal(s) {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	scaled := d.Shift(ratioScale)
	if !scaled.IsInteger() {
		return 0, fmt.Errorf("%q has more than %d decimals", s, ratioScale)
	}
	if scaled.Abs().Cmp(decimal.New(1000, ratioScale)) > 0 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return ratio(scaled.IntPart()), nil
}

func (r Rate) clamp() Rate { return min(max(r, 0), ratioOne) }

// Decimal returns the rate as a decimal ("0.85").
func (r Rate) Decimal() decimal.Decimal { return decimal.New(int64(r), -ratioScale) }

// String writes the rate without trailing zeros ("0.85", "1", "0").
func (r Rate) String() string { return r.Decimal().String() }

// mulRound returns round(a × r) half-up to the fen, for a ≥ 0 and r in [0, 1]: SPEC.md's
// round(x). The product is formed in 128 bits, so it is exact for every amount.
func mulRound(a fen, r ratio) fen {
	hi, lo := bits.Mul64(uint64(a), uint64(r))
	lo, carry := bits.Add64(lo, uint64(ratioOne/2), 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, uint64(ratioOne)) // q ≤ a because r ≤ 1, so no overflow
	return fen(q)
}
