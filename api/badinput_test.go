package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
)

func rows(t *testing.T, pool *pgxpool.Pool) (n int) {
	t.Helper()
	if err := pool.QueryRow(context.Background(), `select (select count(*) from settlements) + (select count(*) from fund_payments)
		+ (select count(*) from settlement_deltas) + (select count(*) from accumulators) + (select count(*) from cancellations)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBadInputChangesNothing: every bad request is refused with its code, reason and field,
// and not one row is written.
func TestBadInputChangesNothing(t *testing.T) {
	pool := ledgertest.Pool(t, 0)
	w := newWorld(t, ledger.NewPostgres(pool))
	cl := caseClient(t, w, "j01-first-outpatient-level1.json")
	chronic := caseClient(t, w, "p02-dibian-threshold.json") // registered at its own institution only
	settled, err := cl.settlement.Settle(cl.ctx, cl.request("settled-once"))
	if err != nil {
		t.Fatal(err)
	}
	before := rows(t, pool)

	many := cl.request("many")
	for len(many.Lines) <= 1000 {
		many.Lines = append(many.Lines, many.Lines[0])
	}
	tests := []struct {
		name   string
		edit   func(r *onestopv1.SettleRequest)
		ctx    context.Context
		code   codes.Code
		reason string
		field  string
	}{
		{"three decimals", func(r *onestopv1.SettleRequest) { r.Lines[0].Amount = "350.001" }, nil, codes.InvalidArgument, "INVALID_AMOUNT", "lines[0].amount"},
		{"negative amount", func(r *onestopv1.SettleRequest) { r.Lines[0].UnitPrice, r.Lines[0].Amount = "1", "-1" }, nil, codes.InvalidArgument, "INVALID_AMOUNT", "lines[0].amount"},
		{"not a number", func(r *onestopv1.SettleRequest) { r.Lines[0].Amount = "NaN" }, nil, codes.InvalidArgument, "INVALID_AMOUNT", "lines[0].amount"},
		{"amount is not quantity × price", func(r *onestopv1.SettleRequest) {
			r.Lines[0].Quantity, r.Lines[0].UnitPrice, r.Lines[0].Amount = "2", "1.005", "2.00"
		}, nil, codes.InvalidArgument, "AMOUNT_MISMATCH", "lines[0].amount"},
		{"zero quantity", func(r *onestopv1.SettleRequest) { r.Lines[0].Quantity = "0" }, nil, codes.InvalidArgument, "INVALID_QUANTITY", "lines[0].quantity"},
		{"quantity with 4 decimals", func(r *onestopv1.SettleRequest) { r.Lines[0].Quantity = "1.0001" }, nil, codes.InvalidArgument, "INVALID_QUANTITY", "lines[0].quantity"},
		{"price with 7 decimals", func(r *onestopv1.SettleRequest) { r.Lines[0].UnitPrice = "350.0000001" }, nil, codes.InvalidArgument, "INVALID_AMOUNT", "lines[0].unit_price"},
		{"amount at the limit", func(r *onestopv1.SettleRequest) {
			r.Lines[0].UnitPrice, r.Lines[0].Amount = "10000000.00", "10000000.00"
		}, nil, codes.InvalidArgument, "INVALID_AMOUNT", "lines[0].amount"},
		{"empty bill", func(r *onestopv1.SettleRequest) { r.Lines = nil }, nil, codes.InvalidArgument, "EMPTY_BILL", "lines"},
		{"1001 lines", func(r *onestopv1.SettleRequest) { r.Lines = many.Lines }, nil, codes.InvalidArgument, "TOO_MANY_LINES", "lines"},
		{"unknown item", func(r *onestopv1.SettleRequest) { r.Lines[0].Code = "NOPE-1" }, nil, codes.InvalidArgument, "UNKNOWN_ITEM", "lines[0].code"},
		{"no medical type", func(r *onestopv1.SettleRequest) { r.MedType = onestopv1.MedType_MED_TYPE_UNSPECIFIED }, nil, codes.InvalidArgument, "UNKNOWN_MED_TYPE", "med_type"},
		{"no request id", func(r *onestopv1.SettleRequest) { r.RequestId = "" }, nil, codes.InvalidArgument, "INVALID_ARGUMENT", "request_id"},
		{"request id with a space", func(r *onestopv1.SettleRequest) { r.RequestId = "a b" }, nil, codes.InvalidArgument, "INVALID_ARGUMENT", "request_id"},
		{"date in the future", func(r *onestopv1.SettleRequest) { r.SettleDate = "2031-01-01" }, nil, codes.InvalidArgument, "INVALID_DATE", "settle_date"},
		{"not a date", func(r *onestopv1.SettleRequest) { r.SettleDate = "15/06/2022" }, nil, codes.InvalidArgument, "INVALID_DATE", "settle_date"},
		{"admission after settlement", func(r *onestopv1.SettleRequest) { r.AdmissionDate = "2022-07-01" }, nil, codes.InvalidArgument, "INVALID_DATE", "admission_date"},
		{"no policy for the year", func(r *onestopv1.SettleRequest) { r.SettleDate = "2021-06-15" }, nil, codes.FailedPrecondition, "NO_POLICY", "settle_date"},
		{"malformed ID number", func(r *onestopv1.SettleRequest) { r.Credential.Value = "12345" }, nil, codes.InvalidArgument, "INVALID_ID_NUMBER", "credential.value"},
		{"ID number with a wrong check digit", func(r *onestopv1.SettleRequest) { r.Credential.Value = "110101190001011234" }, nil, codes.InvalidArgument, "INVALID_ID_NUMBER", "credential.value"},
		{"e-voucher on a gateway without issuers", func(r *onestopv1.SettleRequest) { r.Credential.Type = onestopv1.CredentialType_E_VOUCHER }, nil, codes.InvalidArgument, "INVALID_CREDENTIAL", "credential.type"},
		{"no credential type", func(r *onestopv1.SettleRequest) { r.Credential.Type = 0 }, nil, codes.InvalidArgument, "INVALID_CREDENTIAL", "credential.type"},
		{"unknown person", func(r *onestopv1.SettleRequest) { r.Credential.Value = "110101190001011236" }, nil, codes.NotFound, "PERSON_NOT_FOUND", "credential"},
		{"unknown card", func(r *onestopv1.SettleRequest) {
			r.Credential = &onestopv1.Credential{Type: onestopv1.CredentialType_SOCIAL_SECURITY_CARD, Value: "X1"}
		}, nil, codes.NotFound, "PERSON_NOT_FOUND", "credential"},
		{"chronic without registration here", func(r *onestopv1.SettleRequest) {
			r.MedType = onestopv1.MedType_CHRONIC
			r.Credential.Value = chronic.idNumber
		}, nil, codes.FailedPrecondition, "CHRONIC_NOT_REGISTERED", "med_type"},
		{"another institution's id", func(r *onestopv1.SettleRequest) { r.InstitutionId = chronic.inst }, nil, codes.PermissionDenied, "WRONG_INSTITUTION", "institution_id"},
		{"no token", func(*onestopv1.SettleRequest) {}, context.Background(), codes.Unauthenticated, "UNAUTHENTICATED", ""},
		{"unknown token", func(*onestopv1.SettleRequest) {}, metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer nope"), codes.Unauthenticated, "UNAUTHENTICATED", ""},
		{"same request id, other content", func(r *onestopv1.SettleRequest) {
			r.RequestId = "settled-once"
			r.Lines[0].UnitPrice, r.Lines[0].Amount = "351.00", "351.00"
		}, nil, codes.AlreadyExists, "IDEMPOTENCY_CONFLICT", "request_id"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := cl.request(fmt.Sprintf("bad-%d", i))
			tt.edit(req)
			ctx := cl.ctx
			if tt.ctx != nil {
				ctx = tt.ctx
			}
			_, err := cl.settlement.Settle(ctx, req)
			wantStatus(t, err, tt.code, tt.reason, tt.field)
		})
	}

	t.Run("oversized request", func(t *testing.T) {
		req := cl.request("huge")
		req.Lines[0].Name = strings.Repeat("x", 2<<20)
		_, err := cl.settlement.Settle(cl.ctx, req)
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("got %v, want RESOURCE_EXHAUSTED", err)
		}
	})
	t.Run("get another institution's settlement", func(t *testing.T) {
		other := chronic.ctx
		_, err := cl.settlement.GetSettlement(other, &onestopv1.GetSettlementRequest{InstitutionId: chronic.inst, SettlementId: settled.SettlementId})
		wantStatus(t, err, codes.PermissionDenied, "WRONG_INSTITUTION", "institution_id")
	})
	t.Run("cancel another institution's settlement", func(t *testing.T) {
		_, err := cl.settlement.CancelSettlement(chronic.ctx, &onestopv1.CancelSettlementRequest{RequestId: "c1", InstitutionId: chronic.inst, SettlementId: settled.SettlementId})
		wantStatus(t, err, codes.PermissionDenied, "WRONG_INSTITUTION", "institution_id")
	})
	if after := rows(t, pool); after != before {
		t.Errorf("bad requests wrote %d rows", after-before)
	}

	// The real cancel, then a new cancel: ALREADY_CANCELLED; the accumulators are restored.
	if _, err := cl.settlement.CancelSettlement(cl.ctx, &onestopv1.CancelSettlementRequest{RequestId: "c1", InstitutionId: cl.inst, SettlementId: settled.SettlementId}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.settlement.CancelSettlement(cl.ctx, &onestopv1.CancelSettlementRequest{RequestId: "c2", InstitutionId: cl.inst, SettlementId: settled.SettlementId})
	wantStatus(t, err, codes.FailedPrecondition, "ALREADY_CANCELLED", "settlement_id")
	pos, err := w.ledger.Position(context.Background(), cl.person, 2022, settled.SettledAt.AsTime())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range pos.Accumulators {
		t.Errorf("after the cancel, accumulator %s = %s, want 0", k, v)
	}
	got, err := cl.settlement.GetSettlement(cl.ctx, &onestopv1.GetSettlementRequest{InstitutionId: cl.inst, SettlementId: settled.SettlementId})
	if err != nil || got.State != onestopv1.SettlementState_CANCELLED || got.CancelledAt == nil || got.Cash != settled.Cash {
		t.Errorf("GetSettlement after cancel: %v, %v", got, err)
	}
}

func wantStatus(t *testing.T, err error, code codes.Code, reason, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v, want %v %s", err, code, reason)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.Reason != reason || info.Domain != "onestop" || info.Metadata["field"] != field {
				t.Errorf("got reason %s field %q (domain %s), want %s field %q", info.Reason, info.Metadata["field"], info.Domain, reason, field)
			}
			return
		}
	}
	t.Errorf("no ErrorInfo in %v", err)
}
