package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
)

// TestHighCostAlertOncePerYear: the bill that takes a person's out-of-pocket spending past
// the threshold puts one alert for civil affairs in the outbox; cancelling it and settling
// again crosses the threshold again but raises nothing new.
func TestHighCostAlertOncePerYear(t *testing.T) {
	l := journal(t)
	w := newWorld(t, l)
	cl := caseClient(t, w, "j01-first-outpatient-level1.json")
	pre, err := cl.settlement.PreSettle(cl.ctx, cl.request(""))
	if err != nil {
		t.Fatal(err)
	}
	spent := decimal.RequireFromString(pre.Cash).Add(decimal.RequireFromString(pre.Account))
	w.svc.HighCost = []gateway.HighCostRule{{Threshold: spent.Sub(decimal.New(1, -2))}, {Threshold: spent.Add(decimal.New(1, 0))}}

	alerts := func() (ids []string) {
		var store gateway.OutboxStore = l
		rows, err := store.ClaimOutbox(context.Background(), 1000, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Message.Kind == gateway.OutboxKindHighCostAlert {
				ids = append(ids, r.Message.ID)
				if r.Message.Agency != gateway.AgencyCivilAffairs || r.Message.PersonKey != cl.person {
					t.Errorf("alert %+v", r.Message)
				}
			}
			if err := store.OutboxDelivered(context.Background(), r.Seq); err != nil {
				t.Fatal(err)
			}
		}
		return ids
	}
	first, err := cl.settlement.Settle(cl.ctx, cl.request("hc-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := alerts(); len(got) != 1 {
		t.Fatalf("after crossing the first threshold: alerts %v, want one", got)
	}
	if _, err := cl.settlement.CancelSettlement(cl.ctx, &onestopv1.CancelSettlementRequest{RequestId: "hc-c1", InstitutionId: cl.inst, SettlementId: first.SettlementId}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.settlement.Settle(cl.ctx, cl.request("hc-2")); err != nil {
		t.Fatal(err)
	}
	if got := alerts(); len(got) != 0 {
		t.Errorf("crossing the same threshold again: alerts %v, want none", got)
	}
	// The second threshold is a yuan above one bill: the next bill crosses it.
	if _, err := cl.settlement.Settle(cl.ctx, cl.request("hc-3")); err != nil {
		t.Fatal(err)
	}
	if got := alerts(); len(got) != 1 {
		t.Errorf("crossing the second threshold: alerts %v, want one", got)
	}
}
