package refdata

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"onestop/gateway"
)

// TestCatalogSearch: code prefixes first, then names containing the query, in code order,
// only the region's own items, at most the limit.
func TestCatalogSearch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.csv")
	if err := os.WriteFile(path, []byte(`region,code,name,class,ceiling_unit_price
R1,DRUG-2,头孢克肟 cefixime,B,
R1,DRUG-1,阿莫西林 amoxicillin,A,1.50
R1,EXAM-1,血常规 blood drug screen,A,
R1,CT-1,CT 平扫,B,300
R2,DRUG-3,other region drug,A,
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	codes := func(items []gateway.Item) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.Code)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		limit int
		want  []string
	}{
		{"drug", 10, []string{"DRUG-1", "DRUG-2", "EXAM-1"}}, // EXAM-1 by its name, after the codes
		{"阿莫", 10, []string{"DRUG-1"}},
		{"", 2, []string{"CT-1", "DRUG-1"}},
		{"ct", 10, []string{"CT-1"}},
		{"nothing", 10, nil},
	} {
		if got := codes(c.Search("R1", tc.query, tc.limit)); !slices.Equal(got, tc.want) {
			t.Errorf("Search(%q, %d) = %v, want %v", tc.query, tc.limit, got, tc.want)
		}
	}
}
