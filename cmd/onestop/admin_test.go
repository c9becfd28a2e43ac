package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPolicyReload: a running gateway reloads its policies through the admin RPC and on
// SIGHUP; each settlement records the file and version that split it; a broken file is
// refused (POLICY_INVALID) and the old set goes on settling; a terminal token cannot reload.
func TestPolicyReload(t *testing.T) {
	dataDir := t.TempDir()
	sum := sha256.Sum256([]byte("an-admin-token"))
	grpcAddr, _ := startGateway(t, "dev", "--data-dir", dataDir, "--admin-token-sha256", hex.EncodeToString(sum[:]),
		"--duplicate-bill-window", "0")
	file := filepath.Join(dataDir, "demo", "policies", "changzhou-resident-2026.yaml")
	original, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	version := func(id string) (file, version string) {
		t.Helper()
		out := cashier(t, grpcAddr, "settle", "--json", "--request-id", id, "--id-card", "320402198001011234", "--line", "SVC-001:1:25.00", "--date", "2026-06-15")
		var r struct {
			Policy struct{ File, Version string } `json:"policy"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return r.Policy.File, r.Policy.Version
	}
	admin := func(token string) (string, error) {
		c := newRoot()
		var out bytes.Buffer
		c.SetOut(&out)
		c.SetErr(&out)
		c.SetArgs([]string{"admin", "reload-policies", "--addr", grpcAddr, "--admin-token", token})
		err := c.ExecuteContext(context.Background())
		return out.String(), err
	}

	f1, v1 := version("reload-1")
	if f1 != "changzhou-resident-2026.yaml" || len(v1) != 16 {
		t.Fatalf("the settlement records policy file %q version %q", f1, v1)
	}
	if _, err := admin("dev-clinic-token"); err == nil || !strings.Contains(err.Error(), "UNAUTHENTICATED") {
		t.Fatalf("a terminal token reloaded the policies: %v", err)
	}

	// A broken file: refused, and the gateway settles with the old set.
	if err := os.WriteFile(file, bytes.Replace(original, []byte("stages:"), []byte("stagez:"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := admin("an-admin-token"); err == nil || !strings.Contains(err.Error(), "POLICY_INVALID") {
		t.Fatalf("a broken policy file was accepted: %v\n%s", err, out)
	}
	if _, v := version("reload-2"); v != v1 {
		t.Fatalf("after a refused reload the version is %s, want %s", v, v1)
	}

	// A good change through the RPC.
	changed := append(append([]byte{}, original...), "\n# reviewed 2026-11-24\n"...)
	if err := os.WriteFile(file, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := admin("an-admin-token")
	if err != nil || !strings.Contains(out, "changed: true") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	_, v2 := version("reload-3")
	if v2 == v1 {
		t.Fatal("the settlement after a reload records the old version")
	}

	// SIGHUP: back to the original text.
	if err := os.WriteFile(file, original, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, v := version("reload-4-" + time.Now().Format("150405.000")); v == v1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP the version is %s, want %s", v, v1)
		}
	}
}
