package gateway

import (
	"errors"
	"fmt"
)

// Kind is the class of a failure; the API layer maps each kind to one gRPC code, so the
// gateway itself never imports gRPC.
type Kind int

const (
	KindInternal           Kind = iota // a bug or an unexpected failure: never shown in detail to a terminal
	KindInvalidArgument                // the request is wrong and will stay wrong
	KindNotFound                       // what was asked for does not exist (for this institution)
	KindAlreadyExists                  // the idempotency key is taken by a different request
	KindFailedPrecondition             // valid, but not in the current state (already cancelled, not registered)
	KindPermissionDenied               // the terminal may not act for that institution
	KindUnauthenticated                // no or unknown terminal token
	KindUnavailable                    // try again: a dependency is down, or a commit's outcome is unknown
	KindResourceExhausted              // the terminal is over its rate limit: slow down
)

// Reasons: the stable strings terminals match on (google.rpc.ErrorInfo.reason).
const (
	ReasonInvalidArgument        = "INVALID_ARGUMENT"
	ReasonInvalidAmount          = "INVALID_AMOUNT"
	ReasonInvalidQuantity        = "INVALID_QUANTITY"
	ReasonInvalidDate            = "INVALID_DATE"
	ReasonInvalidPeriod          = "INVALID_PERIOD" // a statement month not YYYY-MM, or a date range that is not one
	ReasonEmptyBill              = "EMPTY_BILL"
	ReasonTooManyLines           = "TOO_MANY_LINES"
	ReasonAmountMismatch         = "AMOUNT_MISMATCH"
	ReasonUnknownItem            = "UNKNOWN_ITEM"
	ReasonUnknownMedType         = "UNKNOWN_MED_TYPE"
	ReasonInvalidCredential      = "INVALID_CREDENTIAL"
	ReasonInvalidIDNumber        = "INVALID_ID_NUMBER" // GB 11643 check digit or form
	ReasonVoucherInvalid         = "VOUCHER_INVALID"   // malformed, forged, or from an unknown issuer
	ReasonVoucherExpired         = "VOUCHER_EXPIRED"
	ReasonVoucherReplayed        = "VOUCHER_REPLAYED" // its nonce was already used
	ReasonPersonNotFound         = "PERSON_NOT_FOUND"
	ReasonNotInsured             = "NOT_INSURED"
	ReasonNoPolicy               = "NO_POLICY"
	ReasonChronicNotRegistered   = "CHRONIC_NOT_REGISTERED"
	ReasonIdempotencyConflict    = "IDEMPOTENCY_CONFLICT"
	ReasonSettlementNotFound     = "SETTLEMENT_NOT_FOUND"
	ReasonAlreadyCancelled       = "ALREADY_CANCELLED"
	ReasonWrongInstitution       = "WRONG_INSTITUTION"
	ReasonAdminDisabled          = "ADMIN_DISABLED"          // admin RPCs need serve --admin-token-sha256
	ReasonPolicyInvalid          = "POLICY_INVALID"          // a policy reload found a bad file; the old set stays
	ReasonPossibleDuplicateBill  = "POSSIBLE_DUPLICATE_BILL" // the same bill was settled recently under another request id
	ReasonConcurrentAdmission    = "CONCURRENT_ADMISSION"    // the person's inpatient stay overlaps one at another institution
	ReasonUnauthenticated        = "UNAUTHENTICATED"
	ReasonRateLimited            = "RATE_LIMITED"
	ReasonEligibilityUnavailable = "ELIGIBILITY_UNAVAILABLE"
	ReasonLedgerUnavailable      = "LEDGER_UNAVAILABLE"
	ReasonOutcomeUnknown         = "OUTCOME_UNKNOWN"
	ReasonInternal               = "INTERNAL"
)

// Error is the gateway's one error type: a kind, a stable reason, the offending field (as
// the request names it, e.g. "lines[3].amount") and a message a cashier can read.
type Error struct {
	Kind    Kind
	Reason  string
	Field   string
	Message string
	Err     error // the cause, for logs; never sent to a terminal
}

func (e *Error) Error() string {
	msg := e.Reason
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error by reason, so errors.Is(err, gateway.ErrAlreadyCancelled) works
// whatever the field or message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Sentinels for errors.Is; wrap them with details through Errorf.
var (
	ErrPersonNotFound         = &Error{Kind: KindNotFound, Reason: ReasonPersonNotFound}
	ErrSettlementNotFound     = &Error{Kind: KindNotFound, Reason: ReasonSettlementNotFound}
	ErrIdempotencyConflict    = &Error{Kind: KindAlreadyExists, Reason: ReasonIdempotencyConflict}
	ErrAlreadyCancelled       = &Error{Kind: KindFailedPrecondition, Reason: ReasonAlreadyCancelled}
	ErrEligibilityUnavailable = &Error{Kind: KindUnavailable, Reason: ReasonEligibilityUnavailable}
	ErrLedgerUnavailable      = &Error{Kind: KindUnavailable, Reason: ReasonLedgerUnavailable}
	ErrOutcomeUnknown         = &Error{Kind: KindUnavailable, Reason: ReasonOutcomeUnknown}
)

// Errorf builds an *Error of the sentinel's kind and reason with a field and a message.
func Errorf(sentinel *Error, field, format string, args ...any) *Error {
	return &Error{Kind: sentinel.Kind, Reason: sentinel.Reason, Field: field, Message: fmt.Sprintf(format, args...)}
}

// invalid is the common case: a bad request field.
func invalid(reason, field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalidArgument, Reason: reason, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected failure; the terminal sees only "INTERNAL".
func Internal(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: KindInternal, Reason: ReasonInternal, Err: err}
}
