package gateway

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// Identity checks a credential and turns it into one eligibility can look up: an ID
// number's check digit; an e-voucher's signature, expiry and single use, into the ID number
// it was issued for. Implementation: gateway/identity.
type Identity interface {
	// Resolve returns an ID_CARD or SOCIAL_SECURITY_CARD credential. Errors:
	// INVALID_ID_NUMBER, VOUCHER_INVALID, VOUCHER_EXPIRED, VOUCHER_REPLAYED,
	// INVALID_CREDENTIAL (e-vouchers not accepted here), ELIGIBILITY_UNAVAILABLE.
	Resolve(ctx context.Context, c Credential) (Credential, error)
}

// Eligibility finds insured persons by credential.
type Eligibility interface {
	// Lookup returns the person a credential names. Errors: ErrPersonNotFound,
	// ErrEligibilityUnavailable, and INVALID_CREDENTIAL for a malformed credential.
	Lookup(ctx context.Context, c Credential) (*Person, error)
}

// Catalog prices items in a treatment region.
type Catalog interface {
	// Item returns the catalog entry of code in region, and false when there is none.
	Item(region, code string) (Item, bool)
}

// Directory knows the institutions and their terminals.
type Directory interface {
	// Authenticate returns the institution and terminal a bearer token belongs to, and false
	// for an unknown token.
	Authenticate(token string) (*Institution, string, bool)
	// Institution returns an institution by id.
	Institution(id string) (*Institution, bool)
	// Terminal returns a terminal by its institution's id and its own, and false when the
	// pair is unknown. Callers authenticating by certificate must also check Terminal.MTLS.
	Terminal(institutionID, terminalID string) (*Institution, *Terminal, bool)
}

// Ledger stores settlements and the persons' annual accumulators: the source of truth for
// money. Implementations: gateway/ledger (Postgres, embedded); one conformance suite.
type Ledger interface {
	// Settle stores one settlement exactly once per (InstitutionID, RequestID), in one
	// transaction: it locks the person's year, looks the key up — the same RequestHash
	// returns the stored settlement with replayed = true and writes nothing, another hash
	// returns ErrIdempotencyConflict —, reads the position, calls split with it, and stores
	// the settlement split returns: the row, its fund payments and deltas, and the
	// accumulators plus the deltas. An error from split is returned as it is and nothing is
	// written. A commit whose outcome is unknown returns ErrOutcomeUnknown; a retry with the
	// same key finds the truth. Other storage failures return ErrLedgerUnavailable.
	Settle(ctx context.Context, key SettleKey, split func(Position) (*Settlement, error)) (s *Settlement, replayed bool, err error)

	// Cancel reverses a settlement once: it marks it cancelled and subtracts exactly its
	// stored deltas from the accumulators. The same (InstitutionID, RequestID) again returns
	// the stored result with replayed = true. Errors: ErrSettlementNotFound, WRONG_INSTITUTION
	// (another institution's settlement), ErrAlreadyCancelled (cancelled by another request),
	// ErrIdempotencyConflict (the request id cancelled another settlement), and as Settle.
	Cancel(ctx context.Context, c CancelKey) (s *Settlement, replayed bool, err error)

	// Find returns the settlement stored for an institution's settle request id.
	// Errors: ErrSettlementNotFound, ErrLedgerUnavailable.
	Find(ctx context.Context, institutionID, requestID string) (*Settlement, error)

	// Get returns a settlement. Errors: ErrSettlementNotFound, WRONG_INSTITUTION.
	Get(ctx context.Context, institutionID, settlementID string) (*Settlement, error)

	// Position reads a person's accumulators for a year and the account payments settled
	// since a moment (not read, and zero, when the moment is zero), without locking: for
	// PreSettle and GetEligibility.
	Position(ctx context.Context, personKey string, year int, accountSince time.Time) (Position, error)
}

// SettleKey names one Settle call.
type SettleKey struct {
	InstitutionID string
	RequestID     string
	RequestHash   string // of the request as sent; the same key with another hash is a conflict
	PersonKey     string
	Year          int
	AccountSince  time.Time // the snapshot's as-of: account payments after it are spent; zero: the bill does not use the account, AccountSpent is not read
	// History asks for the person's earlier settlements the fraud checks need, read under
	// the same lock as the position; zero: not read.
	History HistoryQuery
}

// HistoryQuery names the earlier settlements of a person the fraud checks look at: those
// settled since SettledSince (repeated bills), and inpatient stays that ended on or after
// StaysEndingFrom (concurrent admissions). Cancelled settlements never count.
type HistoryQuery struct {
	SettledSince    time.Time
	StaysEndingFrom policy.Date
}

// PastSettlement is what the fraud checks know of an earlier settlement.
type PastSettlement struct {
	ID              string
	InstitutionID   string
	RequestID       string
	BillFingerprint string
	MedType         string
	AdmissionDate   policy.Date
	SettleDate      policy.Date
	SettledAt       time.Time
}

// CancelKey names one Cancel call.
type CancelKey struct {
	InstitutionID string
	RequestID     string
	SettlementID  string
	Reason        string
}

// Position is what the ledger knows of a person for a year.
type Position struct {
	Accumulators policy.Accumulators
	// AccountSpent is what the personal account paid since AccountSince, net of the
	// cancellations since then: the snapshot's balance minus this is what is available.
	AccountSpent decimal.Decimal
	// History: the earlier settlements SettleKey.History asked for.
	History []PastSettlement
}

// Observer is told what the settle pipeline did, for metrics: the gateway counts nothing
// itself. Calls come on the request's goroutine once the ledger has answered, so they must
// be quick and must not keep or change the settlement.
type Observer interface {
	// Settled: the ledger stored this settlement now (replays and refusals are not told).
	Settled(st *Settlement, inst *Institution)
	// Replayed: a Settle was answered with what an identical earlier request stored.
	Replayed(st *Settlement)
	// PreSettled: a PreSettle was answered; nothing was stored.
	PreSettled(st *Settlement, inst *Institution)
	// Cancelled: the ledger cancelled this settlement now (a replayed cancel is not told).
	Cancelled(st *Settlement)
	// Flagged: a Settle was held by a fraud check (reason POSSIBLE_DUPLICATE_BILL or
	// CONCURRENT_ADMISSION).
	Flagged(reason string, inst *Institution)
}

// nopObserver stands in for an unset Service.Observer.
type nopObserver struct{}

func (nopObserver) Settled(*Settlement, *Institution)    {}
func (nopObserver) Replayed(*Settlement)                 {}
func (nopObserver) PreSettled(*Settlement, *Institution) {}
func (nopObserver) Cancelled(*Settlement)                {}
func (nopObserver) Flagged(string, *Institution)         {}
