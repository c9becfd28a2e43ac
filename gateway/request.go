package gateway

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// Limits on one bill (issue 3): a counter never sends more, so more is an error, not load.
const (
	MaxLines        = 1000
	MaxRequestIDLen = 64
)

// maxBillAmount: every line amount and the bill total stay below 10,000,000.00 yuan.
var maxBillAmount = decimal.New(10_000_000, 0)

// SettleRequest is a bill as the terminal sent it. Amounts, quantities and dates are still
// text: validate parses them, so every parse failure is reported with its field, and the
// idempotency hash is taken over what was sent, not over what defaults made of it.
type SettleRequest struct {
	RequestID     string
	InstitutionID string
	Credential    Credential
	MedType       string // policy.Outpatient, policy.Chronic, policy.Inpatient
	SettleDate    string // YYYY-MM-DD; "" = today
	AdmissionDate string // YYYY-MM-DD; "" = SettleDate
	ReferralNo    string // non-empty = referred
	UseAccount    bool
	Lines         []BillLine
	// ConfirmDuplicate: the cashier checked that a bill held as POSSIBLE_DUPLICATE_BILL is
	// really a new one.
	ConfirmDuplicate bool
}

type BillLine struct {
	Code      string
	Name      string
	Quantity  string // up to 3 decimals, > 0
	UnitPrice string // up to 6 decimals, ≥ 0
	Amount    string // quantity × unit price, rounded half-up to the fen
}

// bill is a validated request.
type bill struct {
	req        *SettleRequest
	settleDate policy.Date
	admission  policy.Date
	lines      []parsedLine
	print      string // fingerprint(), once: the fraud check and the stored settlement both need it
}

type parsedLine struct {
	BillLine
	quantity decimal.Decimal
	amount   decimal.Decimal
}

// validate checks everything that can be checked without looking anything up, and parses
// the amounts and dates. needRequestID is false for PreSettle, which stores nothing.
func validate(req *SettleRequest, today policy.Date, needRequestID bool) (*bill, error) {
	if needRequestID || req.RequestID != "" {
		if err := checkRequestID(req.RequestID); err != nil {
			return nil, err
		}
	}
	if req.InstitutionID == "" {
		return nil, invalid(ReasonInvalidArgument, "institution_id", "required")
	}
	if err := checkCredential(req.Credential); err != nil {
		return nil, err
	}
	switch req.MedType {
	case policy.Outpatient, policy.Chronic, policy.Inpatient:
	default:
		return nil, invalid(ReasonUnknownMedType, "med_type", "must be OUTPATIENT, CHRONIC or INPATIENT")
	}
	b := &bill{req: req, settleDate: today}
	if req.SettleDate != "" {
		d, err := policy.ParseDate(req.SettleDate)
		if err != nil {
			return nil, invalid(ReasonInvalidDate, "settle_date", "%v", err)
		}
		if today.Before(d) {
			return nil, invalid(ReasonInvalidDate, "settle_date", "%s is in the future", d)
		}
		b.settleDate = d
	}
	b.admission = b.settleDate
	if req.AdmissionDate != "" {
		d, err := policy.ParseDate(req.AdmissionDate)
		if err != nil {
			return nil, invalid(ReasonInvalidDate, "admission_date", "%v", err)
		}
		if b.settleDate.Before(d) {
			return nil, invalid(ReasonInvalidDate, "admission_date", "%s is after the settlement date %s", d, b.settleDate)
		}
		b.admission = d
	}
	if len(req.Lines) == 0 {
		return nil, invalid(ReasonEmptyBill, "lines", "a bill needs at least one line")
	}
	if len(req.Lines) > MaxLines {
		return nil, invalid(ReasonTooManyLines, "lines", "%d lines; at most %d", len(req.Lines), MaxLines)
	}
	total := decimal.Zero
	b.lines = make([]parsedLine, len(req.Lines))
	for i, l := range req.Lines {
		pl, err := parseLine(i, l)
		if err != nil {
			return nil, err
		}
		b.lines[i] = pl
		total = total.Add(pl.amount)
	}
	if !total.LessThan(maxBillAmount) {
		return nil, invalid(ReasonInvalidAmount, "lines", "the bill total %s is not below %s", total.StringFixed(2), maxBillAmount.StringFixed(2))
	}
	return b, nil
}

func checkRequestID(id string) error {
	if id == "" {
		return invalid(ReasonInvalidArgument, "request_id", "required")
	}
	if len(id) > MaxRequestIDLen || strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return invalid(ReasonInvalidArgument, "request_id", "at most %d printable ASCII characters without spaces", MaxRequestIDLen)
	}
	return nil
}

func checkCredential(c Credential) error {
	switch c.Type {
	case CredentialEVoucher, CredentialIDCard, CredentialSocialCard:
	default:
		return invalid(ReasonInvalidCredential, "credential.type", "must be E_VOUCHER, ID_CARD or SOCIAL_SECURITY_CARD")
	}
	if c.Value == "" || len(c.Value) > 2048 {
		return invalid(ReasonInvalidCredential, "credential.value", "required, at most 2048 characters")
	}
	return nil
}

func parseLine(i int, l BillLine) (parsedLine, error) {
	field := func(name string) string { return lineName(i, name) }
	if l.Code == "" {
		return parsedLine{}, invalid(ReasonInvalidArgument, field("code"), "required")
	}
	qty, err := parseDecimal(l.Quantity, 3)
	if err != nil || !qty.IsPositive() {
		return parsedLine{}, invalid(ReasonInvalidQuantity, field("quantity"), "%q: a positive number with at most 3 decimals", l.Quantity)
	}
	price, err := parseDecimal(l.UnitPrice, 6)
	if err != nil || price.IsNegative() {
		return parsedLine{}, invalid(ReasonInvalidAmount, field("unit_price"), "%q: a non-negative price with at most 6 decimals", l.UnitPrice)
	}
	amount, err := policy.ParseAmount(field("amount"), l.Amount)
	if err != nil {
		return parsedLine{}, invalid(ReasonInvalidAmount, field("amount"), "%q: yuan with at most 2 decimals, not negative", l.Amount)
	}
	if !amount.LessThan(maxBillAmount) {
		return parsedLine{}, invalid(ReasonInvalidAmount, field("amount"), "%s is not below %s", amount.StringFixed(2), maxBillAmount.StringFixed(2))
	}
	if want := qty.Mul(price).Round(2); !want.Equal(amount) {
		return parsedLine{}, invalid(ReasonAmountMismatch, field("amount"), "%s × %s = %s, not %s", l.Quantity, l.UnitPrice, want.StringFixed(2), l.Amount)
	}
	return parsedLine{BillLine: l, quantity: qty, amount: amount}, nil
}

// parseDecimal reads a plain decimal (digits, an optional fraction, an optional leading '-')
// with at most places decimals by value.
func parseDecimal(s string, places int32) (decimal.Decimal, error) {
	if s == "" || len(s) > 32 || strings.ContainsAny(s, "eE+ ") {
		return decimal.Decimal{}, fmt.Errorf("not a plain decimal")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if !d.Equal(d.Truncate(places)) {
		return decimal.Decimal{}, fmt.Errorf("more than %d decimals", places)
	}
	return d, nil
}

// hash is the request's fingerprint for idempotency: every field as sent, each prefixed by
// its length so no two requests share an encoding.
func (r *SettleRequest) hash() string {
	h := sha256.New()
	put := func(s string) { putString(h, s) }
	put(r.RequestID)
	put(r.InstitutionID)
	put(string(r.Credential.Type))
	put(r.Credential.Value)
	put(r.MedType)
	put(r.SettleDate)
	put(r.AdmissionDate)
	put(r.ReferralNo)
	put(fmt.Sprint(r.UseAccount))
	if r.ConfirmDuplicate {
		// Only when set: hashes of requests stored before the flag existed stay the same.
		put("confirm_duplicate")
	}
	put(fmt.Sprint(len(r.Lines)))
	for _, l := range r.Lines {
		put(l.Code)
		put(l.Name)
		put(l.Quantity)
		put(l.UnitPrice)
		put(l.Amount)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func putString(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// today is the calendar date of now in the gateway's time zone.
func today(now time.Time, loc *time.Location) policy.Date { return policy.DateOf(now.In(loc)) }

func lineName(i int, name string) string { return fmt.Sprintf("lines[%d].%s", i, name) }

func joinCodes(codes []string) string { return strings.Join(codes, ", ") }
