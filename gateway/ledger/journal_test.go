package ledger_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"onestop/gateway"
	"onestop/gateway/ledger"
)

// TestJournalSurvivesRestart: what was acknowledged is there after a reopen — settlements,
// cancellations, accumulators and the idempotency keys.
func TestJournalSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	a := mustSettle(t, j, "H1", "r1", "p1", "70.00")
	mustSettle(t, j, "H1", "r2", "p1", "50.00")
	if _, _, err := j.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: a.ID}); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j, err = ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	wantAcc(t, j, "p1", map[string]string{"fund.pool.paid": "30", "fund.pool.threshold": "20"})
	key, split := capSplit("H1", "r2", "p1", "50.00")
	if _, replayed, err := j.Settle(ctx, key, split); err != nil || !replayed {
		t.Errorf("the idempotency key did not survive: replayed %v, %v", replayed, err)
	}
	if _, replayed, err := j.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: a.ID}); err != nil || !replayed {
		t.Errorf("the cancel key did not survive: replayed %v, %v", replayed, err)
	}
}

// TestJournalDropsATornLastRecord: a crash in the middle of an append leaves part of a line
// that was never acknowledged; opening drops it and appends after the last whole record.
func TestJournalDropsATornLastRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	mustSettle(t, j, "H1", "r1", "p1", "10.00")
	j.Close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"settle","settlement":{"ID":"torn`)
	f.Close()

	j, err = ledger.OpenJournal(path)
	if err != nil {
		t.Fatalf("a torn last record must not stop the journal: %v", err)
	}
	mustSettle(t, j, "H1", "r2", "p1", "10.00")
	j.Close()
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "torn") || strings.Count(string(data), "\n") != 2 {
		t.Errorf("journal after recovery:\n%s", data)
	}
	j, err = ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	wantAcc(t, j, "p1", map[string]string{"fund.pool.paid": "20"})
}

// TestJournalRefusesACorruptRecord: a bad line before the end is not a crash artefact; the
// journal will not start on it rather than silently lose money.
func TestJournalRefusesACorruptRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	mustSettle(t, j, "H1", "r1", "p1", "10.00")
	mustSettle(t, j, "H1", "r2", "p1", "10.00")
	j.Close()
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(path, []byte("garbage\n"+lines[1]), 0o600)
	if _, err := ledger.OpenJournal(path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("got %v, want a refusal naming line 1", err)
	}
}
