package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway/identity"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
)

// TestEVouchersSettleOnce: through the API on Postgres, a voucher settles the person it
// names; its replay (a screenshot), an expired one, a forged one and one of an unknown
// issuer are refused with their reasons and write nothing. Two counters presenting the same
// voucher at once: exactly one settles.
func TestEVouchersSettleOnce(t *testing.T) {
	pool := ledgertest.Pool(t, 0)
	w := newWorld(t, ledger.NewPostgres(pool))
	dev := identity.DevIssuer()
	w.svc.Identity = identity.Resolver{Vouchers: &identity.Verifier{
		Issuers: map[string]ed25519.PublicKey{dev.ID: dev.Key.Public().(ed25519.PublicKey)},
		Nonces:  &identity.MemoryNonces{},
	}}
	cl := caseClient(t, w, "j01-first-outpatient-level1.json")
	voucher := func(iss identity.Issuer, ttl time.Duration, at time.Time) *onestopv1.Credential {
		tok, err := iss.Issue(cl.idNumber, ttl, at)
		if err != nil {
			t.Fatal(err)
		}
		return &onestopv1.Credential{Type: onestopv1.CredentialType_E_VOUCHER, Value: tok}
	}

	good := voucher(dev, 2*time.Minute, time.Now())
	req := cl.request("by-voucher")
	req.Credential = good
	resp, err := cl.settlement.Settle(cl.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	byID, err := cl.settlement.PreSettle(cl.ctx, cl.request(""))
	if err != nil || byID.Person.GetIdNumberMasked() != resp.Person.GetIdNumberMasked() {
		t.Fatalf("the voucher settled someone else: %v vs %v (%v)", resp.Person, byID.GetPerson(), err)
	}
	// The same request again is a replay of the settlement, not of the voucher: the stored
	// answer, as for any retry.
	if again, err := cl.settlement.Settle(cl.ctx, req); err != nil || !again.Replayed {
		t.Errorf("retry of the same request: %v, %v", again.GetReplayed(), err)
	}
	before := rows(t, pool)

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forged := voucher(identity.Issuer{ID: dev.ID, Key: otherKey}, time.Minute, time.Now())
	for _, tt := range []struct {
		name       string
		credential *onestopv1.Credential
		reason     string
	}{
		{"replayed", good, "VOUCHER_REPLAYED"},
		{"expired", voucher(dev, time.Minute, time.Now().Add(-5*time.Minute)), "VOUCHER_EXPIRED"},
		{"forged", forged, "VOUCHER_INVALID"},
		{"unknown issuer", voucher(identity.Issuer{ID: "elsewhere", Key: otherKey}, time.Minute, time.Now()), "VOUCHER_INVALID"},
		{"garbage", &onestopv1.Credential{Type: onestopv1.CredentialType_E_VOUCHER, Value: "ev1.not-a-voucher"}, "VOUCHER_INVALID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := cl.request("voucher-" + strings.ReplaceAll(tt.name, " ", "-"))
			req.Credential = tt.credential
			_, err := cl.settlement.Settle(cl.ctx, req)
			wantStatus(t, err, codes.Unauthenticated, tt.reason, "credential.value")
		})
	}
	if after := rows(t, pool); after != before {
		t.Errorf("refused vouchers wrote %d rows", after-before)
	}

	// Two counters, one voucher, at once.
	shared := voucher(dev, 2*time.Minute, time.Now())
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := cl.request("race-" + string(rune('a'+i)))
			req.Credential = shared
			_, errs[i] = cl.settlement.Settle(cl.ctx, req)
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two counters with one voucher: %v / %v, want exactly one settled", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil {
			wantStatus(t, err, codes.Unauthenticated, "VOUCHER_REPLAYED", "credential.value")
		}
	}
}

// TestAidOnlyAtDesignatedInstitutions: the same aid case at an institution not designated
// for medical aid pays no aid, leaves it to the patient, and says why; GetEligibility tells
// the cashier beforehand.
func TestAidOnlyAtDesignatedInstitutions(t *testing.T) {
	w := newWorld(t, journal(t))
	cl := caseClient(t, w, "s04-tekun-community.json")
	designated, err := cl.settlement.PreSettle(cl.ctx, cl.request(""))
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := w.svc.Directory.Institution(cl.inst)
	inst.AidDesignated = false // the directory hands out its own record: this changes it
	plain, err := cl.settlement.PreSettle(cl.ctx, cl.request(""))
	if err != nil {
		t.Fatal(err)
	}
	aid := func(r *onestopv1.SettleResponse) string {
		for _, p := range r.FundPayments {
			if p.Fund == "medical_aid" {
				return p.Amount
			}
		}
		return "0.00"
	}
	if aid(designated) == "0.00" || aid(plain) != "0.00" || plain.Cash == designated.Cash {
		t.Errorf("aid %s → %s, cash %s → %s", aid(designated), aid(plain), designated.Cash, plain.Cash)
	}
	if len(designated.Notes) != 0 || len(plain.Notes) != 1 {
		t.Errorf("notes %q / %q", designated.Notes, plain.Notes)
	}
	el, err := cl.eligibility.GetEligibility(cl.ctx, &onestopv1.GetEligibilityRequest{InstitutionId: cl.inst, Credential: cl.request("").Credential, Date: cl.request("").SettleDate})
	if err != nil || el.AidPaidHere {
		t.Errorf("eligibility at a non-designated institution: aid_paid_here %v, %v", el.GetAidPaidHere(), err)
	}
}

// TestStaleEligibilityIsMarkedAndCounted: a record older than the freshness bound still
// settles, marked stale, and the hook counts it; the stored answer keeps the mark.
func TestStaleEligibilityIsMarkedAndCounted(t *testing.T) {
	w := newWorld(t, journal(t))
	cl := caseClient(t, w, "j01-first-outpatient-level1.json")
	fresh, err := cl.settlement.PreSettle(cl.ctx, cl.request(""))
	if err != nil || fresh.EligibilityStale {
		t.Fatalf("no bound: stale %v, %v", fresh.GetEligibilityStale(), err)
	}
	var counted int
	var mu sync.Mutex
	w.svc.OnStale = func() { mu.Lock(); counted++; mu.Unlock() }
	w.svc.Freshness = w.svc.Now().Sub(fresh.EligibilityAsOf.AsTime()) - time.Hour
	resp, err := cl.settlement.Settle(cl.ctx, cl.request("stale-1"))
	if err != nil || !resp.EligibilityStale || counted != 1 {
		t.Fatalf("stale %v, counted %d, %v", resp.GetEligibilityStale(), counted, err)
	}
	got, err := cl.settlement.GetSettlement(cl.ctx, &onestopv1.GetSettlementRequest{InstitutionId: cl.inst, SettlementId: resp.SettlementId})
	if err != nil || !got.EligibilityStale {
		t.Errorf("stored answer: stale %v, %v", got.GetEligibilityStale(), err)
	}
	el, err := cl.eligibility.GetEligibility(cl.ctx, &onestopv1.GetEligibilityRequest{InstitutionId: cl.inst, Credential: cl.request("").Credential, Date: cl.request("").SettleDate})
	if err != nil || !el.EligibilityStale || counted != 2 {
		t.Errorf("eligibility: stale %v, counted %d, %v", el.GetEligibilityStale(), counted, err)
	}
}
