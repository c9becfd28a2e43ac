package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"onestop/api"
	onestopv1 "onestop/api/onestop/v1"
)

// restServer is the REST face of w's gateway, as serve wires it: its own gRPC server
// reached in memory, so REST calls pass the same interceptors.
func restServer(t *testing.T, w *world) *httptest.Server {
	t.Helper()
	srv, _ := api.NewServer(w.svc, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	rest, err := api.NewREST(srv, w.svc.Directory)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(rest.Handler)
	t.Cleanup(func() { hs.Close(); rest.Close() })
	return hs
}

// restCall sends one REST call with the client's institution token and decodes the answer
// into out (a proto message) or returns the error body as a status.
func restCall(t *testing.T, hs *httptest.Server, token, method, path string, body proto.Message, out proto.Message) error {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, hs.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		// grpc-gateway's error body is a google.rpc.Status in JSON.
		return restStatus(t, b)
	}
	if err := protojson.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
	return nil
}

func restStatus(t *testing.T, body []byte) error {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("an error body that is not JSON: %s", body)
	}
	var code int32
	var msg string
	_ = json.Unmarshal(raw["code"], &code)
	_ = json.Unmarshal(raw["message"], &msg)
	var details []map[string]any
	_ = json.Unmarshal(raw["details"], &details)
	st := status.New(codes.Code(code), msg)
	for _, d := range details {
		if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			info := &errdetails.ErrorInfo{Reason: d["reason"].(string), Domain: d["domain"].(string), Metadata: map[string]string{}}
			if md, ok := d["metadata"].(map[string]any); ok {
				for k, v := range md {
					info.Metadata[k] = v.(string)
				}
			}
			st, _ = st.WithDetails(info)
		}
	}
	return st.Err()
}

// TestRESTAnswersAsGRPC: every SettlementService and EligibilityService call gives the same
// answer, field for field, over REST as over gRPC — successes, replays, cancellations and
// refusals with their code, reason and field.
func TestRESTAnswersAsGRPC(t *testing.T) {
	w := newWorld(t, journal(t))
	hs := restServer(t, w)
	same := func(what string, grpcAnswer, restAnswer proto.Message) {
		t.Helper()
		if !proto.Equal(grpcAnswer, restAnswer) {
			t.Errorf("%s: REST differs from gRPC:\n gRPC %v\n REST %v", what, grpcAnswer, restAnswer)
		}
	}
	sameErr := func(what string, grpcErr, restErr error) {
		t.Helper()
		if grpcErr == nil || restErr == nil {
			t.Errorf("%s: want both refused, gRPC %v, REST %v", what, grpcErr, restErr)
			return
		}
		g, r := status.Convert(grpcErr), status.Convert(restErr)
		if g.Code() != r.Code() || reason(grpcErr) != reason(restErr) || field(grpcErr) != field(restErr) || g.Message() != r.Message() {
			t.Errorf("%s: gRPC %v %s %s, REST %v %s %s", what, g.Code(), reason(grpcErr), field(grpcErr), r.Code(), reason(restErr), field(restErr))
		}
	}
	settled := 0
	for _, c := range w.cases {
		cl := w.clients[c.File]
		w.seed(t, cl)
		token := "tok-" + cl.inst

		// PreSettle: nothing stored, so both answers are fresh and must be equal.
		g, gerr := cl.settlement.PreSettle(cl.ctx, cl.request(""))
		r := &onestopv1.SettleResponse{}
		rerr := restCall(t, hs, token, "POST", "/v1/settlements:presettle", cl.request(""), r)
		if gerr != nil {
			sameErr(c.File+" PreSettle", gerr, rerr)
			continue
		}
		if rerr != nil {
			t.Fatalf("%s PreSettle over REST: %v", c.File, rerr)
		}
		same(c.File+" PreSettle", g, r)

		// Settle over REST, then the same request over gRPC: the stored answer, replayed.
		id := "rest-" + cl.inst
		r = &onestopv1.SettleResponse{}
		if err := restCall(t, hs, token, "POST", "/v1/settlements", cl.request(id), r); err != nil {
			t.Fatalf("%s Settle over REST: %v", c.File, err)
		}
		g, err := cl.settlement.Settle(cl.ctx, cl.request(id))
		if err != nil || !g.Replayed || r.Replayed {
			t.Fatalf("%s: gRPC replay of a REST settle: %v, replayed %v/%v", c.File, err, g.GetReplayed(), r.Replayed)
		}
		g.Replayed = false
		same(c.File+" Settle", g, r)
		settled++

		// GetSettlement both ways.
		g, err = cl.settlement.GetSettlement(cl.ctx, &onestopv1.GetSettlementRequest{InstitutionId: cl.inst, SettlementId: r.SettlementId})
		if err != nil {
			t.Fatal(err)
		}
		r = &onestopv1.SettleResponse{}
		if err := restCall(t, hs, token, "GET", "/v1/settlements/"+g.SettlementId+"?institution_id="+cl.inst, nil, r); err != nil {
			t.Fatal(err)
		}
		same(c.File+" GetSettlement", g, r)

		// Eligibility: the ID number goes in the body, never the URL.
		ereq := &onestopv1.GetEligibilityRequest{InstitutionId: cl.inst, Date: c.Visit.Date.String(),
			Credential: &onestopv1.Credential{Type: onestopv1.CredentialType_ID_CARD, Value: cl.idNumber}}
		ge, err := cl.eligibility.GetEligibility(cl.ctx, ereq)
		re := &onestopv1.GetEligibilityResponse{}
		rerr = restCall(t, hs, token, "POST", "/v1/eligibility:lookup", ereq, re)
		if err != nil {
			sameErr(c.File+" GetEligibility", err, rerr)
		} else {
			same(c.File+" GetEligibility", ge, re)
		}

		// Cancel over REST; gRPC then sees the same cancellation, replayed.
		creq := &onestopv1.CancelSettlementRequest{RequestId: id + "-c", InstitutionId: cl.inst, SettlementId: g.SettlementId, Reason: "test"}
		rc := &onestopv1.CancelSettlementResponse{}
		if err := restCall(t, hs, token, "POST", "/v1/settlements/"+g.SettlementId+":cancel", creq, rc); err != nil {
			t.Fatalf("%s cancel over REST: %v", c.File, err)
		}
		gc, err := cl.settlement.CancelSettlement(cl.ctx, creq)
		if err != nil || !gc.Replayed {
			t.Fatalf("%s: gRPC replay of a REST cancel: %v", c.File, err)
		}
		gc.Replayed = false
		same(c.File+" CancelSettlement", gc, rc)
	}
	if settled < 10 {
		t.Fatalf("only %d cases settled; the comparison proves little", settled)
	}

	// Refusals: the same status, reason, field and message.
	cl := w.clients[w.cases[0].File]
	bad := cl.request("bad")
	bad.Lines[0].Amount = "1.001"
	_, gerr := cl.settlement.Settle(cl.ctx, bad)
	sameErr("bad amount", gerr, restCall(t, hs, "tok-"+cl.inst, "POST", "/v1/settlements", bad, &onestopv1.SettleResponse{}))
	other := w.clients[w.cases[1].File]
	_, gerr = cl.settlement.GetSettlement(cl.ctx, &onestopv1.GetSettlementRequest{InstitutionId: other.inst, SettlementId: "x"})
	sameErr("another institution", gerr, restCall(t, hs, "tok-"+cl.inst, "GET", "/v1/settlements/x?institution_id="+other.inst, nil, &onestopv1.SettleResponse{}))
	_, gerr = onestopv1.NewSettlementServiceClient(serve(t, w.svc)).PreSettle(t.Context(), cl.request(""))
	sameErr("no token", gerr, restCall(t, hs, "", "POST", "/v1/settlements:presettle", cl.request(""), &onestopv1.SettleResponse{}))
}

func field(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Metadata["field"]
		}
	}
	return ""
}

// TestRESTRefusesOversizedBodies: a body past MaxRequestBytes is refused before decoding.
func TestRESTRefusesOversizedBodies(t *testing.T) {
	w := newWorld(t, journal(t))
	hs := restServer(t, w)
	cl := w.clients[w.cases[0].File]
	body := `{"institution_id":"` + cl.inst + `","request_id":"big","lines":[{"code":"` + strings.Repeat("x", api.MaxRequestBytes) + `"}]}`
	req, _ := http.NewRequest("POST", hs.URL+"/v1/settlements", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok-"+cl.inst)
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("a %d-byte body was accepted", len(body))
	}
	if _, err := cl.settlement.GetSettlement(cl.ctx, &onestopv1.GetSettlementRequest{InstitutionId: cl.inst, SettlementId: "big"}); status.Code(err) != codes.NotFound {
		t.Errorf("after an oversized body: %v", err)
	}
}
