package policy

import (
	"errors"
	"strings"
	"testing"
)

// A minimal valid document; each bad case below changes one thing in it.
const minimalPolicy = `region: "320400"
name: test
year: 2022
preselfpay_ratio: "0.10"
stages:
  - fund: basic_resident
    when: {scheme: [resident]}
    pools:
      - name: outpatient
        med_types: [outpatient]
        threshold: {annual: {by_level: {"1": "100", "2": "200", "3": "300"}}}
        ratio: "0.50"
        cap: "600"
  - fund: hospital
    kind: hospital_ceiling
    max_share: "0.10"
  - fund: personal_account
    kind: account
    covers: [burden, preselfpay]
`

func TestParseMinimal(t *testing.T) {
	p, err := Parse("min.yaml", []byte(minimalPolicy))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.Region != "320400" || p.Year != 2022 || p.ID != "min" || len(p.Stages) != 3 {
		t.Fatalf("got region %q year %d id %q stages %d", p.Region, p.Year, p.ID, len(p.Stages))
	}
	pool := p.Stages[0].Pools[0]
	if got, _ := pool.Threshold.Amount.at(3); pool.Threshold.Kind != Annual || got != 30000 {
		t.Errorf("threshold at level 3: got %v %v, want annual 300.00", pool.Threshold.Kind, got)
	}
	if pool.Ratio.Value != ratioOne/2 || !pool.Cap.Set || pool.Cap.Amount != 60000 {
		t.Errorf("ratio %v cap %+v, want 0.5 and 600.00", pool.Ratio.Value, pool.Cap)
	}
	if got, want := strings.Join(p.keys, ","), "basic_resident.outpatient.paid,basic_resident.outpatient.threshold"; got != want {
		t.Errorf("keys: got %s, want %s", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name    string
		old     string // replaced in minimalPolicy
		new     string
		line    int
		path    string
		message string
	}{
		{"unknown top-level key", `year: 2022`, "year: 2022\nyeer: 2023", 4, "yeer", `unknown key "yeer"`},
		{"unknown pool key", `cap: "600"`, `cap: "600"` + "\n        capp: 1", 14, "stages[0].pools[0].capp", "unknown key"},
		{"unknown condition key", `when: {scheme: [resident]}`, `when: {schema: [resident]}`, 7, "stages[0].when.schema", "unknown key"},
		{"ratio above 1", `ratio: "0.50"`, `ratio: "1.50"`, 12, "stages[0].pools[0].ratio", "outside [0, 1]"},
		{"negative ratio", `ratio: "0.50"`, `ratio: "-0.1"`, 12, "stages[0].pools[0].ratio", "outside [0, 1]"},
		{"stage without pools", "    pools:\n      - name: outpatient\n        med_types: [outpatient]\n        threshold: {annual: {by_level: {\"1\": \"100\", \"2\": \"200\", \"3\": \"300\"}}}\n        ratio: \"0.50\"\n        cap: \"600\"\n", "", 6, "stages[0].pools", "needs pools"},
		{"empty pools", "    pools:\n      - name: outpatient\n        med_types: [outpatient]\n        threshold: {annual: {by_level: {\"1\": \"100\", \"2\": \"200\", \"3\": \"300\"}}}\n        ratio: \"0.50\"\n        cap: \"600\"\n", "    pools: []\n", 8, "stages[0].pools", "empty"},
		{"by_level missing a level", `"2": "200", `, ``, 11, "stages[0].pools[0].threshold.annual.by_level.2", "missing level 2"},
		{"by_level unknown level", `"3": "300"`, `"3": "300", "4": "400"`, 11, "stages[0].pools[0].threshold.annual.by_level.4", "unknown key"},
		{"unknown fund kind", `kind: hospital_ceiling`, `kind: hospital_cap`, 15, "stages[1].kind", `unknown fund kind "hospital_cap"`},
		{"unparsable amount", `cap: "600"`, `cap: "6OO"`, 13, "stages[0].pools[0].cap", `"6OO" is not an amount`},
		{"amount with three decimals", `cap: "600"`, `cap: "600.001"`, 13, "stages[0].pools[0].cap", "not an amount"},
		{"unknown med type", `med_types: [outpatient]`, `med_types: [dental]`, 10, "stages[0].pools[0].med_types[0]", `unknown med_type "dental"`},
		{"two threshold kinds", `threshold: {annual: {by_level: {"1": "100", "2": "200", "3": "300"}}}`, `threshold: {annual: "1", per_visit: "2"}`, 11, "stages[0].pools[0].threshold", "either"},
		{"field of another kind", `max_share: "0.10"`, "max_share: \"0.10\"\n    covers: [burden]", 17, "stages[1].covers", "not a field of a hospital_ceiling stage"},
		{"unknown bucket", `covers: [burden, preselfpay]`, `covers: [burden, copay]`, 19, "stages[2].covers[1]", `unknown bucket "copay"`},
		{"missing fund", "  - fund: hospital\n    kind", "  - kind", 14, "stages[1].fund", "required"},
		{"level out of range", `when: {scheme: [resident]}`, `when: {level: [4]}`, 7, "stages[0].when.level[0]", "not a level"},
		{"not a boolean", `when: {scheme: [resident]}`, `when: {referred: maybe}`, 7, "stages[0].when.referred", "not true or false"},
		{"a quoted 1 is not a boolean", `when: {scheme: [resident]}`, `when: {in_county: "1"}`, 7, "stages[0].when.in_county", "not true or false"},
		{"unknown scheme", `when: {scheme: [resident]}`, `when: {scheme: [farmer]}`, 7, "stages[0].when.scheme[0]", `unknown value "farmer"`},
		{"ratio with ten decimals", `ratio: "0.50"`, `ratio: "0.5000000001"`, 12, "stages[0].pools[0].ratio", "more than 9 decimals"},
		{"duplicate key", `year: 2022`, "year: 2022\nyear: 2023", 0, "", ""}, // yaml.v3 refuses duplicate keys itself
		{"missing stages", minimalPolicy[strings.Index(minimalPolicy, "stages:"):], "", 1, "stages", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(minimalPolicy, tt.old, tt.new, 1)
			if doc == minimalPolicy {
				t.Fatalf("the test's replacement did not apply")
			}
			_, err := Parse("bad.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", doc)
			}
			if !strings.HasPrefix(err.Error(), "bad.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			if tt.path == "" {
				return
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LoadError", err)
			}
			if le.Path != tt.path || !strings.Contains(le.Reason, tt.message) || le.Line != tt.line {
				t.Errorf("got %s (line %d, path %q)\nwant line %d, path %q, reason containing %q", err, le.Line, le.Path, tt.line, tt.path, tt.message)
			}
		})
	}
}

func TestLoadDirSelectsByRegionAndYear(t *testing.T) {
	set, err := LoadDir("../../testdata/policy/policies")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		region string
		date   Date
		want   string
	}{
		{"320400", Date{2022, 6, 15}, "changzhou-resident-2022"},
		{"370800", Date{2022, 12, 31}, "jining-employee-2022"},
		{"310000", Date{2015, 1, 1}, "shanghai-onestop-2015"},
	}
	for _, tt := range tests {
		p, err := set.Select(tt.region, tt.date)
		if err != nil || p.ID != tt.want {
			t.Errorf("Select(%s, %s) = %v, %v; want %s", tt.region, tt.date, p, err, tt.want)
		}
	}
	if _, err := set.Select("320400", Date{2023, 1, 1}); !errors.Is(err, ErrNoPolicy) {
		t.Errorf("Select for a year without a policy: got %v, want ErrNoPolicy", err)
	}
	if _, err := set.Select("999999", Date{2022, 1, 1}); !errors.Is(err, ErrNoPolicy) {
		t.Errorf("Select for an unknown region: got %v, want ErrNoPolicy", err)
	}
}

func TestNewSetRefusesTwoPoliciesForOneRegionYear(t *testing.T) {
	a, err := Parse("a.yaml", []byte(minimalPolicy))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yaml", []byte(minimalPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSet(a, b); err == nil || !strings.Contains(err.Error(), "both cover region 320400 in 2022") {
		t.Errorf("NewSet of two 320400/2022 policies: got %v", err)
	}
}

func TestLoadDirReportsEveryBadFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/one.yaml", strings.Replace(minimalPolicy, `ratio: "0.50"`, `ratio: "2"`, 1))
	write(t, dir+"/two.yaml", strings.Replace(minimalPolicy, `year: 2022`, `year: 2022`+"\nfoo: 1", 1))
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "one.yaml:12") || !strings.Contains(err.Error(), "two.yaml:4") {
		t.Errorf("got %v, want errors naming one.yaml:12 and two.yaml:4", err)
	}
}
