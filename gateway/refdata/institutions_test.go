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

const groupInstitutions = `institutions:
  - {id: H1, region: "320400", level: 2}
  - {id: V1, region: "320400", level: 1}
  - {id: V2, region: "320400", level: 1}
  - {id: H2, region: "320400", level: 2}
  - {id: V3, region: "320400", level: 1}
`

func TestInstitutionGroups(t *testing.T) {
	d, err := loadString(t, groupInstitutions+`groups:
  - {id: G1, name: 湟里镇, head: H1, members: [V1, V2], enrolled_persons: 1200, outpatient_quota_per_person: "150.00"}
  - {id: G2, head: H2, members: [V3], enrolled_persons: 80, outpatient_quota_per_person: 90.5}
`)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"H1": "G1", "V1": "G1", "V2": "G1", "H2": "G2", "V3": "G2"} {
		g, ok := d.Group(id)
		if !ok || g.ID != want {
			t.Errorf("Group(%s): got %+v %v, want %s", id, g, ok, want)
		}
	}
	g, _ := d.Group("V2")
	if strings.Join(g.Members, ",") != "H1,V1,V2" || g.EnrolledPersons != 1200 || g.QuotaPerPerson.StringFixed(2) != "150.00" || g.Name != "湟里镇" {
		t.Errorf("G1: %+v", g)
	}
	if g, _ := d.Group("V3"); g.QuotaPerPerson.StringFixed(2) != "90.50" {
		t.Errorf("G2 quota: %s", g.QuotaPerPerson)
	}
	if _, ok := d.Group("H9"); ok {
		t.Error("an unknown institution has a group")
	}
	// Without groups: nobody has one.
	d, err = loadString(t, groupInstitutions)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Group("H1"); ok {
		t.Error("a file without groups gave H1 a group")
	}
}

func TestInstitutionGroupErrors(t *testing.T) {
	for _, tc := range []struct{ groups, want string }{
		{`[{id: G1, head: H1, members: [V9], enrolled_persons: 1, outpatient_quota_per_person: "1"}]`, `groups[0].members[0]: unknown institution "V9"`},
		{`[{id: G1, head: H9, members: [V1], enrolled_persons: 1, outpatient_quota_per_person: "1"}]`, `groups[0].head: unknown institution "H9"`},
		{`[{id: G1, head: H1, members: [V1], enrolled_persons: 1, outpatient_quota_per_person: "1"}, {id: G2, head: H2, members: [V3, V1], enrolled_persons: 1, outpatient_quota_per_person: "1"}]`,
			`groups[1].members[1]: "V1" already belongs to group G1`},
		{`[{id: G1, head: H1, members: [V1], enrolled_persons: 1, outpatient_quota_per_person: "1"}, {id: G2, head: V1, enrolled_persons: 1, outpatient_quota_per_person: "1"}]`,
			`groups[1].head: "V1" already belongs to group G1`},
		{`[{id: G1, head: H1, members: [V1, H1], enrolled_persons: 1, outpatient_quota_per_person: "1"}]`, `groups[0].members[1]: "H1" is listed twice in group G1`},
		{`[{id: G1, head: H1, enrolled_persons: -5, outpatient_quota_per_person: "1"}]`, `groups[0].enrolled_persons: -5`},
		{`[{id: G1, head: H1, outpatient_quota_per_person: "1"}]`, `groups[0].enrolled_persons: 0`},
		{`[{id: G1, head: H1, enrolled_persons: 5, outpatient_quota_per_person: "-150.00"}]`, `groups[0].outpatient_quota_per_person: -150.00 is negative`},
		{`[{id: G1, head: H1, enrolled_persons: 5, outpatient_quota_per_person: "abc"}]`, `groups[0].outpatient_quota_per_person: "abc" is not an amount`},
		{`[{id: G1, head: H1, enrolled_persons: 5, outpatient_quota_per_person: "1.005"}]`, `more than two decimals`},
		{`[{id: G1, head: H1, enrolled_persons: 5}]`, `groups[0].outpatient_quota_per_person: required`},
		{`[{head: H1, enrolled_persons: 5, outpatient_quota_per_person: "1"}]`, `groups[0].id: required`},
		{`[{id: G1, enrolled_persons: 5, outpatient_quota_per_person: "1"}]`, `groups[0].head: required`},
		{`[{id: G1, head: H1, enrolled_persons: 5, outpatient_quota_per_person: "1"}, {id: G1, head: H2, enrolled_persons: 5, outpatient_quota_per_person: "1"}]`, `groups[1].id: "G1" given twice`},
		{`[{id: G1, head: H1, enrolled_persons: 5, outpatient_quota_per_person: "1", quota: 3}]`, `quota`},
	} {
		_, err := loadString(t, groupInstitutions+"groups: "+tc.groups+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "institutions.yaml") {
			t.Errorf("%s:\ngot %v\nwant %q (and the file's name)", tc.groups, err, tc.want)
		}
	}
}
