package gateway

import (
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// Institution is a hospital or clinic that settles through onestop, from the institutions file.
type Institution struct {
	ID            string
	Name          string
	Region        string // the treatment region: its catalog prices the items
	County        string
	Level         int // 1 (village clinic, community centre), 2, 3
	AidDesignated bool
	Terminals     []Terminal
}

// Terminal is one cashier terminal of an institution, known by the SHA-256 (hex) of its
// token: the institutions file may hold the plain token (dev data) or only its digest.
// An MTLS terminal may instead present a client certificate naming the institution (O)
// and the terminal (CN); it may have no token at all.
type Terminal struct {
	ID          string
	TokenSHA256 string // "" for a certificate-only terminal
	MTLS        bool
}

// CredentialType is how the patient identifies at the counter.
type CredentialType string

const (
	CredentialEVoucher   CredentialType = "E_VOUCHER"
	CredentialIDCard     CredentialType = "ID_CARD"
	CredentialSocialCard CredentialType = "SOCIAL_SECURITY_CARD"
)

type Credential struct {
	Type  CredentialType
	Value string
}

// Person is what the eligibility snapshot knows of one insured person. The plain ID number
// is not kept: Key identifies the person (a keyed hash of the ID number) and the name and ID
// are kept masked.
type Person struct {
	Key            string
	NameMasked     string
	IDMasked       string
	Scheme         string // "employee", "resident"; anything else is not insured
	Status         string
	InsuredRegion  string
	County         string
	Categories     []policy.Category
	Flags          []string
	AccountBalance decimal.Decimal // as of AsOf
	Chronic        []ChronicRegistration
	Filings        []Filing
	AsOf           time.Time // when the snapshot that holds this record was taken
}

// ChronicRegistration: the person is registered for a chronic disease at these institutions.
type ChronicRegistration struct {
	Disease      string
	Institutions []string
}

// Filing is a cross-region medical filing (异地就医备案) valid from From to To, inclusive.
type Filing struct {
	Region string
	From   policy.Date
	To     policy.Date
}

// Item is one entry of a region's catalog.
type Item struct {
	Region           string
	Code             string
	Name             string
	Class            string              // policy.ClassA, ClassB, ClassC
	CeilingUnitPrice decimal.NullDecimal // the most insurance recognises per unit; !Valid = none
}

// State of a stored settlement.
type State string

const (
	StatePreSettled State = "presettled" // never stored: a PreSettle answer
	StateSettled    State = "settled"
	StateCancelled  State = "cancelled"
)

// Settlement is one settled bill as the ledger keeps it: the money columns the statements
// and the audit read, the accumulator deltas a cancellation takes back, and the receipt
// that lets the gateway answer a replay or a GetSettlement exactly as it answered Settle.
type Settlement struct {
	ID            string
	InstitutionID string
	RequestID     string
	RequestHash   string
	PersonKey     string
	Year          int
	State         State
	SettledAt     time.Time
	CancelledAt   time.Time // zero unless cancelled
	Cancellation  *Cancellation

	Total       decimal.Decimal
	PolicyScope decimal.Decimal
	FundTotal   decimal.Decimal // Σ Payments
	Hospital    decimal.Decimal
	Account     decimal.Decimal
	Cash        decimal.Decimal
	Payments    []FundPayment
	Deltas      policy.Accumulators

	Receipt Receipt

	// BillFingerprint identifies the bill's content (institution, medical type, items and
	// quantities), to hold a repeat under a new request id (POSSIBLE_DUPLICATE_BILL).
	BillFingerprint string `json:",omitempty"`

	// Alerts are the high-cost thresholds this bill crossed; the ledger raises each once
	// per person and year (a bill crossing one again after a cancellation raises nothing).
	Alerts []HighCostAlert
}

// HighCostAlert tells civil affairs that a person's out-of-pocket spending this year passed
// a threshold (大额医疗费用信息推送), so the person can be found and helped.
type HighCostAlert struct {
	Year        int
	Threshold   decimal.Decimal
	OutOfPocket decimal.Decimal // cash + account this year, this bill included
	AidHolder   bool            // the person held an aid category on the settlement date
}

// FundPayment is what one policy stage paid.
type FundPayment struct {
	Fund             string
	FundCode         string // national fund-payment type code, "" when the fund has none
	Pool             string
	Category         string
	Amount           decimal.Decimal
	ThresholdApplied decimal.Decimal
	Ratio            decimal.Decimal
}

// Receipt is the rest of a settle answer, stored as one document with the settlement.
type Receipt struct {
	MedType         string
	SettleDate      policy.Date
	AdmissionDate   policy.Date `json:",omitzero"` // inpatient stays: the stay is [AdmissionDate, SettleDate]
	Excluded        decimal.Decimal
	Overlimit       decimal.Decimal
	Preselfpay      decimal.Decimal
	Lines           []ReceiptLine
	Remaining       []PoolRemaining
	Person          PersonSummary
	Policy          PolicyRef
	EligibilityAsOf time.Time
	// EligibilityStale: the record was older than the gateway's freshness bound when settled.
	EligibilityStale bool
	Notes            []string // for the patient, e.g. why medical aid was not paid here
}

type ReceiptLine struct {
	Code    string
	Name    string
	Class   string
	Amount  decimal.Decimal
	Ceiling decimal.NullDecimal
}

// PoolRemaining is what is left of one pool's threshold and cap for the year.
type PoolRemaining struct {
	Fund               string
	Pool               string
	MedTypes           []string
	ThresholdKind      string // "annual", "per_visit", ""
	ThresholdRemaining decimal.Decimal
	Capped             bool
	CapRemaining       decimal.Decimal
}

type PersonSummary struct {
	NameMasked    string
	IDMasked      string
	Scheme        string
	Status        string
	InsuredRegion string
	// Categories are the aid categories (policy codes) that covered the bill: what makes a
	// settlement an aid recipient's in the statements. Receipts stored before it was
	// recorded have none. Only civil affairs is told them (Notices).
	Categories []string `json:",omitempty"`
}

type PolicyRef struct {
	ID     string
	Name   string
	Region string
	Year   int
	// File (its base name) and Version (of its content) say exactly which policy text split
	// the bill, across reloads (SIGHUP, ReloadPolicies). Empty in settlements stored before.
	File    string `json:",omitempty"`
	Version string `json:",omitempty"`
}

// Cancellation reverses one settlement (结算撤销).
type Cancellation struct {
	RequestID   string
	Reason      string
	CancelledAt time.Time
}
