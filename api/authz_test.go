package api_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"onestop/api"
	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
)

// terminal is one authenticated (or not) way of calling the gateway, acting for a case's
// institution and person.
type terminal struct {
	name           string
	settlement     onestopv1.SettlementServiceClient
	eligibility    onestopv1.EligibilityServiceClient
	catalog        onestopv1.CatalogServiceClient
	reconciliation onestopv1.ReconciliationServiceClient
	ctx            context.Context
	cl             *client
}

func newTerminal(name string, conn grpc.ClientConnInterface, ctx context.Context, cl *client) *terminal {
	return &terminal{name: name, settlement: onestopv1.NewSettlementServiceClient(conn),
		eligibility: onestopv1.NewEligibilityServiceClient(conn), catalog: onestopv1.NewCatalogServiceClient(conn),
		reconciliation: onestopv1.NewReconciliationServiceClient(conn), ctx: ctx, cl: cl}
}

func bearer(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// rpcs are every onestop.v1 call, each acting for institution inst on person's bill or on
// settlement id: the matrix runs each of them for every (terminal, institution) pair.
func rpcs(tm *terminal, inst string, person *client, settlementID, requestID string) map[string]func() error {
	req := func(id string) *onestopv1.SettleRequest {
		r := person.request(id)
		r.InstitutionId = inst
		return r
	}
	return map[string]func() error{
		"PreSettle": func() error { _, err := tm.settlement.PreSettle(tm.ctx, req("")); return err },
		"Settle":    func() error { _, err := tm.settlement.Settle(tm.ctx, req(requestID)); return err },
		"CancelSettlement": func() error {
			_, err := tm.settlement.CancelSettlement(tm.ctx, &onestopv1.CancelSettlementRequest{
				InstitutionId: inst, RequestId: requestID + "-cancel", SettlementId: settlementID, Reason: "matrix"})
			return err
		},
		"GetSettlement": func() error {
			_, err := tm.settlement.GetSettlement(tm.ctx, &onestopv1.GetSettlementRequest{InstitutionId: inst, SettlementId: settlementID})
			return err
		},
		"GetEligibility": func() error {
			_, err := tm.eligibility.GetEligibility(tm.ctx, &onestopv1.GetEligibilityRequest{InstitutionId: inst, Date: person.c.Visit.Date.String(),
				Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: person.idNumber}})
			return err
		},
		"SearchItems": func() error {
			_, err := tm.catalog.SearchItems(tm.ctx, &onestopv1.SearchItemsRequest{InstitutionId: inst, Query: "A"})
			return err
		},
		"GetStatement": func() error {
			_, err := tm.reconciliation.GetStatement(tm.ctx, &onestopv1.GetStatementRequest{InstitutionId: inst, Period: "2026-10"})
			return err
		},
		"ListSettlements": func() error {
			s, err := tm.reconciliation.ListSettlements(tm.ctx, &onestopv1.ListSettlementsRequest{InstitutionId: inst, Period: "2026-10"})
			if err != nil {
				return err
			}
			for {
				if _, err := s.Recv(); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
		},
	}
}

func wantRefused(t *testing.T, what string, err error, code codes.Code, why string) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: got %v, want %v", what, err, code)
		return
	}
	if got := reason(err); got != why {
		t.Errorf("%s: reason %s, want %s", what, got, why)
	}
}

// TestAuthorizationMatrix: terminals of two institutions, by token and by certificate,
// against every RPC. Acting for the other institution, or on its settlement, is refused
// and writes nothing; acting for their own works; unknown or missing credentials are
// UNAUTHENTICATED.
func TestAuthorizationMatrix(t *testing.T) {
	for _, mode := range []string{"token", "mtls"} {
		t.Run(mode, func(t *testing.T) {
			pool := ledgertest.Pool(t, 0)
			w := newWorld(t, ledger.NewPostgres(pool))
			a, b := caseClient(t, w, "j01-first-outpatient-level1.json"), caseClient(t, w, "j03-retired-classes.json")

			var ta, tb *terminal
			var unauthenticated []*terminal
			if mode == "token" {
				conn := serve(t, w.svc)
				ta, tb = newTerminal("A by token", conn, a.ctx, a), newTerminal("B by token", conn, b.ctx, b)
				unauthenticated = []*terminal{
					newTerminal("no token", conn, context.Background(), a),
					newTerminal("unknown token", conn, bearer("tok-H99"), a),
					newTerminal("empty token", conn, bearer(""), a),
					newTerminal("basic auth", conn, metadata.AppendToOutgoingContext(context.Background(), "authorization", "Basic dG9rLUgwMA=="), a),
				}
			} else {
				ca := newPKI(t, "terminals")
				dial := tlsServer(t, ca, w.svc, nil)
				ta = newTerminal("A by certificate", dial(ca.terminalCert(a.inst, "M1")), context.Background(), a)
				tb = newTerminal("B by certificate", dial(ca.terminalCert(b.inst, "M1")), context.Background(), b)
				unauthenticated = []*terminal{
					newTerminal("TLS, no certificate, no token", dial("", ""), context.Background(), a),
					newTerminal("certificate of a token-only terminal", dial(ca.terminalCert(a.inst, "T1")), context.Background(), a),
					newTerminal("certificate of an unknown terminal", dial(ca.terminalCert(a.inst, "M9")), context.Background(), a),
					newTerminal("certificate of an unknown institution", dial(ca.terminalCert("H99", "M1")), context.Background(), a),
					// The certificate names the terminal; a valid token alongside does not rescue it.
					newTerminal("unknown certificate with a valid token", dial(ca.terminalCert(a.inst, "M9")), a.ctx, a),
				}
				// Village clinics: the same TLS port, a token and no certificate.
				clinic := newTerminal("A by token over TLS", dial("", ""), a.ctx, a)
				if _, err := clinic.eligibility.GetEligibility(clinic.ctx, &onestopv1.GetEligibilityRequest{InstitutionId: a.inst,
					Date: a.c.Visit.Date.String(), Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: a.idNumber}}); err != nil {
					t.Errorf("token over TLS: %v", err)
				}
				// A certificate wins over the token sent with it: B's certificate with A's
				// token acts for B.
				mixed := newTerminal("B's certificate with A's token", dial(ca.terminalCert(b.inst, "M1")), a.ctx, a)
				wantRefused(t, mixed.name+" acting for A", rpcs(mixed, a.inst, a, "", "mixed-1")["GetEligibility"](), codes.PermissionDenied, "WRONG_INSTITUTION")
				if err := rpcs(mixed, b.inst, b, "", "mixed-1")["GetEligibility"](); err != nil {
					t.Errorf("%s acting for B: %v", mixed.name, err)
				}
				// A certificate from another CA does not get past the handshake.
				foreign := newPKI(t, "foreign")
				stranger := newTerminal("certificate of another CA", dial(foreign.terminalCert(a.inst, "M1")), context.Background(), a)
				if err := rpcs(stranger, a.inst, a, "", "stranger-1")["GetEligibility"](); status.Code(err) != codes.Unavailable && status.Code(err) != codes.Unauthenticated {
					t.Errorf("%s: got %v, want the handshake refused", stranger.name, err)
				}
			}

			settled := map[*terminal]string{}
			for _, tm := range []*terminal{ta, tb} {
				resp, err := tm.settlement.Settle(tm.ctx, tm.cl.request("own-1"))
				if err != nil {
					t.Fatalf("%s settling its own bill: %v", tm.name, err)
				}
				settled[tm] = resp.SettlementId
			}
			before := rows(t, pool)

			for _, pair := range [][2]*terminal{{ta, tb}, {tb, ta}} {
				self, other := pair[0], pair[1]
				for name, call := range rpcs(self, other.cl.inst, other.cl, settled[other], "foreign-1") {
					wantRefused(t, fmt.Sprintf("%s %s for %s", self.name, name, other.cl.inst), call(), codes.PermissionDenied, "WRONG_INSTITUTION")
				}
				// Its own institution id, the other's settlement id.
				own := rpcs(self, self.cl.inst, self.cl, settled[other], "foreign-2")
				for _, name := range []string{"GetSettlement", "CancelSettlement"} {
					wantRefused(t, fmt.Sprintf("%s %s of %s's settlement", self.name, name, other.cl.inst), own[name](), codes.PermissionDenied, "WRONG_INSTITUTION")
				}
			}
			for _, tm := range unauthenticated {
				for name, call := range rpcs(tm, tm.cl.inst, tm.cl, settled[ta], "anon-1") {
					wantRefused(t, tm.name+" "+name, call(), codes.Unauthenticated, "UNAUTHENTICATED")
				}
			}
			if after := rows(t, pool); after != before {
				t.Fatalf("refused calls wrote %d rows", after-before)
			}

			for _, tm := range []*terminal{ta, tb} {
				got, err := tm.settlement.GetSettlement(tm.ctx, &onestopv1.GetSettlementRequest{InstitutionId: tm.cl.inst, SettlementId: settled[tm]})
				if err != nil || got.State != onestopv1.SettlementState_SETTLED {
					t.Fatalf("%s reading its own settlement: %v, %v", tm.name, got.GetState(), err)
				}
				own := rpcs(tm, tm.cl.inst, tm.cl, settled[tm], "own-2")
				for _, name := range []string{"PreSettle", "GetEligibility", "GetStatement", "ListSettlements", "CancelSettlement"} {
					if err := own[name](); err != nil {
						t.Errorf("%s %s for its own institution: %v", tm.name, name, err)
					}
				}
				got, err = tm.settlement.GetSettlement(tm.ctx, &onestopv1.GetSettlementRequest{InstitutionId: tm.cl.inst, SettlementId: settled[tm]})
				if err != nil || got.State != onestopv1.SettlementState_CANCELLED {
					t.Errorf("%s after cancelling its own settlement: %v, %v", tm.name, got.GetState(), err)
				}
			}
		})
	}
}

// TestRateLimitPerTerminal: one terminal's burst is spent and its next call refused
// RESOURCE_EXHAUSTED, while another terminal, and the health service, still pass.
func TestRateLimitPerTerminal(t *testing.T) {
	j := journal(t)
	w := newWorld(t, j)
	a, b := caseClient(t, w, "j01-first-outpatient-level1.json"), caseClient(t, w, "j03-retired-classes.json")
	const burst = 5
	conn := serve(t, w.svc, api.RateLimit(0.001, burst)) // refills one call in 1000 s: none during the test
	ta, tb := newTerminal("A", conn, a.ctx, a), newTerminal("B", conn, b.ctx, b)
	for i := range burst + 1 {
		err := rpcs(ta, a.inst, a, "", "")["GetEligibility"]()
		switch {
		case i < burst && err != nil:
			t.Fatalf("call %d of the burst: %v", i+1, err)
		case i == burst:
			wantRefused(t, "the call after the burst", err, codes.ResourceExhausted, "RATE_LIMITED")
		}
	}
	// A stream is a call like any other: over the limit, it does not open.
	wantRefused(t, "a stream after the burst", rpcs(ta, a.inst, a, "", "")["ListSettlements"](), codes.ResourceExhausted, "RATE_LIMITED")
	if err := rpcs(tb, b.inst, b, "", "")["GetEligibility"](); err != nil {
		t.Errorf("another terminal: %v", err)
	}
	for range burst + 1 {
		if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health check: %v", err)
		}
	}
}
