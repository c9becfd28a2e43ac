package cache

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzSnapshotLines: any snapshot file, JSON Lines or CSV, is read without panicking; bad
// lines are reported with a line number inside the file; every line accepted as a person has
// a valid ID number, a person key that is the ID's HMAC, and masked name and ID that do not
// give the ID away.
func FuzzSnapshotLines(f *testing.F) {
	f.Add([]byte(`{"id_number":"320402198001011234","name":"张三丰","scheme":"resident","status":"adult","insured_region":"320400","categories":[{"code":"dibao","from":"2026-01-01"}],"account_balance":"12.50"}` + "\n" +
		`{"id_number":"32040219800101123X","name":"李","insured_region":"320400","op":"remove"}` + "\n" + `{"id_number":1}`))
	f.Add([]byte(strings.Join(csvHeader, ",") + "\n" +
		"320402198001011234,张三,resident,adult,320400,320412,dibao:2026-01-01:,,10.00,hypertension:H1|H2,320500:2024-01-01:2024-12-31,C1,2026-01-01T00:00:00Z\n" +
		"bad,\"unterminated\n"))
	f.Add([]byte("\n\n   \n{}\n"))
	keyer := NewKeyer("fuzz-secret")
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		each := func(n int, l *Line) error {
			if n < 1 || n > lines {
				t.Fatalf("line number %d in a file of %d lines", n, lines)
			}
			p, err := l.Person(keyer, now)
			if err != nil {
				return err
			}
			if !validIDNumber(l.IDNumber) || p.Key != keyer.IDKey(l.IDNumber) {
				t.Fatalf("accepted id %q with key %s", l.IDNumber, p.Key)
			}
			if p.IDMasked == l.IDNumber || strings.Contains(p.IDMasked, l.IDNumber[4:14]) || strings.Contains(p.NameMasked+p.IDMasked, l.IDNumber) {
				t.Fatalf("masked %q / %q gives %q away", p.NameMasked, p.IDMasked, l.IDNumber)
			}
			// At most the first and the last character of a name survive masking.
			if r, m := []rune(l.Name), []rune(p.NameMasked); len(r) >= 2 && (len(m) != len(r) || strings.Trim(string(m[1:len(m)-1]), "*") != "" || (len(r) == 2 && m[1] != '*')) {
				t.Fatalf("name %q masked as %q", l.Name, p.NameMasked)
			}
			return nil
		}
		for name, read := range map[string]func() ([]LineError, error){
			"jsonl": func() ([]LineError, error) { return ReadSnapshot(bytes.NewReader(data), each) },
			"csv":   func() ([]LineError, error) { return ReadSnapshotCSV(bytes.NewReader(data), each) },
		} {
			bad, _ := read()
			for _, e := range bad {
				if e.Line < 1 || e.Line > lines || e.Err == nil {
					t.Fatalf("%s: bad line reported as %d (%v) in a file of %d lines", name, e.Line, e.Err, lines)
				}
			}
		}
	})
}
