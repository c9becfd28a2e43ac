package identity_test

import (
	"errors"
	"strings"
	"testing"

	"onestop/gateway"
	"onestop/gateway/identity"
)

func TestCheckIDNumberAccepts(t *testing.T) {
	for _, s := range []string{
		"11010519491231002X", // the standard's own example, check character X
		"11010519491231002x", // cashiers type lower case
		"440524188001010014",
		identity.WithCheckDigit("32041220000229123"), // 29 February of a leap year
		identity.WithCheckDigit("32041219991231001"),
	} {
		if err := identity.CheckIDNumber(s); err != nil {
			t.Errorf("CheckIDNumber(%s) = %v", s, err)
		}
	}
}

func TestCheckIDNumberRejects(t *testing.T) {
	valid := "11010519491231002X"
	for _, c := range []struct {
		name, s, msg string
	}{
		{"empty", "", "18 characters"},
		{"17 characters", valid[:17], "18 characters"},
		{"19 characters", valid + "1", "18 characters"},
		{"15-digit old form", "110105491231002", "18 characters"},
		{"wrong check character", "110105194912310021", "check character does not match"},
		{"check digit off by one", "440524188001010015", "check character does not match"},
		{"letter in the body", "1101051949123100AX", "character 17 must be a digit"},
		{"X in the body", "X10105194912310021", "character 1 must be a digit"},
		{"bad check character", "11010519491231002Y", "must be a digit 0–9 or X"},
		{"spaces", " 1010519491231002X", "character 1 must be a digit"},
		{"full-width digit", "１1010519491231002X", "character 1 must be a digit"},
		{"full-width, counted in characters", "１１０１０５", "this one is 6"},
		{"invalid UTF-8", "\xff1010519491231002X", "character 1 must be a digit"},
		{"month 13", identity.WithCheckDigit("11010519491301002"), "not a real date"},
		{"31 April", identity.WithCheckDigit("11010519490431002"), "not a real date"},
		{"29 February 1999", identity.WithCheckDigit("11010519990229002"), "not a real date"},
		{"day 00", identity.WithCheckDigit("11010519490100002"), "not a real date"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := identity.CheckIDNumber(c.s)
			var ge *gateway.Error
			if !errors.As(err, &ge) {
				t.Fatalf("CheckIDNumber(%q) = %v, want a *gateway.Error", c.s, err)
			}
			if ge.Kind != gateway.KindInvalidArgument || ge.Reason != gateway.ReasonInvalidIDNumber || ge.Field != "credential.value" {
				t.Errorf("got %v kind %d, want INVALID_ID_NUMBER on credential.value, invalid argument", ge, ge.Kind)
			}
			if !strings.Contains(ge.Message, c.msg) {
				t.Errorf("message %q does not say %q", ge.Message, c.msg)
			}
			if len(c.s) >= 6 && strings.Contains(ge.Error(), c.s[:6]) {
				t.Errorf("message %q repeats the number", ge.Error())
			}
		})
	}
}

func TestWithCheckDigit(t *testing.T) {
	if got := identity.WithCheckDigit("11010519491231002"); got != "11010519491231002X" {
		t.Errorf("WithCheckDigit = %s, want ...X", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("WithCheckDigit accepted a letter")
		}
	}()
	identity.WithCheckDigit("1101051949123100A")
}
