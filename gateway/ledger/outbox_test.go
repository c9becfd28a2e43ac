package ledger_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/policy"
)

// The outbox half of the conformance suite, on both stores.

func TestPostgresOutbox(t *testing.T) { outboxConformance(t, openPostgres) }

func TestJournalOutbox(t *testing.T) { outboxConformance(t, openJournal) }

func outboxConformance(t *testing.T, open func(*testing.T) gateway.Ledger) {
	for _, tt := range []struct {
		name string
		run  func(*testing.T, gateway.Ledger, gateway.OutboxStore)
	}{
		{"messages are written with the settlement and its cancellation", testOutboxWritten},
		{"leases, failures, dead letters", testOutboxLifecycle},
		{"in order per person and agency", testOutboxOrder},
		{"a high-cost alert once per person, year and threshold", testOutboxAlertOnce},
		{"concurrent claims never share a row", testOutboxConcurrentClaims},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := open(t)
			tt.run(t, l, l.(gateway.OutboxStore))
		})
	}
}

// aidSplit pays basic_resident 60 and medical_aid 20 of a 100.00 bill, the account 5:
// messages for the insurance bureau and civil affairs.
func aidSplit(req, person string, alerts ...gateway.HighCostAlert) (gateway.SettleKey, func(gateway.Position) (*gateway.Settlement, error)) {
	key := gateway.SettleKey{InstitutionID: "H1", RequestID: req, RequestHash: "h-" + req, PersonKey: person, Year: 2022,
		AccountSince: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := decimal.RequireFromString
	return key, func(gateway.Position) (*gateway.Settlement, error) {
		return &gateway.Settlement{
			InstitutionID: "H1", RequestID: req, PersonKey: person, Year: 2022, State: gateway.StateSettled,
			Total: d("100"), PolicyScope: d("100"), FundTotal: d("80"), Hospital: decimal.Zero, Account: d("5"), Cash: d("15"),
			Payments: []gateway.FundPayment{
				{Fund: "basic_resident", FundCode: "390100", Pool: "outpatient", Amount: d("60"), ThresholdApplied: decimal.Zero, Ratio: d("0.6")},
				{Fund: "medical_aid", FundCode: "610100", Pool: "all", Amount: d("20"), ThresholdApplied: decimal.Zero, Ratio: d("0.5")},
			},
			Deltas:  policy.Accumulators{"basic_resident.outpatient.paid": d("60")},
			Receipt: gateway.Receipt{MedType: policy.Outpatient, SettleDate: policy.Date{Year: 2022, Month: 6, Day: 1}, Person: gateway.PersonSummary{NameMasked: "张*"}},
			Alerts:  alerts,
		}, nil
	}
}

func settleAid(t *testing.T, l gateway.Ledger, req, person string, alerts ...gateway.HighCostAlert) *gateway.Settlement {
	t.Helper()
	key, split := aidSplit(req, person, alerts...)
	st, _, err := l.Settle(ctx, key, split)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func claim(t *testing.T, o gateway.OutboxStore, n int) []gateway.OutboxRow {
	t.Helper()
	rows, err := o.ClaimOutbox(ctx, n, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func ids(rows []gateway.OutboxRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Message.Agency+" "+r.Message.ID)
	}
	return out
}

func deliverAll(t *testing.T, o gateway.OutboxStore, rows []gateway.OutboxRow) {
	t.Helper()
	for _, r := range rows {
		if err := o.OutboxDelivered(ctx, r.Seq); err != nil {
			t.Fatal(err)
		}
	}
}

func testOutboxWritten(t *testing.T, l gateway.Ledger, o gateway.OutboxStore) {
	st := settleAid(t, l, "r1", "p1")
	key, split := aidSplit("r1", "p1")
	if _, replayed, err := l.Settle(ctx, key, split); err != nil || !replayed {
		t.Fatalf("replay: %v %v", replayed, err)
	}
	rows := claim(t, o, 10)
	want := []string{"insurance_bureau " + st.ID + "/settlement", "civil_affairs " + st.ID + "/settlement"}
	if !slices.Equal(ids(rows), want) {
		t.Fatalf("claimed %v, want %v (the replay wrote nothing)", ids(rows), want)
	}
	var notice gateway.AgencyNotice
	if err := json.Unmarshal(rows[1].Message.Payload, &notice); err != nil || len(notice.Payments) != 1 || notice.Payments[0].Fund != "medical_aid" ||
		notice.SettlementID != st.ID || !notice.Account.IsZero() {
		t.Errorf("civil affairs' notice: %+v, %v", notice, err)
	}
	if err := json.Unmarshal(rows[0].Message.Payload, &notice); err != nil || !notice.Account.Equal(decimal.RequireFromString("5")) {
		t.Errorf("the bureau's notice carries the account payment: %+v, %v", notice, err)
	}
	deliverAll(t, o, rows)
	if _, _, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: st.ID}); err != nil {
		t.Fatal(err)
	}
	rows = claim(t, o, 10)
	want = []string{"insurance_bureau " + st.ID + "/cancellation", "civil_affairs " + st.ID + "/cancellation"}
	if !slices.Equal(ids(rows), want) {
		t.Fatalf("after the cancel: %v, want %v", ids(rows), want)
	}
	var cancelled map[string]any
	if err := json.Unmarshal(rows[0].Message.Payload, &cancelled); err != nil || cancelled["cancelled_at"] == nil || cancelled["settlement_id"] != st.ID {
		t.Errorf("cancellation payload %v, %v", cancelled, err)
	}
	stats, err := o.OutboxStats(ctx)
	if err != nil || stats.Pending != 2 || stats.PendingByAgency["civil_affairs"] != 1 || stats.OldestPending.IsZero() {
		t.Errorf("stats %+v, %v", stats, err)
	}
}

func testOutboxLifecycle(t *testing.T, l gateway.Ledger, o gateway.OutboxStore) {
	settleAid(t, l, "r1", "p1")
	rows := claim(t, o, 1)
	if len(rows) != 1 || rows[0].Attempts != 1 {
		t.Fatalf("first claim %+v", rows)
	}
	first := rows[0]
	// Leased: not claimed again; the other agency's row is.
	if again := claim(t, o, 10); len(again) != 1 || again[0].Seq == first.Seq {
		t.Fatalf("while leased: %v", ids(again))
	}
	if err := o.OutboxFailed(ctx, first.Seq, time.Now().Add(time.Hour), "503 from the agency", false); err != nil {
		t.Fatal(err)
	}
	if again := claim(t, o, 10); len(again) != 0 {
		t.Fatalf("before its next attempt: %v", ids(again))
	}
	if err := o.OutboxFailed(ctx, first.Seq, time.Now().Add(-time.Second), "503 again", false); err != nil {
		t.Fatal(err)
	}
	rows = claim(t, o, 10)
	if len(rows) != 1 || rows[0].Seq != first.Seq || rows[0].Attempts != 2 {
		t.Fatalf("due again: %+v", rows)
	}
	if err := o.OutboxFailed(ctx, first.Seq, time.Now(), "too many attempts", true); err != nil {
		t.Fatal(err)
	}
	if again := claim(t, o, 10); len(again) != 0 {
		t.Fatalf("dead rows are not claimed: %v", ids(again))
	}
	stats, _ := o.OutboxStats(ctx)
	if stats.Dead != 1 {
		t.Errorf("stats %+v", stats)
	}
	if n, err := o.RetryDead(ctx); n != 1 || err != nil {
		t.Fatalf("retry dead: %d, %v", n, err)
	}
	rows = claim(t, o, 10)
	if len(rows) != 1 || rows[0].Seq != first.Seq || rows[0].Attempts != 1 {
		t.Fatalf("after retry-dead: %+v", rows)
	}
}

func testOutboxOrder(t *testing.T, l gateway.Ledger, o gateway.OutboxStore) {
	a := settleAid(t, l, "r1", "p1")
	b := settleAid(t, l, "r2", "p1")
	other := settleAid(t, l, "r3", "p2")
	rows := claim(t, o, 10)
	// One message per agency and person at a time: p1's second settlement waits for its first.
	want := []string{"insurance_bureau " + a.ID + "/settlement", "civil_affairs " + a.ID + "/settlement",
		"insurance_bureau " + other.ID + "/settlement", "civil_affairs " + other.ID + "/settlement"}
	if !slices.Equal(ids(rows), want) {
		t.Fatalf("claimed %v, want %v", ids(rows), want)
	}
	// The bureau delivered a's; civil affairs failed it: b goes to the bureau only.
	deliverAll(t, o, rows[:1])
	if err := o.OutboxFailed(ctx, rows[1].Seq, time.Now().Add(-time.Second), "down", false); err != nil {
		t.Fatal(err)
	}
	rows = claim(t, o, 10)
	want = []string{"civil_affairs " + a.ID + "/settlement", "insurance_bureau " + b.ID + "/settlement"}
	if !slices.Equal(ids(rows), want) {
		t.Fatalf("claimed %v, want %v", ids(rows), want)
	}
}

func testOutboxAlertOnce(t *testing.T, l gateway.Ledger, o gateway.OutboxStore) {
	alert := gateway.HighCostAlert{Year: 2022, Threshold: decimal.RequireFromString("10000"), OutOfPocket: decimal.RequireFromString("10015"), AidHolder: true}
	st := settleAid(t, l, "r1", "p1", alert)
	settleAid(t, l, "r2", "p1", alert) // crossed again after a cancellation, say: no second alert
	var alerts []string
	for range 3 {
		rows := claim(t, o, 10)
		for _, r := range rows {
			if r.Message.Kind == gateway.OutboxKindHighCostAlert {
				alerts = append(alerts, r.Message.ID)
				if r.Message.Agency != gateway.AgencyCivilAffairs || r.Message.SettlementID != st.ID {
					t.Errorf("alert %+v", r.Message)
				}
			}
		}
		deliverAll(t, o, rows)
	}
	if want := []string{"p1/2022/high-cost/10000.00"}; !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
}

func testOutboxConcurrentClaims(t *testing.T, l gateway.Ledger, o gateway.OutboxStore) {
	for i := range 20 {
		settleAid(t, l, "r"+string(rune('a'+i)), "p"+string(rune('a'+i)))
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rows, err := o.ClaimOutbox(ctx, 3, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(rows) == 0 {
					return
				}
				mu.Lock()
				for _, r := range rows {
					seen[r.Seq]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("%d rows claimed, want 40", len(seen))
	}
	for seq, n := range seen {
		if n != 1 {
			t.Errorf("row %d claimed %d times", seq, n)
		}
	}
}

// TestJournalOutboxSurvivesARestart: what was delivered stays delivered; what was leased
// when the process died is due again (the agency receives it idempotently).
func TestJournalOutboxSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	st := settleAid(t, j, "r1", "p1")
	rows := claim(t, j, 10)
	deliverAll(t, j, rows[:1]) // the bureau's; civil affairs' is leased when we "crash"
	j.Close()

	j, err = ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rows = claim(t, j, 10)
	if want := []string{"civil_affairs " + st.ID + "/settlement"}; !slices.Equal(ids(rows), want) {
		t.Fatalf("after a restart: %v, want %v", ids(rows), want)
	}
}
