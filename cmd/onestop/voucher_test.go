package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"onestop/gateway/identity"
)

func runVoucher(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"voucher", "issue"}, args...))
	err := root.Execute()
	return out.String(), err
}

// TestVoucherIssue: a dev voucher is accepted, once, by a verifier trusting the demo issuers
// file, which onestop dev serves with: the file and the published seed must agree.
func TestVoucherIssue(t *testing.T) {
	const person = "11010519491231002X"
	out, err := runVoucher(t, "--id-card", person, "--ttl", "1m")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSuffix(out, "\n")
	if strings.ContainsAny(token, " \n") || !strings.HasPrefix(token, "ev1.") {
		t.Fatalf("output %q is not one token on one line", out)
	}
	issuers, err := identity.LoadIssuers("demo/issuers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !issuers[identity.DevIssuerID].Equal(identity.DevIssuer().Key.Public()) {
		t.Fatal("demo/issuers.yaml does not hold the dev issuer's public key")
	}
	v := &identity.Verifier{Issuers: issuers, Nonces: &identity.MemoryNonces{}}
	if got, err := v.Verify(context.Background(), token); err != nil || got != person {
		t.Fatalf("Verify = %q, %v", got, err)
	}
	if _, err := v.Verify(context.Background(), token); err == nil {
		t.Fatal("the voucher was accepted twice")
	}
}

func TestVoucherIssueWithKeyFile(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	keyFile := filepath.Join(t.TempDir(), "seed")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	person := identity.WithCheckDigit("32041219800101123")
	out, err := runVoucher(t, "--id-card", person, "--key-file", keyFile, "--issuer", "city")
	if err != nil {
		t.Fatal(err)
	}
	v := &identity.Verifier{
		Issuers: map[string]ed25519.PublicKey{"city": ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)},
		Nonces:  &identity.MemoryNonces{},
	}
	if got, err := v.Verify(context.Background(), strings.TrimSpace(out)); err != nil || got != person {
		t.Fatalf("Verify = %q, %v", got, err)
	}

	for _, args := range [][]string{
		{"--id-card", "11010519491231002X", "--key-file", keyFile},                            // no --issuer
		{"--id-card", "11010519491231002X", "--issuer", "city"},                               // no --key-file
		{"--id-card", "110105194912310021"},                                                   // bad check digit
		{"--id-card", "11010519491231002X", "--ttl", "6m"},                                    // longer than the verifier takes
		{"--id-card", "11010519491231002X", "--key-file", keyFile + ".none", "--issuer", "x"}, // missing file
		{},
	} {
		if out, err := runVoucher(t, args...); err == nil {
			t.Errorf("%v: printed %q", args, out)
		}
	}
}
