package api_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
)

// twoInstances is the fixture world served by two gateways, each with its own pool on one
// Postgres schema, as two replicas behind a load balancer would be.
func twoInstances(t *testing.T) (*world, [2]*grpc.ClientConn) {
	first := ledgertest.Pool(t, 8)
	w := newWorld(t, ledger.NewPostgres(first))
	svc2 := *w.svc
	svc2.Ledger = ledger.NewPostgres(ledgertest.SamePool(t, first, 8))
	return w, [2]*grpc.ClientConn{serve(t, w.svc), serve(t, &svc2)}
}

func caseClient(t *testing.T, w *world, name string) *client {
	for file, cl := range w.clients {
		if filepath.Base(file) == name {
			return cl
		}
	}
	t.Fatalf("no case %s", name)
	return nil
}

// TestConcurrentBillsOfOnePerson: 200 bills of one person at once through two instances.
// Afterwards each accumulator equals the sum of the settled bills' deltas and no pool has
// paid past its cap (c02's person: outpatient basic cap 600, outpatient aid cap 1000).
func TestConcurrentBillsOfOnePerson(t *testing.T) {
	w, conns := twoInstances(t)
	cl := caseClient(t, w, "c02-outpatient-aid-cap.json")
	const n = 200
	var wg sync.WaitGroup
	results := make(chan *onestopv1.SettleResponse, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := onestopv1.NewSettlementServiceClient(conns[i%2]).Settle(cl.ctx, cl.request(fmt.Sprintf("bill-%d", i)))
			if err != nil {
				t.Errorf("bill %d: %v", i, err)
				return
			}
			results <- resp
		}()
	}
	wg.Wait()
	close(results)
	sum := map[string]decimal.Decimal{}
	count := 0
	for resp := range results {
		count++
		st, err := w.ledger.Get(context.Background(), cl.inst, resp.SettlementId)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range st.Deltas {
			sum[k] = sum[k].Add(v)
		}
	}
	if count != n {
		t.Fatalf("%d of %d bills settled", count, n)
	}
	pos, err := w.ledger.Position(context.Background(), cl.person, 2022, cl.c.Visit.Date.AsTime())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range pos.Accumulators {
		if !v.Equal(sum[k]) {
			t.Errorf("accumulator %s = %s, but the settled deltas sum to %s", k, v, sum[k])
		}
	}
	for k, limit := range map[string]string{"basic_resident.outpatient.paid": "600", "medical_aid.outpatient.paid": "1000"} {
		if pos.Accumulators[k].GreaterThan(decimal.RequireFromString(limit)) {
			t.Errorf("%s = %s, past its cap %s", k, pos.Accumulators[k], limit)
		}
		if !pos.Accumulators[k].Equal(decimal.RequireFromString(limit)) {
			t.Errorf("%s = %s: 200 bills of 420.00 should have used the whole cap %s", k, pos.Accumulators[k], limit)
		}
	}
}

// TestStormOfOneRequest: 500 identical Settle calls through two instances store one
// settlement and give 500 identical answers, one of them not replayed.
func TestStormOfOneRequest(t *testing.T) {
	w, conns := twoInstances(t)
	cl := caseClient(t, w, "p05-hospital-ceiling.json")
	const n = 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids, cash := map[string]int{}, map[string]int{}
	fresh := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := onestopv1.NewSettlementServiceClient(conns[i%2]).Settle(cl.ctx, cl.request("storm"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			ids[resp.SettlementId]++
			cash[resp.Cash+"/"+resp.Hospital]++
			if !resp.Replayed {
				fresh++
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || len(cash) != 1 || fresh != 1 {
		t.Errorf("got ids %v, answers %v, %d fresh; want one settlement, one answer, one fresh", ids, cash, fresh)
	}
}
