package api_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
)

// settableLedger is a ledger whose storing time a test sets.
type settableLedger interface {
	gateway.Ledger
	SetClock(func() time.Time)
}

// lines reads a whole ListSettlements stream.
func lines(ctx context.Context, cli onestopv1.ReconciliationServiceClient, req *onestopv1.ListSettlementsRequest) ([]*onestopv1.SettlementLine, error) {
	stream, err := cli.ListSettlements(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*onestopv1.SettlementLine
	for {
		l, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, l)
	}
}

func row(t *testing.T, rows []*onestopv1.StatementRow, name string) *onestopv1.StatementRow {
	t.Helper()
	for _, r := range rows {
		if r.Name == name {
			return r
		}
	}
	return &onestopv1.StatementRow{Name: name, SettledAmount: "0.00", CancelledAmount: "0.00", NetAmount: "0.00"}
}

// nonZero is a row's count for one bill: a payment of 0.00 (a threshold applied, nothing
// paid) is not counted.
func nonZero(amount string) int64 {
	if decimal.RequireFromString(amount).IsZero() {
		return 0
	}
	return 1
}

// TestStatementsThroughGRPC: a dibao recipient's inpatient bill settled in November and
// cancelled in December, another settled in December: November's statement has the first
// as settled, December's as cancelled and the second as settled; the aid indicators count
// the receipts' recorded categories; the detail lines stream with their payments. On the
// journal and on Postgres.
func TestStatementsThroughGRPC(t *testing.T) {
	for _, backend := range []struct {
		name string
		open func(t *testing.T) settableLedger
	}{
		{"journal", func(t *testing.T) settableLedger { return journal(t) }},
		{"postgres", func(t *testing.T) settableLedger { return ledger.NewPostgres(ledgertest.Pool(t, 0)) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			l := backend.open(t)
			var at time.Time
			l.SetClock(func() time.Time { return at })
			w := newWorld(t, l)
			cl := caseClient(t, w, "c01-dibao-inpatient.json")
			recon := onestopv1.NewReconciliationServiceClient(serve(t, w.svc))

			at = time.Date(2029, 11, 30, 23, 59, 0, 0, time.UTC) // the world's gateway is on UTC
			first, err := cl.settlement.Settle(cl.ctx, cl.request("st-1"))
			if err != nil {
				t.Fatal(err)
			}
			at = time.Date(2029, 12, 1, 0, 0, 0, 0, time.UTC)
			if _, err := cl.settlement.CancelSettlement(cl.ctx, &onestopv1.CancelSettlementRequest{RequestId: "st-c1", InstitutionId: cl.inst, SettlementId: first.SettlementId}); err != nil {
				t.Fatal(err)
			}
			at = time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC)
			second, err := cl.settlement.Settle(cl.ctx, cl.request("st-2"))
			if err != nil {
				t.Fatal(err)
			}

			nov, err := recon.GetStatement(cl.ctx, &onestopv1.GetStatementRequest{InstitutionId: cl.inst, Period: "2029-11"})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := recon.GetStatement(cl.ctx, &onestopv1.GetStatementRequest{InstitutionId: cl.inst, Period: "2029-12"})
			if err != nil {
				t.Fatal(err)
			}
			if nov.From != "2029-11-01" || nov.To != "2029-11-30" || nov.GeneratedAt == nil || nov.GroupQuota != nil {
				t.Errorf("november: %v", nov)
			}
			for _, fp := range first.FundPayments {
				if r := row(t, nov.Funds, fp.Fund); r.SettledAmount != fp.Amount || r.SettledCount != nonZero(fp.Amount) || r.CancelledCount != 0 || r.NetAmount != fp.Amount {
					t.Errorf("november %s: %v, want %s settled", fp.Fund, r, fp.Amount)
				}
				if r := row(t, dec.Funds, fp.Fund); r.CancelledAmount != fp.Amount || r.CancelledCount != nonZero(fp.Amount) {
					t.Errorf("december %s: %v, want %s cancelled", fp.Fund, r, fp.Amount)
				}
			}
			for _, fp := range second.FundPayments {
				if r := row(t, dec.Funds, fp.Fund); r.SettledAmount != fp.Amount || r.SettledCount != nonZero(fp.Amount) {
					t.Errorf("december %s: %v, want %s settled", fp.Fund, r, fp.Amount)
				}
			}
			if r := row(t, nov.Parts, "cash"); r.SettledAmount != first.Cash || r.NetAmount != first.Cash {
				t.Errorf("november cash: %v, want %s", r, first.Cash)
			}
			if r := row(t, dec.Parts, "total"); r.SettledAmount != second.Total || r.CancelledAmount != first.Total {
				t.Errorf("december total: %v, want %s settled and %s cancelled", r, second.Total, first.Total)
			}
			if len(nov.Parts) != 5 || nov.Parts[3].Name != "account" || nov.Parts[3].FundCode != "310200" {
				t.Errorf("parts: %v", nov.Parts)
			}
			// November's bill was cancelled: no aid inpatient settlement is left in November;
			// December has the second.
			if a := nov.AidInpatient; a.Settlements != 0 || a.Total != "0.00" || a.SelfPayShare != "0.0000" || !a.SelfPayShareMet {
				t.Errorf("november aid inpatient: %v", a)
			}
			selfPay := decimal.RequireFromString(second.Excluded).Add(decimal.RequireFromString(second.Overlimit))
			burden := decimal.RequireFromString(second.Cash).Add(decimal.RequireFromString(second.Account))
			total := decimal.RequireFromString(second.Total)
			a := dec.AidInpatient
			if a.Settlements != 1 || a.Total != second.Total || a.SelfPay != selfPay.StringFixed(2) || a.PersonalBurden != burden.StringFixed(2) ||
				a.SelfPayShare != selfPay.DivRound(total, 4).StringFixed(4) || a.PersonalBurdenShare != burden.DivRound(total, 4).StringFixed(4) ||
				a.SelfPayShareMet != !selfPay.DivRound(total, 4).GreaterThan(decimal.RequireFromString("0.1")) {
				t.Errorf("december aid inpatient: %v (self-pay %s, burden %s of %s)", a, selfPay, burden, total)
			}

			got, err := lines(cl.ctx, recon, &onestopv1.ListSettlementsRequest{InstitutionId: cl.inst, Period: "2029-11"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].SettlementId != first.SettlementId || !got[0].Cancelled || got[0].CancelledAt == nil ||
				got[0].Total != first.Total || got[0].Cash != first.Cash || got[0].MedType != onestopv1.MedType_INPATIENT ||
				got[0].RequestId != "st-1" || got[0].SettleDate != "2022-06-15" || got[0].PersonIdMasked != first.Person.IdNumberMasked ||
				len(got[0].FundPayments) != len(first.FundPayments) || got[0].FundPayments[0].Amount != first.FundPayments[0].Amount {
				t.Errorf("november lines: %v\nfirst: %v", got, first)
			}
			got, err = lines(cl.ctx, recon, &onestopv1.ListSettlementsRequest{InstitutionId: cl.inst, From: "2029-11-30", To: "2029-12-02"})
			if err != nil || len(got) != 2 || got[1].SettlementId != second.SettlementId || got[1].Cancelled {
				t.Errorf("lines of 30 November to 2 December: %v, %v", got, err)
			}

			// Refusals, with the reason and the field, on both the call and the stream.
			other := "H00"
			if cl.inst == other {
				other = "H01"
			}
			_, err = recon.GetStatement(cl.ctx, &onestopv1.GetStatementRequest{InstitutionId: other, Period: "2029-11"})
			wantStatus(t, err, codes.PermissionDenied, gateway.ReasonWrongInstitution, "institution_id")
			_, err = recon.GetStatement(cl.ctx, &onestopv1.GetStatementRequest{InstitutionId: cl.inst, Period: "2029-13"})
			wantStatus(t, err, codes.InvalidArgument, gateway.ReasonInvalidPeriod, "period")
			_, err = lines(cl.ctx, recon, &onestopv1.ListSettlementsRequest{InstitutionId: other, Period: "2029-11"})
			wantStatus(t, err, codes.PermissionDenied, gateway.ReasonWrongInstitution, "institution_id")
			_, err = lines(cl.ctx, recon, &onestopv1.ListSettlementsRequest{InstitutionId: cl.inst, From: "2029-11-31", To: "2029-12-01"})
			wantStatus(t, err, codes.InvalidArgument, gateway.ReasonInvalidDate, "from")
			_, err = lines(context.Background(), recon, &onestopv1.ListSettlementsRequest{InstitutionId: cl.inst, Period: "2029-11"})
			wantStatus(t, err, codes.Unauthenticated, gateway.ReasonUnauthenticated, "")
			_, err = lines(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer nope"), recon,
				&onestopv1.ListSettlementsRequest{InstitutionId: cl.inst, Period: "2029-11"})
			wantStatus(t, err, codes.Unauthenticated, gateway.ReasonUnauthenticated, "")
			_, err = recon.GetStatement(context.Background(), &onestopv1.GetStatementRequest{InstitutionId: cl.inst, Period: "2029-11"})
			wantStatus(t, err, codes.Unauthenticated, gateway.ReasonUnauthenticated, "")
		})
	}
}
