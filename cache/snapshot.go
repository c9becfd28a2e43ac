package cache

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

// Line is one person of a snapshot file (JSON Lines, one object a line).
type Line struct {
	IDNumber           string          `json:"id_number"`
	Name               string          `json:"name"`
	Scheme             string          `json:"scheme"`
	Status             string          `json:"status"`
	InsuredRegion      string          `json:"insured_region"`
	County             string          `json:"county"`
	Categories         []LineCategory  `json:"categories"`
	Flags              []string        `json:"flags"`
	AccountBalance     decimal.Decimal `json:"account_balance"`
	Chronic            []LineChronic   `json:"chronic"`
	Filings            []LineFiling    `json:"filings"`
	SocialSecurityCard string          `json:"social_security_card"`
	// AsOf is when the agency took this record (RFC 3339); account payments settled after
	// it are subtracted from AccountBalance. Default: the snapshot file's modification time.
	AsOf *time.Time `json:"as_of"`
	// Op is for delta files only: "upsert" (the default) or "remove".
	Op string `json:"op,omitempty"`
}

type LineCategory struct {
	Code string      `json:"code"`
	From policy.Date `json:"from"`
	To   policy.Date `json:"to"`
}

type LineChronic struct {
	Disease      string   `json:"disease"`
	Institutions []string `json:"institutions"`
}

type LineFiling struct {
	Region string      `json:"region"`
	From   policy.Date `json:"from"`
	To     policy.Date `json:"to"`
}

// Keyer turns ID numbers and card numbers into person keys: HMAC-SHA256 under a secret, so
// a leaked cache or ledger does not reveal who was treated.
type Keyer struct{ secret []byte }

func NewKeyer(secret string) Keyer { return Keyer{secret: []byte(secret)} }

// IDKey is the person key of an ID number (upper-cased: the check letter is X or x).
func (k Keyer) IDKey(idNumber string) string { return k.mac("id:" + strings.ToUpper(idNumber)) }

// CardKey is the lookup key of a social-security card number.
func (k Keyer) CardKey(card string) string { return k.mac("ssc:" + card) }

func (k Keyer) mac(s string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// Person converts a snapshot line, checking what a settlement relies on.
func (l *Line) Person(k Keyer, asOf time.Time) (*gateway.Person, error) {
	switch {
	case !validIDNumber(l.IDNumber):
		return nil, errors.New("id_number: not an 18-character ID number")
	case l.InsuredRegion == "":
		return nil, errors.New("insured_region: required")
	case l.AccountBalance.IsNegative() || !l.AccountBalance.Equal(l.AccountBalance.Truncate(2)):
		return nil, fmt.Errorf("account_balance: %s is not an amount", l.AccountBalance)
	}
	if l.AsOf != nil {
		asOf = *l.AsOf
	}
	p := &gateway.Person{
		Key:            k.IDKey(l.IDNumber),
		NameMasked:     MaskName(l.Name),
		IDMasked:       MaskID(l.IDNumber),
		Scheme:         l.Scheme,
		Status:         l.Status,
		InsuredRegion:  l.InsuredRegion,
		County:         l.County,
		Flags:          l.Flags,
		AccountBalance: l.AccountBalance,
		AsOf:           asOf.UTC(),
	}
	for i, c := range l.Categories {
		if c.Code == "" {
			return nil, fmt.Errorf("categories[%d].code: required", i)
		}
		p.Categories = append(p.Categories, policy.Category(c))
	}
	for _, c := range l.Chronic {
		p.Chronic = append(p.Chronic, gateway.ChronicRegistration(c))
	}
	for _, f := range l.Filings {
		p.Filings = append(p.Filings, gateway.Filing(f))
	}
	return p, nil
}

func validIDNumber(s string) bool {
	if len(s) != 18 {
		return false
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	last := s[17]
	return (last >= '0' && last <= '9') || last == 'X' || last == 'x'
}

// MaskName keeps the first and last character of a name: 张三丰 → 张*丰, 张三 → 张*.
func MaskName(name string) string {
	r := []rune(name)
	switch len(r) {
	case 0:
		return ""
	case 1:
		return "*"
	case 2:
		return string(r[0]) + "*"
	}
	return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
}

// MaskID keeps the first 4 and last 4 characters of an ID number.
func MaskID(id string) string {
	if len(id) <= 8 || !utf8.ValidString(id) {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

// ReadSnapshot reads a JSON Lines snapshot, calling each for every good line. Bad lines are
// returned as LineErrors (with their line numbers) and skipped.
func ReadSnapshot(r io.Reader, each func(n int, l *Line) error) ([]LineError, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var bad []LineError
	for n := 1; sc.Scan(); n++ {
		text := sc.Bytes()
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var l Line
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			bad = append(bad, LineError{Line: n, Err: err})
			continue
		}
		if err := each(n, &l); err != nil {
			bad = append(bad, LineError{Line: n, Err: err})
		}
	}
	return bad, sc.Err()
}

// LineError is a snapshot line that was skipped.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// fileTime is the modification time of a file, the default as-of of its records.
func fileTime(f *os.File) time.Time {
	if st, err := f.Stat(); err == nil {
		return st.ModTime()
	}
	return time.Now()
}
