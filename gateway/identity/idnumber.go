package identity

import (
	"fmt"
	"time"
	"unicode/utf8"

	"onestop/gateway"
)

// weights and checkChars are GB 11643-1999's ISO 7064 MOD 11-2: the sum of the first 17
// digits times their weights, mod 11, indexes the check character.
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkChars = "10X98765432"

// CheckIDNumber accepts an 18-character resident ID number: 17 digits, of which 7–14 are
// a real birth date (YYYYMMDD), then the check character (a digit, X or x). The error is an
// INVALID_ID_NUMBER *gateway.Error on "credential.value"; its message never repeats the
// number, which is personal data and ends up in logs and on cashiers' screens.
func CheckIDNumber(s string) error {
	// Counted in characters, not bytes: an input method's full-width digits are one
	// character each to the cashier who typed them.
	if n := utf8.RuneCountInString(s); n != 18 {
		return invalidID("an ID number is 18 characters, this one is %d", n)
	}
	for i, r := range []rune(s) {
		switch {
		case i < 17 && (r < '0' || r > '9'):
			return invalidID("character %d must be a digit 0–9", i+1)
		case i == 17 && (r < '0' || r > '9') && r != 'X' && r != 'x':
			return invalidID("the check character (the 18th) must be a digit 0–9 or X")
		}
	}
	last := s[17] // every character is ASCII now, so s is 18 bytes
	// A date typo is likelier to be fixed if the cashier is told where it is.
	if _, err := time.Parse("20060102", s[6:14]); err != nil {
		return invalidID("the birth date (characters 7–14) is not a real date")
	}
	if want := checkChar(s[:17]); last != want && !(want == 'X' && last == 'x') {
		return invalidID("the check character does not match: the number is mistyped")
	}
	return nil
}

// WithCheckDigit appends the check character to 17 digits, for tests and data generators.
// It panics if first17 is not 17 digits: callers build it, they do not receive it.
func WithCheckDigit(first17 string) string {
	if len(first17) != 17 {
		panic(fmt.Sprintf("identity.WithCheckDigit: %d characters, want 17 digits", len(first17)))
	}
	for i := range 17 {
		if first17[i] < '0' || first17[i] > '9' {
			panic(fmt.Sprintf("identity.WithCheckDigit: character %d is not a digit", i+1))
		}
	}
	return first17 + string(checkChar(first17))
}

// checkChar assumes 17 ASCII digits.
func checkChar(first17 string) byte {
	sum := 0
	for i, w := range weights {
		sum += int(first17[i]-'0') * w
	}
	return checkChars[sum%11]
}

func invalidID(format string, args ...any) *gateway.Error {
	return &gateway.Error{
		Kind:    gateway.KindInvalidArgument,
		Reason:  gateway.ReasonInvalidIDNumber,
		Field:   "credential.value",
		Message: fmt.Sprintf(format, args...),
	}
}
