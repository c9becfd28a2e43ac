package identity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"onestop/gateway"
)

// An e-voucher is "ev1." + base64url(payload JSON) + "." + base64url(Ed25519 signature over
// "ev1." + the payload part), unpadded. The signature covers the encoded text, not a
// re-encoding of the JSON, so the verifier never has to canonicalise anything.
const (
	voucherPrefix = "ev1."

	// MaxVoucherLen bounds a token before any decoding: a real one is about 250 bytes, and
	// a terminal should not make the gateway decode and parse megabytes.
	MaxVoucherLen = 2048

	DefaultSkew        = 30 * time.Second
	DefaultMaxLifetime = 5 * time.Minute

	nonceBytes = 16
	// maxUnix (9999-12-31T23:59:59Z) keeps time.Unix and the arithmetic on iat and exp
	// clear of overflow whatever a token claims.
	maxUnix = 253402300799
)

var b64 = base64.RawURLEncoding.Strict()

type voucherPayload struct {
	Iss      string `json:"iss"`
	IDNumber string `json:"id_number"`
	Iat      int64  `json:"iat"`
	Exp      int64  `json:"exp"`
	Nonce    string `json:"nonce"`
}

// Issuer signs e-vouchers. The gateway only verifies them; Issue is for the dev command,
// tests and load generators.
type Issuer struct {
	ID  string
	Key ed25519.PrivateKey
}

// Issue signs a voucher for idNumber, valid from now for ttl (whole seconds; at least 1s).
func (is Issuer) Issue(idNumber string, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case is.ID == "":
		return "", errors.New("identity: the issuer has no id")
	case len(is.Key) != ed25519.PrivateKeySize:
		return "", fmt.Errorf("identity: issuer %q: the key is %d bytes, want %d", is.ID, len(is.Key), ed25519.PrivateKeySize)
	case ttl < time.Second:
		return "", fmt.Errorf("identity: ttl %v is under 1s", ttl)
	}
	if err := CheckIDNumber(idNumber); err != nil {
		return "", err
	}
	var nonce [nonceBytes]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	iat := now.Unix()
	p, err := json.Marshal(voucherPayload{
		Iss:      is.ID,
		IDNumber: idNumber,
		Iat:      iat,
		Exp:      iat + int64(ttl/time.Second),
		Nonce:    b64.EncodeToString(nonce[:]),
	})
	if err != nil {
		return "", err
	}
	signed := voucherPrefix + b64.EncodeToString(p)
	return signed + "." + b64.EncodeToString(ed25519.Sign(is.Key, []byte(signed))), nil
}

// Verifier accepts e-vouchers from known issuers, each once.
type Verifier struct {
	Issuers     map[string]ed25519.PublicKey // by issuer id ("iss")
	Nonces      NonceStore                   // required: without it a voucher could be replayed
	Skew        time.Duration                // tolerated clock difference with issuers; zero means DefaultSkew
	MaxLifetime time.Duration                // longest exp-iat accepted; zero means DefaultMaxLifetime
	Now         func() time.Time             // nil means time.Now
}

// Verify checks a voucher and claims its nonce, returning the ID number it was issued for.
// Errors are *gateway.Error on "credential.value": UNAUTHENTICATED with VOUCHER_INVALID,
// VOUCHER_EXPIRED or VOUCHER_REPLAYED, or UNAVAILABLE (ELIGIBILITY_UNAVAILABLE) when the
// nonce store fails. Messages never contain the token or the ID number.
func (v *Verifier) Verify(ctx context.Context, token string) (string, error) {
	if v.Nonces == nil {
		return "", gateway.Internal(errors.New("identity: Verifier has no NonceStore"))
	}
	skew, maxLife, now := v.Skew, v.MaxLifetime, time.Now
	if skew == 0 {
		skew = DefaultSkew
	}
	if maxLife == 0 {
		maxLife = DefaultMaxLifetime
	}
	if v.Now != nil {
		now = v.Now
	}

	p, signed, sig, err := parseVoucher(token)
	if err != nil {
		return "", err
	}
	// The issuer is read before the signature is checked (it names the key); nothing else
	// in the payload is trusted until then.
	pub, ok := v.Issuers[p.Iss]
	if !ok {
		return "", voucherInvalid("the voucher's issuer is not known")
	}
	if len(pub) != ed25519.PublicKeySize { // ed25519.Verify would panic
		return "", gateway.Internal(fmt.Errorf("identity: issuer %q: public key is %d bytes", p.Iss, len(pub)))
	}
	if !ed25519.Verify(pub, signed, sig) {
		return "", voucherInvalid("the voucher's signature is not valid")
	}

	t := now()
	if p.Exp-p.Iat > int64(maxLife/time.Second) {
		return "", voucherInvalid("the voucher is valid for longer than %v", maxLife)
	}
	if time.Unix(p.Iat, 0).After(t.Add(skew)) {
		return "", voucherInvalid("the voucher was issued in the future: check the issuer's clock")
	}
	deadline := time.Unix(p.Exp, 0).Add(skew)
	if t.After(deadline) {
		return "", &gateway.Error{Kind: gateway.KindUnauthenticated, Reason: gateway.ReasonVoucherExpired,
			Field: "credential.value", Message: "the voucher has expired: ask the patient to refresh the code"}
	}
	// Not wrapped: errors.Is would then also match INVALID_ID_NUMBER, a different answer to
	// the terminal. CheckIDNumber's messages never contain the number.
	if err := CheckIDNumber(p.IDNumber); err != nil {
		why := "malformed"
		if idErr, ok := errors.AsType[*gateway.Error](err); ok {
			why = idErr.Message
		}
		return "", voucherInvalid("the voucher's ID number is not valid: %s", why)
	}

	// The nonce must outlive the voucher's last acceptable instant, or it could be replayed.
	ttl := max(deadline.Sub(t), time.Second)
	first, err := v.Nonces.Claim(ctx, p.Iss+":"+p.Nonce, ttl)
	if err != nil {
		e := gateway.Errorf(gateway.ErrEligibilityUnavailable, "credential.value",
			"the voucher could not be recorded as used; try again")
		e.Err = err
		return "", e
	}
	if !first {
		return "", &gateway.Error{Kind: gateway.KindUnauthenticated, Reason: gateway.ReasonVoucherReplayed,
			Field: "credential.value", Message: "the voucher has already been used: ask the patient to refresh the code"}
	}
	return p.IDNumber, nil
}

// parseVoucher checks the form only: lengths, encodings, the JSON and its fields' ranges.
func parseVoucher(token string) (p voucherPayload, signed, sig []byte, err error) {
	if len(token) > MaxVoucherLen {
		return p, nil, nil, voucherInvalid("the voucher is longer than %d characters", MaxVoucherLen)
	}
	rest, ok := strings.CutPrefix(token, voucherPrefix)
	if !ok {
		return p, nil, nil, voucherInvalid("not an e-voucher (it must start with %q)", voucherPrefix)
	}
	// Go's base64 decoder skips \r and \n; checking the alphabet first keeps one voucher
	// to one spelling.
	for i := range len(rest) {
		if c := rest[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return p, nil, nil, voucherInvalid("the voucher has a character outside base64url at %d", len(voucherPrefix)+i+1)
		}
	}
	payloadPart, sigPart, ok := strings.Cut(rest, ".")
	if !ok {
		return p, nil, nil, voucherInvalid("the voucher has no signature")
	}
	raw, err1 := b64.DecodeString(payloadPart)
	sig, err2 := b64.DecodeString(sigPart)
	if err1 != nil || err2 != nil {
		return p, nil, nil, voucherInvalid("the voucher is not valid base64url")
	}
	if len(sig) != ed25519.SignatureSize {
		return p, nil, nil, voucherInvalid("the voucher's signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&p); err != nil || dec.More() {
		return p, nil, nil, voucherInvalid("the voucher's payload is not a JSON object of the expected fields")
	}
	nonce, err := b64.DecodeString(p.Nonce)
	switch {
	case p.Iss == "":
		return p, nil, nil, voucherInvalid("the voucher has no issuer")
	case err != nil || len(nonce) < nonceBytes:
		return p, nil, nil, voucherInvalid("the voucher's nonce is not at least %d bytes of base64url", nonceBytes)
	case p.Iat <= 0 || p.Iat > maxUnix || p.Exp <= 0 || p.Exp > maxUnix:
		return p, nil, nil, voucherInvalid("the voucher's iat or exp is out of range")
	case p.Exp <= p.Iat:
		return p, nil, nil, voucherInvalid("the voucher expires before it is issued")
	}
	return p, []byte(token[:len(voucherPrefix)+len(payloadPart)]), sig, nil
}

func voucherInvalid(format string, args ...any) *gateway.Error {
	return &gateway.Error{
		Kind:    gateway.KindUnauthenticated,
		Reason:  gateway.ReasonVoucherInvalid,
		Field:   "credential.value",
		Message: fmt.Sprintf(format, args...),
	}
}
