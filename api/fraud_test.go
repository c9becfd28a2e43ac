package api_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
)

// flags counts what the pipeline tells its observer about fraud checks.
type flags struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *flags) Settled(*gateway.Settlement, *gateway.Institution)    {}
func (f *flags) Replayed(*gateway.Settlement)                         {}
func (f *flags) PreSettled(*gateway.Settlement, *gateway.Institution) {}
func (f *flags) Cancelled(*gateway.Settlement)                        {}

func (f *flags) Flagged(reason string, _ *gateway.Institution) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n[reason]++
}

func (f *flags) count(reason string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[reason]
}

// TestFraudChecks, on both ledgers: the same bill of the same person at the same
// institution under a new request id within the window is held (POSSIBLE_DUPLICATE_BILL)
// until the cashier confirms it, and passes once the window is over or the first is
// cancelled; an inpatient stay overlapping one at another institution is refused
// (CONCURRENT_ADMISSION), one that merely touches it or does not overlap is not. Held and
// refused calls write nothing and are counted.
func TestFraudChecks(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) gateway.Ledger{
		"journal":  func(t *testing.T) gateway.Ledger { return journal(t) },
		"postgres": func(t *testing.T) gateway.Ledger { return ledger.NewPostgres(ledgertest.Pool(t, 0)) },
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, open(t))
			obs := &flags{n: map[string]int{}}
			w.svc.Observer = obs
			now := time.Now()
			w.svc.Now = func() time.Time { return now }
			w.svc.DuplicateWindow = 24 * time.Hour

			a := caseClient(t, w, "c01-dibao-inpatient.json") // inpatient 2022-06-05 – 06-15
			first, err := a.settlement.Settle(a.ctx, a.request("fraud-1"))
			if err != nil {
				t.Fatal(err)
			}
			again := a.request("fraud-2")
			_, err = a.settlement.Settle(a.ctx, again)
			wantStatus(t, err, codes.FailedPrecondition, "POSSIBLE_DUPLICATE_BILL", "confirm_duplicate")
			if _, err := w.ledger.Find(context.Background(), a.inst, "fraud-2"); !errors.Is(err, gateway.ErrSettlementNotFound) {
				t.Fatalf("the held bill was stored: %v", err)
			}
			// The same items in another order and quantity spelling are the same bill.
			reordered := a.request("fraud-3")
			for i, j := 0, len(reordered.Lines)-1; i < j; i, j = i+1, j-1 {
				reordered.Lines[i], reordered.Lines[j] = reordered.Lines[j], reordered.Lines[i]
			}
			reordered.Lines[0].Quantity = "1.000"
			_, err = a.settlement.Settle(a.ctx, reordered)
			wantStatus(t, err, codes.FailedPrecondition, "POSSIBLE_DUPLICATE_BILL", "confirm_duplicate")
			if got := obs.count("POSSIBLE_DUPLICATE_BILL"); got != 2 {
				t.Errorf("%d duplicates counted, want 2", got)
			}
			// A retry of the first request is a replay, not a duplicate.
			if r, err := a.settlement.Settle(a.ctx, a.request("fraud-1")); err != nil || !r.Replayed {
				t.Fatalf("retry of the first request: %v, replayed %v", err, r.GetReplayed())
			}
			again.ConfirmDuplicate = true
			confirmed, err := a.settlement.Settle(a.ctx, again)
			if err != nil {
				t.Fatalf("confirmed duplicate: %v", err)
			}
			// Both cancelled: the bill may come again without a confirmation.
			for i, id := range []string{first.SettlementId, confirmed.SettlementId} {
				if _, err := a.settlement.CancelSettlement(a.ctx, &onestopv1.CancelSettlementRequest{
					RequestId: "fraud-c" + string(rune('0'+i)), InstitutionId: a.inst, SettlementId: id, Reason: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := a.settlement.Settle(a.ctx, a.request("fraud-4")); err != nil {
				t.Fatalf("after cancelling the earlier ones: %v", err)
			}
			// Past the window: no hold.
			now = now.Add(25 * time.Hour)
			if _, err := a.settlement.Settle(a.ctx, a.request("fraud-5")); err != nil {
				t.Fatalf("a day later: %v", err)
			}

			// fraud-4 and fraud-5 stand: a's person is in hospital at a.inst 06-05 – 06-15.
			// Another institution (same region and policy) settling a stay of the same person.
			b := caseClient(t, w, "c03-critical-illness-crossing.json")
			stay := func(id, admission, settle string) *onestopv1.SettleRequest {
				r := b.request(id)
				r.Credential = &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: a.idNumber}
				r.AdmissionDate, r.SettleDate = admission, settle
				return r
			}
			for i, c := range []struct{ admission, settle string }{
				{"2022-06-10", "2022-06-20"}, // starts inside a's stay
				{"2022-06-01", "2022-06-30"}, // contains it
				{"2022-06-06", "2022-06-14"}, // inside it
			} {
				_, err := b.settlement.Settle(b.ctx, stay("stay-"+string(rune('a'+i)), c.admission, c.settle))
				wantStatus(t, err, codes.FailedPrecondition, "CONCURRENT_ADMISSION", "admission_date")
			}
			if got := obs.count("CONCURRENT_ADMISSION"); got != 3 {
				t.Errorf("%d concurrent admissions counted, want 3", got)
			}
			// A transfer: admitted the day a's stay ended. And a later stay.
			for i, c := range []struct{ admission, settle string }{{"2022-06-15", "2022-06-20"}, {"2022-06-21", "2022-06-25"}} {
				if _, err := b.settlement.Settle(b.ctx, stay("stay-ok-"+string(rune('a'+i)), c.admission, c.settle)); err != nil {
					t.Errorf("stay %s – %s: %v", c.admission, c.settle, err)
				}
			}
		})
	}
}
