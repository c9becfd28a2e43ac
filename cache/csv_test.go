package cache_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"onestop/cache"
	"onestop/gateway"
)

// TestCSVSnapshotReadsLikeJSONLines: the same persons in both forms give the same records.
func TestCSVSnapshotReadsLikeJSONLines(t *testing.T) {
	dir := t.TempDir()
	csv := "id_number,name,scheme,status,insured_region,county,categories,flags,account_balance,chronic,filings,social_security_card,as_of\n" +
		idOf(1) + ",王小明,resident,adult,320400,320402,dibao:2024-01-01:2026-12-31;tekun::,veteran,12.34,hypertension:H1|H2,320500:2026-03-01:,C1,2026-11-01T08:00:00Z\n" +
		idOf(2) + ",李四,employee,retired,320400,320402,,,,,,,\n" +
		idOf(3) + ",坏,resident,adult,320400,320402,dibao:2024-13-01:,,,,,,\n" +
		"too,few\n"
	jsonl := `{"id_number":"` + idOf(1) + `","name":"王小明","scheme":"resident","status":"adult","insured_region":"320400","county":"320402",` +
		`"categories":[{"code":"dibao","from":"2024-01-01","to":"2026-12-31"},{"code":"tekun"}],"flags":["veteran"],"account_balance":"12.34",` +
		`"chronic":[{"disease":"hypertension","institutions":["H1","H2"]}],"filings":[{"region":"320500","from":"2026-03-01"}],` +
		`"social_security_card":"C1","as_of":"2026-11-01T08:00:00Z"}` + "\n" +
		`{"id_number":"` + idOf(2) + `","name":"李四","scheme":"employee","status":"retired","insured_region":"320400","county":"320402"}` + "\n"
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err := cache.LoadSnapshotFile(write("s.csv", csv), keyer)
	if err == nil || !strings.Contains(err.Error(), "2 bad lines") || !strings.Contains(err.Error(), "line 4: categories[0].from") || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("bad rows: %v", err)
	}
	fromCSV, err := cache.LoadSnapshotFile(write("good.csv", strings.Join(strings.Split(csv, "\n")[:3], "\n")+"\n"), keyer)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := cache.LoadSnapshotFile(write("s.jsonl", jsonl), keyer)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []gateway.Credential{{Type: gateway.CredentialIDCard, Value: idOf(1)}, {Type: gateway.CredentialIDCard, Value: idOf(2)},
		{Type: gateway.CredentialSocialCard, Value: "C1"}} {
		a, errA := fromCSV.Lookup(context.Background(), c)
		b, errB := fromJSON.Lookup(context.Background(), c)
		if errA != nil || errB != nil {
			t.Fatalf("%v: %v / %v", c, errA, errB)
		}
		a.AsOf, b.AsOf = a.AsOf.UTC(), b.AsOf.UTC()
		if c.Value == idOf(2) { // no as_of: each file's own time
			a.AsOf = b.AsOf
		}
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%v:\n csv  %+v\n json %+v", c, a, b)
		}
	}
}
