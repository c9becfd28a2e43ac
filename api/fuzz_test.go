package api

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	onestopv1 "onestop/api/onestop/v1"
)

// FuzzRESTDecode: any body a REST client sends is decoded by the REST face's own decoder
// without panicking; what it accepts converts to the gateway's request and survives a
// round trip through the encoder unchanged, so the gateway sees what the client meant.
func FuzzRESTDecode(f *testing.F) {
	f.Add([]byte(`{"institution_id":"H320401","request_id":"r-1","credential":{"type":"ID_CARD","value":"320402198001011234"},"med_type":"OUTPATIENT","lines":[{"code":"DRUG-101","quantity":"2","unit_price":"10.50","amount":"21.00"}]}`))
	f.Add([]byte(`{"institutionId":"H1","medType":3,"useAccount":true,"lines":[{}],"settle_date":"2026-02-30"}`))
	f.Add([]byte(`{"credential":{"type":"E_VOUCHER","value":"\u0000\ud800"},"lines":null,"unknown":1}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"lines":[{"quantity":1e400}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, msg := range []proto.Message{&onestopv1.SettleRequest{}, &onestopv1.CancelSettlementRequest{}, &onestopv1.GetEligibilityRequest{}} {
			if err := restMarshaler.NewDecoder(bytes.NewReader(body)).Decode(msg); err != nil {
				continue
			}
			if req, ok := msg.(*onestopv1.SettleRequest); ok {
				gr := settleRequest(req)
				if len(gr.Lines) != len(req.GetLines()) {
					t.Fatalf("%d lines became %d", len(req.GetLines()), len(gr.Lines))
				}
			}
			out, err := restMarshaler.Marshal(msg)
			if err != nil {
				t.Fatalf("accepted %q but cannot encode it: %v", body, err)
			}
			again := msg.ProtoReflect().New().Interface()
			if err := restMarshaler.Unmarshal(out, again); err != nil || !proto.Equal(msg, again) {
				t.Fatalf("round trip of %q: %s, %v", body, out, err)
			}
		}
	})
}
