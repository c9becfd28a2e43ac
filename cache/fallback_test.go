package cache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"onestop/cache"
	"onestop/gateway"
	"onestop/gateway/policy"
)

func TestFallbackAsksTheAgenciesOnAMiss(t *testing.T) {
	primary, err := cache.LoadSnapshotFile(writeSnapshot(t, persons(0, 1, "snapshot")), keyer)
	if err != nil {
		t.Fatal(err)
	}
	var bureauCalls atomic.Int64
	down := false
	newcomer := person(7, "newcomer")
	newcomer.Categories = nil
	f := &cache.Fallback{
		Primary: primary, Keyer: keyer,
		Bureau: func(_ context.Context, c gateway.Credential) (*cache.Line, error) {
			bureauCalls.Add(1)
			if down {
				return nil, errors.New("breaker open")
			}
			if c.Value == idOf(7) || c.Value == cardOf(7) {
				l := newcomer
				return &l, nil
			}
			if c.Value == idOf(8) {
				l := person(9, "someone else")
				return &l, nil
			}
			return nil, nil
		},
		Aid: func(_ context.Context, c gateway.Credential) (*cache.Line, error) {
			return &cache.Line{Categories: []cache.LineCategory{{Code: "tekun", From: policy.Date{Year: 2026, Month: 1, Day: 1}}}}, nil
		},
	}
	ctx := context.Background()
	if p, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(0)}); err != nil || p.Status != "snapshot" || bureauCalls.Load() != 0 {
		t.Fatalf("in the snapshot: %+v, %v, %d agency calls", p, err, bureauCalls.Load())
	}
	p, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(7)})
	if err != nil || p.Status != "newcomer" || p.Key != keyer.IDKey(idOf(7)) || len(p.Categories) != 1 || p.Categories[0].Code != "tekun" {
		t.Fatalf("from the agencies: %+v, %v", p, err)
	}
	if _, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(7)}); err != nil || bureauCalls.Load() != 1 {
		t.Errorf("cached: %v, %d bureau calls", err, bureauCalls.Load())
	}
	if p, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialSocialCard, Value: cardOf(7)}); err != nil || p.Key != keyer.IDKey(idOf(7)) {
		t.Errorf("by card: %+v, %v", p, err)
	}
	if _, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(5)}); !errors.Is(err, gateway.ErrPersonNotFound) {
		t.Errorf("unknown to all: %v", err)
	}
	if _, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(8)}); !isReason(err, gateway.ReasonEligibilityUnavailable) {
		t.Errorf("the agency answering with another person: %v", err)
	}
	down = true
	if _, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(6)}); !isReason(err, gateway.ReasonEligibilityUnavailable) {
		t.Errorf("agency down: %v, want ELIGIBILITY_UNAVAILABLE", err)
	}
	if p, err := f.Lookup(ctx, gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(7)}); err != nil || p.Status != "newcomer" {
		t.Errorf("cached while the agency is down: %+v, %v", p, err)
	}
}
