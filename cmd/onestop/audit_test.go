package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
	"onestop/gateway/policy"
)

// runAudit runs `onestop audit args…` and returns its output and exit status (0, 1, or 2 for
// an error).
func runAudit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRoot()
	if c, _, err := root.Find([]string{"audit"}); err != nil || c == root {
		root.AddCommand(auditCmd()) // until main.go registers it
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"audit"}, args...))
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.code
	}
	t.Logf("audit: %v", err)
	return out.String() + err.Error(), 2
}

// auditSplit is a Changzhou outpatient bill (the demo policy: basic resident insurance pays
// into a pool capped at 600.00) paying paid from the pool and the rest in cash. It does not
// look at the position, so a test can overpay the pool.
func auditSplit(person, req, total, paid string) (gateway.SettleKey, func(gateway.Position) (*gateway.Settlement, error)) {
	key := gateway.SettleKey{InstitutionID: "H320401", RequestID: req, RequestHash: "h-" + req, PersonKey: person, Year: 2026}
	return key, func(gateway.Position) (*gateway.Settlement, error) {
		t, p := decimal.RequireFromString(total), decimal.RequireFromString(paid)
		return &gateway.Settlement{
			InstitutionID: key.InstitutionID, RequestID: req, PersonKey: person, Year: 2026, State: gateway.StateSettled,
			Total: t, PolicyScope: t, FundTotal: p, Hospital: decimal.Zero, Account: decimal.Zero, Cash: t.Sub(p),
			Payments: []gateway.FundPayment{{Fund: "basic_resident", FundCode: "390100", Pool: "outpatient", Amount: p,
				ThresholdApplied: decimal.Zero, Ratio: decimal.RequireFromString("0.5")}},
			Deltas: policy.Accumulators{"basic_resident.outpatient.paid": p, gateway.OutOfPocketKey: t.Sub(p)},
			Receipt: gateway.Receipt{MedType: policy.Outpatient, SettleDate: policy.Date{Year: 2026, Month: 6, Day: 1},
				Policy: gateway.PolicyRef{ID: "changzhou-resident-2026", Region: "320400", Year: 2026},
				Person: gateway.PersonSummary{Scheme: "resident", Status: "adult", InsuredRegion: "320400"}},
		}, nil
	}
}

// fillLedger settles two bills and cancels one, all within the cap, then overpays the pool
// with a third when overpay is set.
func fillLedger(t *testing.T, l gateway.Ledger, overpay bool) {
	t.Helper()
	ctx := context.Background()
	settle := func(req, total, paid string) *gateway.Settlement {
		key, split := auditSplit("p1", req, total, paid)
		st, _, err := l.Settle(ctx, key, split)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	settle("r1", "300.00", "150.00")
	st := settle("r2", "200.00", "100.00")
	if _, _, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H320401", RequestID: "c2", SettlementID: st.ID}); err != nil {
		t.Fatal(err)
	}
	if overpay {
		settle("r3", "1000.00", "500.00") // 650.00 paid in the year
	}
}

func TestAuditCommandJournal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.journal")
	j, err := ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fillLedger(t, j, false)

	out, code := runAudit(t, "--data-dir", dir, "--policies", "demo/policies")
	if code != 0 || !strings.Contains(out, "settlements     2 (1 cancelled)") || !strings.Contains(out, "violations      none") {
		t.Fatalf("clean journal: exit %d\n%s", code, out)
	}

	// Overpaid, and onestop dev half-way through writing a record: the audit reads the whole
	// records and leaves the file as it is.
	key, split := auditSplit("p1", "r3", "1000.00", "500.00")
	if _, _, err := j.Settle(context.Background(), key, split); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"settle","settlement":{"ID":`)
	f.Close()
	before, _ := os.ReadFile(path)

	out, code = runAudit(t, "--data-dir", dir, "--policies", "demo/policies")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	lines := strings.Split(out, "\n")
	if want := "cap                p1/2026/basic_resident.outpatient.paid  paid 650.00 is over the cap 600.00 (policy changzhou-resident-2026)"; lines[0] != want {
		t.Errorf("first line %q\nwant       %q", lines[0], want)
	}
	if !strings.Contains(out, "violations      1: cap 1") {
		t.Errorf("summary:\n%s", out)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the audit changed the journal file")
	}
}

// TestAuditCommandDevJournal audits what onestop dev wrote (settles, a replay, a cancel, e-voucher
// settles, the outbox delivered to the simulator) with the demo policies dev unpacked.
func TestAuditCommandDevJournal(t *testing.T) {
	dir := t.TempDir()
	settleAndStop(t, freeAddr(t), freeAddr(t), "dev", "--data-dir", dir)
	out, code := runAudit(t, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "violations      none") || strings.Contains(out, "settlements     0 ") || strings.Contains(out, "outbox rows     0\n") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestAuditCommandPostgres(t *testing.T) {
	pool := ledgertest.Pool(t, 0)
	url := ledgertest.SchemaURL(t, pool.Config().ConnConfig.RuntimeParams["search_path"])
	fillLedger(t, ledger.NewPostgres(pool), true)

	out, code := runAudit(t, "--postgres-url", url, "--policies", "demo/policies", "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	var got []ledger.Violation
	var summary struct{ Summary *ledger.AuditStats }
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"summary"`) {
			if err := json.Unmarshal(sc.Bytes(), &summary); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var v ledger.Violation
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		got = append(got, v)
	}
	if len(got) != 1 || got[0].Check != "cap" || got[0].Subject != "p1/2026/basic_resident.outpatient.paid" {
		t.Errorf("violations %+v", got)
	}
	if s := summary.Summary; s == nil || s.Settlements != 3 || s.Cancellations != 1 || s.PersonYears != 1 || s.Violations["cap"] != 1 {
		t.Errorf("summary %+v", s)
	}

	// Put right (the overpaid bill cancelled), the ledger audits clean.
	var id string
	if err := pool.QueryRow(context.Background(), `select id::text from settlements where request_id = 'r3'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ledger.NewPostgres(pool).Cancel(context.Background(), gateway.CancelKey{InstitutionID: "H320401", RequestID: "c3", SettlementID: id}); err != nil {
		t.Fatal(err)
	}
	if out, code := runAudit(t, "--postgres-url", url, "--policies", "demo/policies"); code != 0 || !strings.Contains(out, "violations      none") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestAuditCommandFlags(t *testing.T) {
	for _, args := range [][]string{
		{},                                   // no ledger
		{"--postgres-url", "postgres://x/y"}, // no policies
		{"--postgres-url", "postgres://x/y", "--data-dir", t.TempDir(), "--policies", "demo/policies"},
		{"--data-dir", t.TempDir(), "--policies", "demo/policies"}, // no journal there
	} {
		if out, code := runAudit(t, args...); code != 2 {
			t.Errorf("audit %q: exit %d, want 2\n%s", args, code, out)
		}
	}
}
