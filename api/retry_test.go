package api_test

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	"onestop/gateway"
)

// vanishing is an eligibility that forgets everyone once gone is set, as a snapshot reload
// that dropped the person would.
type vanishing struct {
	gateway.Eligibility
	gone atomic.Bool
}

func (v *vanishing) Lookup(ctx context.Context, c gateway.Credential) (*gateway.Person, error) {
	if v.gone.Load() {
		return nil, gateway.Errorf(gateway.ErrPersonNotFound, "credential", "no insured person with this credential")
	}
	return v.Eligibility.Lookup(ctx, c)
}

// TestRetryFindsTheStoredAnswer: a retry of a settled request gets the stored answer even
// when what the settlement was based on has changed since; only new requests see the change.
func TestRetryFindsTheStoredAnswer(t *testing.T) {
	j := journal(t)
	w := newWorld(t, j)
	elig := &vanishing{Eligibility: w.svc.Eligibility}
	w.svc.Eligibility = elig
	cl := caseClient(t, w, "j01-first-outpatient-level1.json")
	first, err := cl.settlement.Settle(cl.ctx, cl.request("retry-1"))
	if err != nil {
		t.Fatal(err)
	}
	elig.gone.Store(true)

	again, err := cl.settlement.Settle(cl.ctx, cl.request("retry-1"))
	if err != nil || !again.Replayed || again.SettlementId != first.SettlementId || again.Cash != first.Cash {
		t.Fatalf("retry after the person left the snapshot: %v, %v", again, err)
	}
	changed := cl.request("retry-1")
	changed.Lines[0].UnitPrice, changed.Lines[0].Amount = "351.00", "351.00"
	_, err = cl.settlement.Settle(cl.ctx, changed)
	wantStatus(t, err, codes.AlreadyExists, "IDEMPOTENCY_CONFLICT", "request_id")
	_, err = cl.settlement.Settle(cl.ctx, cl.request("retry-2"))
	wantStatus(t, err, codes.NotFound, "PERSON_NOT_FOUND", "credential")
}
