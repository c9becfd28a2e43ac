package identity_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"onestop/gateway"
	"onestop/gateway/identity"
)

var (
	person = identity.WithCheckDigit("32041219800101123")
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	b64    = base64.RawURLEncoding
)

// otherKey is a second issuer's key, and the key of forgers who claim to be "dev".
var otherKey = ed25519.NewKeyFromSeed([]byte("another-issuer-seed-32-bytes-abc"))

func verifierAt(now time.Time, nonces identity.NonceStore) *identity.Verifier {
	return &identity.Verifier{
		Issuers: map[string]ed25519.PublicKey{
			identity.DevIssuerID: identity.DevIssuer().Key.Public().(ed25519.PublicKey),
			"city":               otherKey.Public().(ed25519.PublicKey),
		},
		Nonces: nonces,
		Now:    func() time.Time { return now },
	}
}

func issue(t testing.TB, is identity.Issuer, ttl time.Duration, now time.Time) string {
	t.Helper()
	tok, err := is.Issue(person, ttl, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// craft signs any payload, so tests can build vouchers no Issuer would.
func craft(key ed25519.PrivateKey, payload any) string {
	p, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	signed := "ev1." + b64.EncodeToString(p)
	return signed + "." + b64.EncodeToString(ed25519.Sign(key, []byte(signed)))
}

func payload(iss string, iat, exp time.Time) map[string]any {
	return map[string]any{"iss": iss, "id_number": person, "iat": iat.Unix(), "exp": exp.Unix(), "nonce": b64.EncodeToString(make([]byte, 16))}
}

// wantVoucherErr checks the reason and kind, and that the error gives away neither the
// person's number nor the token.
func wantVoucherErr(t *testing.T, err error, reason string, kind gateway.Kind, token string) {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v, want a *gateway.Error %s", err, reason)
	}
	if ge.Reason != reason || ge.Kind != kind || ge.Field != "credential.value" {
		t.Fatalf("err = %v (kind %d), want %s (kind %d) on credential.value", ge, ge.Kind, reason, kind)
	}
	msg := ge.Error()
	if strings.Contains(msg, person) || strings.Contains(msg, person[:14]) {
		t.Errorf("error %q contains the ID number", msg)
	}
	if len(token) > 8 && strings.Contains(msg, token[4:]) {
		t.Errorf("error %q contains the token", msg)
	}
}

func TestVerifyAcceptsOnce(t *testing.T) {
	v := verifierAt(t0, &identity.MemoryNonces{})
	tok := issue(t, identity.DevIssuer(), 2*time.Minute, t0)
	got, err := v.Verify(context.Background(), tok)
	if err != nil || got != person {
		t.Fatalf("Verify = %q, %v; want the person, nil", got, err)
	}
	_, err = v.Verify(context.Background(), tok)
	wantVoucherErr(t, err, gateway.ReasonVoucherReplayed, gateway.KindUnauthenticated, tok)

	// Another issuer's voucher with the same nonce is a different voucher.
	city := craft(otherKey, payload("city", t0, t0.Add(time.Minute)))
	dev := craft(identity.DevIssuer().Key, payload("dev", t0, t0.Add(time.Minute)))
	for _, tok := range []string{city, dev} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

func TestVerifyTime(t *testing.T) {
	ttl := 2 * time.Minute
	tok := issue(t, identity.DevIssuer(), ttl, t0)
	for _, c := range []struct {
		name   string
		now    time.Time
		reason string // "" accepted
	}{
		{"at issue", t0, ""},
		{"just before exp", t0.Add(ttl - time.Second), ""},
		{"past exp, within the skew", t0.Add(ttl + 29*time.Second), ""},
		{"at exp plus the skew", t0.Add(ttl + 30*time.Second), ""},
		{"past exp and the skew", t0.Add(ttl + 31*time.Second), gateway.ReasonVoucherExpired},
		{"a day later", t0.Add(24 * time.Hour), gateway.ReasonVoucherExpired},
		{"verifier's clock behind, within the skew", t0.Add(-29 * time.Second), ""},
		{"issued in the future", t0.Add(-31 * time.Second), gateway.ReasonVoucherInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := verifierAt(c.now, &identity.MemoryNonces{}).Verify(context.Background(), tok)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantVoucherErr(t, err, c.reason, gateway.KindUnauthenticated, tok)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	dev := identity.DevIssuer()
	good := issue(t, dev, time.Minute, t0)
	head, sig, _ := strings.Cut(good[len("ev1."):], ".")

	flipped, _ := b64.DecodeString(sig)
	flipped[10] ^= 1
	var p map[string]any
	raw, _ := b64.DecodeString(head)
	_ = json.Unmarshal(raw, &p)
	p["id_number"] = identity.WithCheckDigit("11010519491231003")
	changed, _ := json.Marshal(p)

	withNonce := func(n string) map[string]any {
		p := payload("dev", t0, t0.Add(time.Minute))
		p["nonce"] = n
		return p
	}
	withID := func(id any) map[string]any {
		p := payload("dev", t0, t0.Add(time.Minute))
		p["id_number"] = id
		return p
	}
	invalid := gateway.ReasonVoucherInvalid
	for _, c := range []struct{ name, token, reason string }{
		// forged
		{"signature byte flipped", "ev1." + head + "." + b64.EncodeToString(flipped), invalid},
		{"payload changed", "ev1." + b64.EncodeToString(changed) + "." + sig, invalid},
		{"signed by another key as dev", craft(otherKey, payload("dev", t0, t0.Add(time.Minute))), invalid},
		{"signed by dev as another issuer", craft(dev.Key, payload("city", t0, t0.Add(time.Minute))), invalid},
		{"unknown issuer", issue(t, identity.Issuer{ID: "nobody", Key: otherKey}, time.Minute, t0), invalid},
		{"empty issuer", craft(dev.Key, payload("", t0, t0.Add(time.Minute))), invalid},
		{"signature over the payload only", "ev1." + head + "." + b64.EncodeToString(ed25519.Sign(dev.Key, []byte(head))), invalid},
		// lifetimes
		{"lifetime too long", craft(dev.Key, payload("dev", t0, t0.Add(5*time.Minute+time.Second))), invalid},
		{"expires before issued", craft(dev.Key, payload("dev", t0, t0.Add(-time.Second))), invalid},
		{"expires as issued", craft(dev.Key, payload("dev", t0, t0)), invalid},
		{"expired long ago", craft(dev.Key, payload("dev", t0.Add(-time.Hour), t0.Add(-time.Hour+time.Minute))), gateway.ReasonVoucherExpired},
		{"iat at the end of time", craft(dev.Key, map[string]any{"iss": "dev", "id_number": person, "iat": int64(1) << 62, "exp": int64(1)<<62 + 60, "nonce": b64.EncodeToString(make([]byte, 16))}), invalid},
		{"negative iat", craft(dev.Key, map[string]any{"iss": "dev", "id_number": person, "iat": -1 << 62, "exp": t0.Unix(), "nonce": b64.EncodeToString(make([]byte, 16))}), invalid},
		// contents
		{"bad check digit", craft(dev.Key, withID(person[:17]+"0")), invalid},
		{"no ID number", craft(dev.Key, withID("")), invalid},
		{"ID number a number", craft(dev.Key, withID(320412)), invalid},
		{"short nonce", craft(dev.Key, withNonce(b64.EncodeToString(make([]byte, 15)))), invalid},
		{"no nonce", craft(dev.Key, withNonce("")), invalid},
		{"padded nonce", craft(dev.Key, withNonce(base64.URLEncoding.EncodeToString(make([]byte, 16)))), invalid},
		// malformed
		{"empty", "", invalid},
		{"prefix only", "ev1.", invalid},
		{"no signature", "ev1." + head, invalid},
		{"empty signature", "ev1." + head + ".", invalid},
		{"other version", "ev2." + head + "." + sig, invalid},
		{"upper-case prefix", "EV1." + head + "." + sig, invalid},
		{"extra part", good + ".AAAA", invalid},
		{"padded", "ev1." + head + "=." + sig, invalid},
		{"standard base64", "ev1." + head[:10] + "+" + head[11:] + "." + sig, invalid},
		{"newline in the signature", "ev1." + head + "." + sig[:20] + "\n" + sig[20:], invalid},
		{"trailing newline", good + "\n", invalid},
		{"leading space", " " + good, invalid},
		{"payload not JSON", craftRaw(dev.Key, []byte("not json")), invalid},
		{"payload a JSON array", craftRaw(dev.Key, []byte(`["dev"]`)), invalid},
		{"payload null", craftRaw(dev.Key, []byte(`null`)), invalid},
		{"payload with trailing data", craftRaw(dev.Key, append(raw, []byte(`{}`)...)), invalid},
		{"too long", "ev1." + strings.Repeat("A", identity.MaxVoucherLen) + "." + sig, invalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			nonces := &countingNonces{}
			_, err := verifierAt(t0, nonces).Verify(context.Background(), c.token)
			wantVoucherErr(t, err, c.reason, gateway.KindUnauthenticated, c.token)
			if errors.Is(err, &gateway.Error{Reason: gateway.ReasonInvalidIDNumber}) {
				t.Errorf("err = %v also matches INVALID_ID_NUMBER", err)
			}
			if nonces.calls != 0 {
				t.Error("a refused voucher's nonce was claimed")
			}
		})
	}
}

func craftRaw(key ed25519.PrivateKey, payload []byte) string {
	signed := "ev1." + b64.EncodeToString(payload)
	return signed + "." + b64.EncodeToString(ed25519.Sign(key, []byte(signed)))
}

type countingNonces struct {
	mu    sync.Mutex
	calls int
	ttl   time.Duration
	err   error
}

func (c *countingNonces) Claim(_ context.Context, _ string, ttl time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.ttl = ttl
	return c.err == nil, c.err
}

func TestVerifyNonceTTL(t *testing.T) {
	tok := issue(t, identity.DevIssuer(), 2*time.Minute, t0)
	for _, c := range []struct {
		after, want time.Duration
	}{
		{0, 2*time.Minute + 30*time.Second}, // exp + skew - now
		{time.Minute, time.Minute + 30*time.Second},
		{2*time.Minute + 29900*time.Millisecond, time.Second}, // at least 1s
	} {
		nonces := &countingNonces{}
		if _, err := verifierAt(t0.Add(c.after), nonces).Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if nonces.ttl != c.want {
			t.Errorf("%v after issue: nonce ttl %v, want %v", c.after, nonces.ttl, c.want)
		}
	}
}

// A voucher whose nonce cannot be recorded could be used again, so it is refused: the
// terminal retries.
func TestVerifyRefusesWhenNoncesFail(t *testing.T) {
	tok := issue(t, identity.DevIssuer(), time.Minute, t0)
	down := errors.New("connection refused")
	_, err := verifierAt(t0, &countingNonces{err: down}).Verify(context.Background(), tok)
	wantVoucherErr(t, err, gateway.ReasonEligibilityUnavailable, gateway.KindUnavailable, tok)
	if !errors.Is(err, gateway.ErrEligibilityUnavailable) || !errors.Is(err, down) {
		t.Errorf("err = %v, want ErrEligibilityUnavailable wrapping the cause", err)
	}

	v := verifierAt(t0, nil)
	v.Nonces = nil
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("a Verifier without a NonceStore accepted a voucher")
	}
}

func TestVerifierLimits(t *testing.T) {
	dev := identity.DevIssuer()
	tok := craft(dev.Key, payload("dev", t0, t0.Add(10*time.Minute)))
	v := verifierAt(t0, &identity.MemoryNonces{})
	v.MaxLifetime = 10 * time.Minute
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("MaxLifetime 10m: %v", err)
	}
	tok = issue(t, dev, time.Minute, t0)
	v = verifierAt(t0.Add(time.Minute+2*time.Second), &identity.MemoryNonces{})
	v.Skew = time.Second
	_, err := v.Verify(context.Background(), tok)
	wantVoucherErr(t, err, gateway.ReasonVoucherExpired, gateway.KindUnauthenticated, tok)
}

func TestIssueRefuses(t *testing.T) {
	dev := identity.DevIssuer()
	for name, f := range map[string]func() (string, error){
		"bad ID number": func() (string, error) { return dev.Issue(person[:17]+"0", time.Minute, t0) },
		"ttl under 1s":  func() (string, error) { return dev.Issue(person, 999*time.Millisecond, t0) },
		"no id":         func() (string, error) { return identity.Issuer{Key: dev.Key}.Issue(person, time.Minute, t0) },
		"no key":        func() (string, error) { return identity.Issuer{ID: "x"}.Issue(person, time.Minute, t0) },
	} {
		if tok, err := f(); err == nil {
			t.Errorf("%s: issued %s", name, tok)
		}
	}
	// Two vouchers issued in the same second differ: each has its own nonce.
	if a, b := issue(t, dev, time.Minute, t0), issue(t, dev, time.Minute, t0); a == b {
		t.Error("two vouchers are identical")
	}
}

// testReplay presents each voucher from two goroutines at once: exactly one is accepted,
// the other is VOUCHER_REPLAYED.
func testReplay(t *testing.T, nonces identity.NonceStore) {
	t.Helper()
	now := time.Now()
	v := verifierAt(now, nonces)
	for range 50 {
		tok := issue(t, identity.DevIssuer(), time.Minute, now)
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			errs     [2]error
			accepted int
		)
		for i := range errs {
			wg.Go(func() {
				<-start
				_, errs[i] = v.Verify(context.Background(), tok)
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err == nil {
				accepted++
				continue
			}
			wantVoucherErr(t, err, gateway.ReasonVoucherReplayed, gateway.KindUnauthenticated, tok)
		}
		if accepted != 1 {
			t.Fatalf("%d of 2 concurrent presentations accepted, want exactly 1 (%v)", accepted, errs)
		}
	}
}

func TestReplayMemory(t *testing.T) { testReplay(t, &identity.MemoryNonces{}) }

// FuzzVerify: no string makes Verify panic, and none is accepted, since the verifier's
// key for "dev" is one nobody holds (the seeds are real dev vouchers, so their form is right
// and only the key is wrong).
func FuzzVerify(f *testing.F) {
	dev := identity.DevIssuer()
	tok, err := dev.Issue(person, time.Minute, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(craft(dev.Key, payload("city", t0, t0.Add(time.Minute))))
	f.Add("ev1.e30.")
	f.Add("ev1..")
	f.Add("")
	unknown, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	v := verifierAt(t0, &identity.MemoryNonces{})
	v.Issuers = map[string]ed25519.PublicKey{"dev": unknown, "city": unknown}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err == nil {
			t.Fatalf("accepted %q as %q", token, id)
		}
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Kind != gateway.KindUnauthenticated {
			t.Fatalf("err = %v, want an UNAUTHENTICATED *gateway.Error", err)
		}
	})
}

func ExampleVerifier_Verify() {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	dev := identity.DevIssuer()
	token, _ := dev.Issue("11010519491231002X", 2*time.Minute, now)
	v := &identity.Verifier{
		Issuers: map[string]ed25519.PublicKey{dev.ID: dev.Key.Public().(ed25519.PublicKey)},
		Nonces:  &identity.MemoryNonces{},
		Now:     func() time.Time { return now },
	}
	fmt.Println(v.Verify(context.Background(), token))
	fmt.Println(v.Verify(context.Background(), token))
	// Output:
	// 11010519491231002X <nil>
	//  VOUCHER_REPLAYED (credential.value): the voucher has already been used: ask the patient to refresh the code
}
