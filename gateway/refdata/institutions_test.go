package refdata

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadString(t *testing.T, yaml string) (*Directory, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "institutions.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadInstitutions(path)
}

func TestTerminalsByTokenAndByCertificate(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-token"))
	d, err := loadString(t, `institutions:
  - id: H1
    region: "320400"
    level: 1
    terminals:
      - {id: T1, token: plain-token}
      - {id: T2, token_sha256: `+hex.EncodeToString(sum[:])+`}
      - {id: M1, mtls: true}
      - {id: B1, token: both-token, mtls: true}
  - id: H2
    region: "320400"
    level: 2
    terminals:
      - {id: M1, mtls: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{"plain-token": "H1/T1", "hashed-token": "H1/T2", "both-token": "H1/B1"} {
		inst, term, ok := d.Authenticate(token)
		if !ok || inst.ID+"/"+term != want {
			t.Errorf("token %s: got %v %s %v, want %s", token, inst, term, ok, want)
		}
	}
	if _, _, ok := d.Authenticate(""); ok {
		t.Error("the empty token authenticated")
	}
	for _, tc := range []struct {
		inst, term string
		ok, mtls   bool
	}{
		{"H1", "M1", true, true}, {"H2", "M1", true, true}, {"H1", "B1", true, true},
		{"H1", "T1", true, false}, {"H1", "M9", false, false}, {"H9", "M1", false, false}, {"H1", "", false, false},
	} {
		inst, term, ok := d.Terminal(tc.inst, tc.term)
		if ok != tc.ok || (ok && (inst.ID != tc.inst || term.ID != tc.term || term.MTLS != tc.mtls)) {
			t.Errorf("Terminal(%s, %s): got %v %+v %v, want ok %v mtls %v", tc.inst, tc.term, inst, term, ok, tc.ok, tc.mtls)
		}
	}
	if _, term, _ := d.Terminal("H1", "M1"); term.TokenSHA256 != "" {
		t.Errorf("a certificate-only terminal has a token digest %q", term.TokenSHA256)
	}
}

func TestInstitutionsFileErrors(t *testing.T) {
	head := "institutions:\n  - {id: H1, region: \"320400\", level: 1, terminals: ["
	for _, tc := range []struct{ terminals, want string }{
		{"{id: T1}", `terminal "T1" has no token, token_sha256 or mtls: true`},
		{"{id: T1, mtls: false}", `terminal "T1" has no token, token_sha256 or mtls: true`},
		{"{token: x}", "terminals[0]: id is required"},
		{"{id: T1, token: x}, {id: T1, mtls: true}", `terminal id "T1" given twice`},
		{"{id: T1, token: x}, {id: T2, token: x}", "the token is used by another terminal"},
		{"{id: T1, token: x, token_sha256: ab}", "not both"},
		{"{id: T1, token_sha256: ab}", "not 64 hex digits"},
		{"{id: T1, mtls: yes, cert: x}", "cert"},
	} {
		_, err := loadString(t, head+tc.terminals+"]}\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.terminals, err, tc.want)
		}
	}
}
