package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
	"onestop/gateway/policy"
)

// The conformance suite: every gateway.Ledger must pass all of it.

func TestPostgres(t *testing.T) { conformance(t, openPostgres) }

func TestJournal(t *testing.T) { conformance(t, openJournal) }

// openPostgres and openJournal give a test a ledger of its own, of each kind.
func openPostgres(t *testing.T) gateway.Ledger { return ledger.NewPostgres(ledgertest.Pool(t, 0)) }

func openJournal(t *testing.T) gateway.Ledger {
	j, err := ledger.OpenJournal(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func conformance(t *testing.T, open func(*testing.T) gateway.Ledger) {
	tests := []struct {
		name string
		run  func(*testing.T, gateway.Ledger)
	}{
		{"settle then get", testSettleGet},
		{"replay writes nothing", testReplay},
		{"same key, other request", testConflict},
		{"split error writes nothing", testSplitError},
		{"cancel restores accumulators", testCancel},
		{"cancel errors", testCancelErrors},
		{"get errors", testGetErrors},
		{"find by request id", testFind},
		{"account spent since the snapshot", testAccountSpent},
		{"concurrent settles of one person", testConcurrentPerson},
		{"storm of one request", testStorm},
		{"statements over months", testStatementMonths},
		{"list settlements", testListSettlements},
		{"aid indicators and group quota", testIndicatorsAndQuota},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

var ctx = context.Background()

// capSplit is a split that pays min(amount, cap room) from a pool with a 100.00 cap and
// credits the rest to a threshold: enough policy to check that locking keeps caps true.
func capSplit(inst, req, person string, amount string) (gateway.SettleKey, func(gateway.Position) (*gateway.Settlement, error)) {
	key := gateway.SettleKey{InstitutionID: inst, RequestID: req, RequestHash: "h-" + req + amount, PersonKey: person, Year: 2022,
		AccountSince: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)}
	return key, func(pos gateway.Position) (*gateway.Settlement, error) {
		total := decimal.RequireFromString(amount)
		room := decimal.Max(decimal.Zero, decimal.New(100, 0).Sub(pos.Accumulators["fund.pool.paid"]))
		pay := decimal.Min(total, room)
		st := &gateway.Settlement{
			InstitutionID: inst, RequestID: req, PersonKey: person, Year: 2022, State: gateway.StateSettled,
			Total: total, PolicyScope: total, FundTotal: pay, Hospital: decimal.Zero, Account: decimal.Zero, Cash: total.Sub(pay),
			Payments: []gateway.FundPayment{{Fund: "fund", FundCode: "390100", Pool: "pool", Amount: pay, ThresholdApplied: decimal.Zero, Ratio: decimal.RequireFromString("0.8")}},
			Deltas:   policy.Accumulators{"fund.pool.paid": pay, "fund.pool.threshold": total.Sub(pay)},
			Receipt:  gateway.Receipt{MedType: policy.Outpatient, SettleDate: policy.Date{Year: 2022, Month: 6, Day: 1}, Person: gateway.PersonSummary{NameMasked: "张*"}},
		}
		if pay.IsZero() {
			delete(st.Deltas, "fund.pool.paid")
		}
		if total.Equal(pay) {
			delete(st.Deltas, "fund.pool.threshold")
		}
		return st, nil
	}
}

func mustSettle(t *testing.T, l gateway.Ledger, inst, req, person, amount string) *gateway.Settlement {
	t.Helper()
	key, split := capSplit(inst, req, person, amount)
	st, replayed, err := l.Settle(ctx, key, split)
	if err != nil || replayed {
		t.Fatalf("Settle %s: %v (replayed %v)", req, err, replayed)
	}
	return st
}

func position(t *testing.T, l gateway.Ledger, person string) gateway.Position {
	t.Helper()
	pos, err := l.Position(ctx, person, 2022, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func wantAcc(t *testing.T, l gateway.Ledger, person string, want map[string]string) {
	t.Helper()
	got := position(t, l, person).Accumulators
	if len(got) != len(want) {
		t.Errorf("accumulators: got %v, want %v", got, want)
	}
	for k, v := range want {
		if !got[k].Equal(decimal.RequireFromString(v)) {
			t.Errorf("accumulator %s: got %s, want %s", k, got[k], v)
		}
	}
}

func testSettleGet(t *testing.T, l gateway.Ledger) {
	st := mustSettle(t, l, "H1", "r1", "p1", "30.00")
	if st.ID == "" || st.SettledAt.IsZero() || st.State != gateway.StateSettled {
		t.Fatalf("settle answered %+v", st)
	}
	got, err := l.Get(ctx, "H1", st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != st.ID || !got.SettledAt.Equal(st.SettledAt) || !got.Cash.Equal(st.Cash) || !got.FundTotal.Equal(decimal.New(30, 0)) ||
		len(got.Payments) != 1 || !got.Payments[0].Ratio.Equal(decimal.RequireFromString("0.8")) || got.Payments[0].FundCode != "390100" ||
		got.Receipt.Person.NameMasked != "张*" || got.Receipt.SettleDate != st.Receipt.SettleDate || got.RequestHash != st.RequestHash {
		t.Errorf("Get answered %+v\nSettle answered %+v", got, st)
	}
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "30"})
}

func testReplay(t *testing.T, l gateway.Ledger) {
	first := mustSettle(t, l, "H1", "r1", "p1", "30.00")
	key, split := capSplit("H1", "r1", "p1", "30.00")
	calls := 0
	again, replayed, err := l.Settle(ctx, key, func(p gateway.Position) (*gateway.Settlement, error) { calls++; return split(p) })
	if err != nil || !replayed || again.ID != first.ID || !again.Cash.Equal(first.Cash) {
		t.Fatalf("replay: %+v, %v, %v", again, replayed, err)
	}
	if calls != 0 {
		t.Errorf("a replay split the bill again (%d calls)", calls)
	}
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "30"})
}

func testConflict(t *testing.T, l gateway.Ledger) {
	mustSettle(t, l, "H1", "r1", "p1", "30.00")
	key, split := capSplit("H1", "r1", "p1", "31.00")
	_, _, err := l.Settle(ctx, key, split)
	if !errors.Is(err, gateway.ErrIdempotencyConflict) {
		t.Fatalf("got %v, want IDEMPOTENCY_CONFLICT", err)
	}
	// The same request id at another institution is another key.
	mustSettle(t, l, "H2", "r1", "p1", "31.00")
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "61"})
}

func testSplitError(t *testing.T, l gateway.Ledger) {
	key, _ := capSplit("H1", "r1", "p1", "30.00")
	boom := errors.New("boom")
	if _, _, err := l.Settle(ctx, key, func(gateway.Position) (*gateway.Settlement, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the split's error", err)
	}
	wantAcc(t, l, "p1", map[string]string{})
	mustSettle(t, l, "H1", "r1", "p1", "30.00") // the key is still free
}

func testCancel(t *testing.T, l gateway.Ledger) {
	a := mustSettle(t, l, "H1", "r1", "p1", "70.00")
	mustSettle(t, l, "H1", "r2", "p1", "50.00") // pays 30 up to the cap, 20 to the threshold
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "100", "fund.pool.threshold": "20"})
	st, replayed, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: a.ID, Reason: "wrong patient"})
	if err != nil || replayed || st.State != gateway.StateCancelled || st.CancelledAt.IsZero() || st.Cancellation == nil || st.Cancellation.Reason != "wrong patient" {
		t.Fatalf("cancel: %+v, %v, %v", st, replayed, err)
	}
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "30", "fund.pool.threshold": "20"})
	again, replayed, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: a.ID})
	if err != nil || !replayed || !again.CancelledAt.Equal(st.CancelledAt) {
		t.Fatalf("cancel replay: %+v, %v, %v", again, replayed, err)
	}
	got, err := l.Get(ctx, "H1", a.ID)
	if err != nil || got.State != gateway.StateCancelled || !got.CancelledAt.Equal(st.CancelledAt) {
		t.Fatalf("get after cancel: %+v, %v", got, err)
	}
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "30", "fund.pool.threshold": "20"})
}

func testCancelErrors(t *testing.T, l gateway.Ledger) {
	a := mustSettle(t, l, "H1", "r1", "p1", "10.00")
	b := mustSettle(t, l, "H1", "r2", "p1", "10.00")
	if _, _, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: a.ID}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  gateway.CancelKey
		want string
	}{
		{"a new cancel of a cancelled settlement", gateway.CancelKey{InstitutionID: "H1", RequestID: "c2", SettlementID: a.ID}, gateway.ReasonAlreadyCancelled},
		{"another institution", gateway.CancelKey{InstitutionID: "H2", RequestID: "c3", SettlementID: b.ID}, gateway.ReasonWrongInstitution},
		{"unknown settlement", gateway.CancelKey{InstitutionID: "H1", RequestID: "c4", SettlementID: "0190a000-0000-7000-8000-000000000000"}, gateway.ReasonSettlementNotFound},
		{"not an id", gateway.CancelKey{InstitutionID: "H1", RequestID: "c5", SettlementID: "x'; drop table settlements; --"}, gateway.ReasonSettlementNotFound},
		{"cancel request id reused for another settlement", gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: b.ID}, gateway.ReasonIdempotencyConflict},
	}
	for _, tt := range tests {
		_, _, err := l.Cancel(ctx, tt.key)
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Reason != tt.want {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.want)
		}
	}
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "10"})
}

func testGetErrors(t *testing.T, l gateway.Ledger) {
	a := mustSettle(t, l, "H1", "r1", "p1", "10.00")
	for _, tt := range []struct{ inst, id, want string }{
		{"H2", a.ID, gateway.ReasonWrongInstitution},
		{"H1", "0190a000-0000-7000-8000-000000000000", gateway.ReasonSettlementNotFound},
		{"H1", "nope", gateway.ReasonSettlementNotFound},
	} {
		_, err := l.Get(ctx, tt.inst, tt.id)
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Reason != tt.want {
			t.Errorf("Get(%s, %s): got %v, want %s", tt.inst, tt.id, err, tt.want)
		}
	}
}

func testFind(t *testing.T, l gateway.Ledger) {
	a := mustSettle(t, l, "H1", "r1", "p1", "10.00")
	got, err := l.Find(ctx, "H1", "r1")
	if err != nil || got.ID != a.ID || got.RequestHash != a.RequestHash {
		t.Fatalf("Find: %+v, %v", got, err)
	}
	for _, k := range [][2]string{{"H2", "r1"}, {"H1", "r2"}} {
		if _, err := l.Find(ctx, k[0], k[1]); !errors.Is(err, gateway.ErrSettlementNotFound) {
			t.Errorf("Find(%s, %s): got %v, want SETTLEMENT_NOT_FOUND", k[0], k[1], err)
		}
	}
}

func testAccountSpent(t *testing.T, l gateway.Ledger) {
	settleAccount := func(req, account string) *gateway.Settlement {
		key, split := capSplit("H1", req, "p1", "10.00")
		st, _, err := l.Settle(ctx, key, func(p gateway.Position) (*gateway.Settlement, error) {
			st, err := split(p)
			st.Account = decimal.RequireFromString(account)
			st.Cash = st.Cash.Sub(st.Account)
			return st, err
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := settleAccount("r1", "3.00")
	mid := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	settleAccount("r2", "4.00")
	spent := func(since time.Time) string {
		pos, err := l.Position(ctx, "p1", 2022, since)
		if err != nil {
			t.Fatal(err)
		}
		return pos.AccountSpent.StringFixed(2)
	}
	if got := spent(mid.Add(-time.Hour)); got != "7.00" {
		t.Errorf("spent since before both: got %s, want 7.00", got)
	}
	if got := spent(mid); got != "4.00" {
		t.Errorf("spent since between: got %s, want 4.00", got)
	}
	if _, _, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: a.ID}); err != nil {
		t.Fatal(err)
	}
	// The first settlement was before the snapshot, its cancellation after: the refund is
	// money the snapshot's balance does not know about yet.
	if got := spent(mid); got != "1.00" {
		t.Errorf("spent since between, after cancelling the first: got %s, want 1.00 (4.00 - 3.00)", got)
	}
	if got := spent(time.Now().Add(time.Hour)); got != "0.00" {
		t.Errorf("spent since the future: got %s, want 0.00", got)
	}
	// A zero moment: the bill does not use the account, and nothing is read.
	if got := spent(time.Time{}); got != "0.00" {
		t.Errorf("spent since the zero time: got %s, want 0.00", got)
	}
}

// testConcurrentPerson: 40 bills of one person at once, of 5.00 each, against a cap of
// 100.00: exactly 20 are paid, and the accumulators equal the sum of the stored deltas.
func testConcurrentPerson(t *testing.T, l gateway.Ledger) {
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ids := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, split := capSplit("H1", fmt.Sprintf("r%d", i), "p1", "5.00")
			st, _, err := l.Settle(ctx, key, split)
			if err != nil {
				errs <- err
				return
			}
			ids <- st.ID
		}()
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	sum := map[string]decimal.Decimal{}
	for id := range ids {
		st, err := l.Get(ctx, "H1", id)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range st.Deltas {
			sum[k] = sum[k].Add(v)
		}
	}
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "100", "fund.pool.threshold": "100"})
	if !sum["fund.pool.paid"].Equal(decimal.New(100, 0)) || !sum["fund.pool.threshold"].Equal(decimal.New(100, 0)) {
		t.Errorf("sum of stored deltas %v, want 100 paid and 100 threshold", sum)
	}
}

// testStorm: 100 identical calls at once store one settlement and answer it 100 times.
func testStorm(t *testing.T, l gateway.Ledger) {
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]int{}
	fresh := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, split := capSplit("H1", "storm", "p1", "5.00")
			st, replayed, err := l.Settle(ctx, key, split)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			ids[st.ID]++
			if !replayed {
				fresh++
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || fresh != 1 {
		t.Errorf("got settlements %v and %d fresh answers; want one settlement answered once fresh", ids, fresh)
	}
	wantAcc(t, l, "p1", map[string]string{"fund.pool.paid": "5"})
}
