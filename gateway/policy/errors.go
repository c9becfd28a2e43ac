package policy

import "fmt"

// Code is the stable reason of an input rejection, as SPEC.md names it. The gateway maps
// each code to its gRPC reason (INVALID_AMOUNT, …); case files compare against it.
type Code string

const (
	CodeInvalidAmount  Code = "invalid_amount"   // negative, more than two decimals, not a number, too large
	CodeEmptyBill      Code = "empty_bill"       // a bill without lines
	CodeInvalidLine    Code = "invalid_line"     // an unknown catalog class
	CodeUnknownMedType Code = "unknown_med_type" // med_type not outpatient, chronic or inpatient
	// CodeInvalidVisit is not in SPEC.md: a policy read a by_level value at a level the visit
	// does not have (level outside 1–3). The gateway never sends such a visit.
	CodeInvalidVisit Code = "invalid_visit"
)

// InputError is a rejection of Split's input: which rule (Code), which field (for example
// "lines[2].amount" or "accumulators[basic_employee.outpatient.paid]") and why.
//
// Match a code with errors.Is(err, policy.ErrInvalidAmount) and friends, or read the code
// with errors.As.
type InputError struct {
	Code   Code
	Field  string
	Reason string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Reason)
}

// Is matches the sentinel errors below by code, whatever the field.
func (e *InputError) Is(target error) bool {
	t, ok := target.(*InputError)
	return ok && t.Field == "" && t.Reason == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalidAmount  error = &InputError{Code: CodeInvalidAmount}
	ErrEmptyBill      error = &InputError{Code: CodeEmptyBill}
	ErrInvalidLine    error = &InputError{Code: CodeInvalidLine}
	ErrUnknownMedType error = &InputError{Code: CodeUnknownMedType}
	ErrInvalidVisit   error = &InputError{Code: CodeInvalidVisit}
)

// at names the field of an error made without one.
func (e *InputError) at(field string) *InputError {
	e.Field = field
	return e
}

func inputErr(code Code, field, format string, args ...any) *InputError {
	return &InputError{Code: code, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// LoadError is a policy file that cannot be used: the file, the line, the path of the bad
// key in the YAML document (for example "stages[2].pools[0].ratio") and why.
type LoadError struct {
	File   string
	Line   int
	Path   string
	Reason string
}

func (e *LoadError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", loc, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Reason)
}
