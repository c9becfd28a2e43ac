package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/dispatch"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
	"onestop/gateway/policy"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeAgency records what it received, idempotently by message id, and can fail.
type fakeAgency struct {
	mu       sync.Mutex
	name     string
	got      map[string]int // message id → posts received
	order    map[string][]string
	failNext int   // fail this many more posts
	reject   bool  // reject everything
	err      error // the failure
}

func newFake(name string) *fakeAgency {
	return &fakeAgency{name: name, got: map[string]int{}, order: map[string][]string{}, err: errors.New("503 service unavailable")}
}

func (f *fakeAgency) Post(_ context.Context, m gateway.OutboxMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reject {
		return &gateway.RejectedError{Agency: f.name, Status: 422, Reason: "unknown institution"}
	}
	if f.failNext > 0 {
		f.failNext--
		return f.err
	}
	if f.got[m.ID] == 0 {
		f.order[m.PersonKey] = append(f.order[m.PersonKey], m.ID)
	}
	f.got[m.ID]++
	return nil
}

func (f *fakeAgency) posts() (distinct, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.got {
		distinct++
		total += n
	}
	return
}

type store interface {
	gateway.Ledger
	gateway.OutboxStore
}

func stores(t *testing.T) map[string]func(t *testing.T) store {
	return map[string]func(t *testing.T) store{
		"journal": func(t *testing.T) store {
			j, err := ledger.OpenJournal(filepath.Join(t.TempDir(), "journal"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			return j
		},
		"postgres": func(t *testing.T) store { return ledger.NewPostgres(ledgertest.Pool(t, 0)) },
	}
}

// settle stores a bill paid by basic_resident and medical_aid: one message for the bureau
// and one for civil affairs.
func settle(t *testing.T, l gateway.Ledger, req, person string) *gateway.Settlement {
	t.Helper()
	d := decimal.RequireFromString
	key := gateway.SettleKey{InstitutionID: "H1", RequestID: req, RequestHash: "h", PersonKey: person, Year: 2022}
	st, _, err := l.Settle(context.Background(), key, func(gateway.Position) (*gateway.Settlement, error) {
		return &gateway.Settlement{InstitutionID: "H1", RequestID: req, PersonKey: person, Year: 2022, State: gateway.StateSettled,
			Total: d("100"), PolicyScope: d("100"), FundTotal: d("80"), Hospital: decimal.Zero, Account: decimal.Zero, Cash: d("20"),
			Payments: []gateway.FundPayment{
				{Fund: "basic_resident", Pool: "o", Amount: d("60"), ThresholdApplied: decimal.Zero, Ratio: d("0.6")},
				{Fund: "medical_aid", Pool: "a", Amount: d("20"), ThresholdApplied: decimal.Zero, Ratio: d("0.5")},
			},
			Deltas:  policy.Accumulators{"basic_resident.o.paid": d("60")},
			Receipt: gateway.Receipt{MedType: policy.Outpatient, SettleDate: policy.Date{Year: 2022, Month: 6, Day: 1}},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func drain(t *testing.T, s store, d *dispatch.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if _, err := d.Once(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := s.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the outbox did not drain: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fast() dispatch.Config {
	return dispatch.Config{BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Poll: time.Millisecond, MaxAttempts: 5}
}

// TestEveryMessageOnceAndInOrder: settlements and cancellations of several persons reach
// both agencies once each, a person's cancellation after its settlement, through failures.
func TestEveryMessageOnceAndInOrder(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			bureau, aid := newFake(gateway.AgencyInsuranceBureau), newFake(gateway.AgencyCivilAffairs)
			aid.failNext = 7 // civil affairs flaps at first
			var settled []*gateway.Settlement
			for i := range 10 {
				st := settle(t, s, fmt.Sprintf("r%d", i), fmt.Sprintf("p%d", i%3))
				settled = append(settled, st)
				if i%2 == 0 {
					if _, _, err := s.Cancel(context.Background(), gateway.CancelKey{InstitutionID: "H1", RequestID: fmt.Sprintf("c%d", i), SettlementID: st.ID}); err != nil {
						t.Fatal(err)
					}
				}
			}
			d := dispatch.New(s, map[string]gateway.Agency{gateway.AgencyInsuranceBureau: bureau, gateway.AgencyCivilAffairs: aid}, fast(), quiet, nil)
			drain(t, s, d)
			for _, f := range []*fakeAgency{bureau, aid} {
				if distinct, total := f.posts(); distinct != 15 || total != 15 {
					t.Errorf("%s received %d distinct, %d in all; want 15 and 15", f.name, distinct, total)
				}
				for person, got := range f.order {
					var want []string
					for i, st := range settled {
						if st.PersonKey == person {
							want = append(want, st.ID+"/settlement")
							if i%2 == 0 {
								want = append(want, st.ID+"/cancellation")
							}
						}
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("%s, person %s: order %v, want %v", f.name, person, got, want)
					}
				}
			}
		})
	}
}

// TestRejectionsAndExhaustionAreDeadLettered, and retry-dead brings them back.
func TestRejectionsAndExhaustionAreDeadLettered(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			bureau, aid := newFake(gateway.AgencyInsuranceBureau), newFake(gateway.AgencyCivilAffairs)
			bureau.reject = true
			aid.failNext = 1000
			settle(t, s, "r1", "p1")
			d := dispatch.New(s, map[string]gateway.Agency{gateway.AgencyInsuranceBureau: bureau, gateway.AgencyCivilAffairs: aid}, fast(), quiet, nil)
			drain(t, s, d)
			st, _ := s.OutboxStats(context.Background())
			if st.Dead != 2 || st.Pending != 0 {
				t.Fatalf("stats %+v", st)
			}
			if n, _ := bureau.posts(); n != 0 {
				t.Error("a rejected message was recorded")
			}
			bureau.reject, aid.failNext = false, 0
			if n, err := s.RetryDead(context.Background()); n != 2 || err != nil {
				t.Fatalf("retry dead: %d %v", n, err)
			}
			drain(t, s, d)
			if st, _ := s.OutboxStats(context.Background()); st.Pending != 0 || st.Dead != 0 {
				t.Errorf("after retry-dead: %+v", st)
			}
		})
	}
}

// TestTwoDispatchersOneOutbox: two gateways' dispatchers (two pools) on one Postgres
// outbox: every message delivered, none twice.
func TestTwoDispatchersOneOutbox(t *testing.T) {
	first := ledgertest.Pool(t, 4)
	a, b := ledger.NewPostgres(first), ledger.NewPostgres(ledgertest.SamePool(t, first, 4))
	for i := range 60 {
		settle(t, a, fmt.Sprintf("r%d", i), fmt.Sprintf("p%d", i%7))
	}
	bureau, aid := newFake(gateway.AgencyInsuranceBureau), newFake(gateway.AgencyCivilAffairs)
	agencies := map[string]gateway.Agency{gateway.AgencyInsuranceBureau: bureau, gateway.AgencyCivilAffairs: aid}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range []store{a, b} {
		wg.Add(1)
		cfg := fast()
		cfg.Batch = 5
		go func() { defer wg.Done(); dispatch.New(s, agencies, cfg, quiet, nil).Run(ctx) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := a.OutboxStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for _, f := range []*fakeAgency{bureau, aid} {
		if distinct, total := f.posts(); distinct != 60 || total != 60 {
			t.Errorf("%s: %d distinct, %d posts; want 60 and 60", f.name, distinct, total)
		}
	}
}

// TestCrashBetweenCommitAndDelivery: a dispatcher claims messages and dies before recording
// anything; once its lease runs out, another delivers every one.
func TestCrashBetweenCommitAndDelivery(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			for i := range 5 {
				settle(t, s, fmt.Sprintf("r%d", i), fmt.Sprintf("p%d", i))
			}
			if rows, err := s.ClaimOutbox(context.Background(), 100, 50*time.Millisecond); err != nil || len(rows) != 10 {
				t.Fatalf("the doomed claim: %d rows, %v", len(rows), err)
			} // …and the process dies here.
			bureau, aid := newFake(gateway.AgencyInsuranceBureau), newFake(gateway.AgencyCivilAffairs)
			d := dispatch.New(s, map[string]gateway.Agency{gateway.AgencyInsuranceBureau: bureau, gateway.AgencyCivilAffairs: aid}, fast(), quiet, nil)
			if n, _ := d.Once(context.Background()); n != 0 {
				t.Fatalf("claimed %d leased rows", n)
			}
			time.Sleep(60 * time.Millisecond)
			drain(t, s, d)
			for _, f := range []*fakeAgency{bureau, aid} {
				if distinct, _ := f.posts(); distinct != 5 {
					t.Errorf("%s: %d delivered, want 5", f.name, distinct)
				}
			}
		})
	}
}
