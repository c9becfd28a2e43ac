package policy

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/shopspring/decimal"
)

// The engine counts money in whole fen (0.01 yuan) held in an int64. SPEC.md only ever
// needs two operations beyond addition and comparison — round(amount × ratio) half-up to
// the fen — and both are exact in integers, so nothing is lost against decimal.Decimal.
// What is gained is speed: a decimal.Decimal allocates a big.Int for every intermediate
// result, and a 20-line bill makes hundreds of them (README, "Performance").
type fen int64

// maxAmount bounds every amount the engine accepts (a line, a ceiling, an accumulator, a
// balance, a threshold or cap in a policy): 10^12 yuan. Far above any real bill, and far
// enough below the int64 range that sums over many lines are checked cheaply.
const maxAmount fen = 100_000_000_000_000

var (
	decimalHundred   = decimal.New(100, 0)
	maxAmountDecimal = decimal.New(int64(maxAmount), -2)
)

// ParseAmount parses a money amount written as plain decimal yuan ("123.45", "7", "0.50"):
// digits, an optional fraction, no sign other than a leading '-' (which is then refused as
// negative), no exponent, no spaces. The value must be a whole number of fen, not negative
// and at most 10^12. Every failure is an *InputError with code invalid_amount naming field.
func ParseAmount(field, s string) (decimal.Decimal, error) {
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
	if d.NumDigits() > 18 { // the coefficient may not fit an int64: certainly too large or too precise
		return 0, tooLargeOrFine(d)
	}
	coef, exp := d.CoefficientInt64(), d.Exponent()
	var v int64
	switch {
	case exp >= -2:
		shift := int(exp) + 2
		if shift > 14 {
			return 0, tooLargeOrFine(d)
		}
		p := pow10[shift]
		if coef > int64(maxAmount)/p {
			return 0, tooLargeOrFine(d)
		}
		v = coef * p
	default:
		drop := -int(exp) - 2
		if drop > 18 {
			return 0, tooLargeOrFine(d)
		}
		p := pow10[drop]
		if coef%p != 0 {
			return 0, inputErr(CodeInvalidAmount, "", "%s has more than two decimals", d.String())
		}
		v = coef / p
	}
	if fen(v) > maxAmount {
		return 0, tooLargeOrFine(d)
	}
	return fen(v), nil
}

// tooLargeOrFine names the right failure for an amount outside the cheap path.
func tooLargeOrFine(d decimal.Decimal) *InputError {
	if !d.Mul(decimalHundred).IsInteger() {
		return inputErr(CodeInvalidAmount, "", "%s has more than two decimals", d.String())
	}
	return inputErr(CodeInvalidAmount, "", "%s is above the limit of %s", d.String(), maxAmountDecimal.StringFixed(2))
}

var pow10 = [19]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// Decimal returns the amount as a decimal with exactly two decimals.
func (f fen) Decimal() decimal.Decimal { return decimal.New(int64(f), -2) }

// String formats the amount with exactly two decimals, as every output of SPEC.md is written.
func (f fen) String() string {
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

// ratio is a rate in units of 10^-9 (ratioOne = 1). Policies write rates such as "0.85" or
// "0.055"; nine decimals leave room for any rate a document states and keep every product
// with an amount inside 128 bits.
type ratio int64

const (
	ratioScale           = 9
	ratioOne       ratio = 1_000_000_000
	ratioMaxDigits       = ratioScale
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
		return 0, fmt.Errorf("%q has more than %d decimals", s, ratioMaxDigits)
	}
	if scaled.Abs().Cmp(decimal.New(1000, ratioScale)) > 0 {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return ratio(scaled.IntPart()), nil
}

func (r ratio) clamp() ratio { return min(max(r, 0), ratioOne) }

// Decimal returns the rate as a decimal ("0.85").
func (r ratio) Decimal() decimal.Decimal { return decimal.New(int64(r), -ratioScale) }

// mulRound returns round(a × r) half-up to the fen, for a ≥ 0 and r in [0, 1]: SPEC.md's
// round(x). The product is formed in 128 bits, so it is exact for every amount.
func mulRound(a fen, r ratio) fen {
	hi, lo := bits.Mul64(uint64(a), uint64(r))
	lo, carry := bits.Add64(lo, uint64(ratioOne/2), 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, uint64(ratioOne)) // q ≤ a because r ≤ 1, so no overflow
	return fen(q)
}
