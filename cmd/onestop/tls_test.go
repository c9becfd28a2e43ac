package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"onestop/cache/cachetest"
	"onestop/gateway/ledger/ledgertest"
)

func TestServeRefusesHalfTheTerminalSecurity(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--client-ca", "ca.pem"}, "--client-ca needs --tls-cert and --tls-key"},
		{[]string{"--tls-cert", "missing.pem", "--tls-key", "missing-key.pem"}, "missing.pem"},
		{[]string{"--rate-limit", "-1"}, "--rate-limit must be 0"},
		{[]string{"--rate-burst", "0"}, "--rate-burst must be at least 1"},
	} {
		root := newRoot()
		root.SetArgs(append([]string{"serve"}, tc.args...))
		root.SetErr(&bytes.Buffer{})
		root.SetOut(&bytes.Buffer{})
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

// writePEM writes one PEM block into dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCA issues the gateway's certificate (for 127.0.0.1) and terminals' client
// certificates (O = institution, CN = terminal).
func testCA(t *testing.T, dir string) (caFile string, issue func(name string, subject pkix.Name, server bool) (string, string)) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	n := int64(1)
	return writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER), func(name string, subject pkix.Name, server bool) (string, string) {
		n++
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: subject,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "PRIVATE KEY", keyDER)
	}
}

// TestServeWithTLS: serve with a certificate and a client CA; the cashier client settles
// by certificate alone and by token over TLS, and cannot talk plaintext to it.
func TestServeWithTLS(t *testing.T) {
	pool := ledgertest.Pool(t, 0)
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	dir := t.TempDir()
	files := &config{DataDir: dir}
	if err := files.useDemo(); err != nil {
		t.Fatal(err)
	}
	inst, err := os.ReadFile(files.Institutions)
	if err != nil {
		t.Fatal(err)
	}
	withCert := strings.Replace(string(inst), "      - {id: T1, token: dev-clinic-token}\n",
		"      - {id: T1, token: dev-clinic-token}\n      - {id: M1, mtls: true}\n", 1)
	if withCert == string(inst) {
		t.Fatal("the demo institutions changed: no dev-clinic-token terminal")
	}
	if err := os.WriteFile(files.Institutions, []byte(withCert), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile, issue := testCA(t, dir)
	serverCert, serverKey := issue("gateway", pkix.Name{CommonName: "gateway"}, true)
	clientCert, clientKey := issue("terminal", pkix.Name{Organization: []string{"H320401"}, CommonName: "M1"}, false)

	t.Setenv("ONESTOP_PERSON_KEY_SECRET", "a-test-secret-of-some-length")
	t.Setenv("ONESTOP_TLS_KEY", serverKey) // the environment names them as it does every flag
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	_, prefix := cachetest.Redis(t)
	root.SetArgs([]string{"serve", "--postgres-url", ledgertest.SchemaURL(t, schema),
		"--redis", cachetest.URL(t), "--redis-prefix", prefix, "--snapshot", files.Snapshot, "--institutions", files.Institutions, "--catalog", files.Catalog, "--policies", files.Policies,
		"--tls-cert", serverCert, "--client-ca", caFile, "--grpc-addr", grpcAddr, "--http-addr", httpAddr})
	var out syncBuffer
	root.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitHealthy(t, httpAddr, done, &out)

	client := func(args ...string) (string, error) {
		t.Helper()
		c := newRoot()
		var out bytes.Buffer
		c.SetOut(&out)
		c.SetErr(&out)
		c.SetArgs(append(args, "--addr", grpcAddr, "--institution", "H320401", "--timeout", "5s"))
		err := c.ExecuteContext(context.Background())
		return out.String(), err
	}
	bill := []string{"settle", "--id-card", "320402198001011234", "--line", "SVC-001:1:25.00", "--date", "2026-06-15"}
	if got, err := client(append(bill, "--tls-ca", caFile, "--cert", clientCert, "--key", clientKey)...); err != nil || !strings.Contains(got, "SETTLED") {
		t.Errorf("settle by certificate: %v\n%s", err, got)
	}
	// The same bill again under a new request id would be held as a possible duplicate.
	bill = append(bill, "--confirm-duplicate")
	if got, err := client(append(bill, "--tls-ca", caFile, "--token", "dev-clinic-token")...); err != nil || !strings.Contains(got, "SETTLED") {
		t.Errorf("settle by token over TLS: %v\n%s", err, got)
	}
	if _, err := client(append(bill, "--token", "dev-clinic-token")...); err == nil {
		t.Error("a plaintext client settled on a TLS gateway")
	}
	if log := out.String(); strings.Contains(log, "plaintext") || !strings.Contains(log, "tls=true") {
		t.Errorf("start-up log:\n%s", log)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
