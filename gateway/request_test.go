package gateway

import (
	"errors"
	"testing"

	"onestop/gateway/policy"
)

func goodRequest() *SettleRequest {
	return &SettleRequest{
		RequestID: "r-1", InstitutionID: "H1", MedType: policy.Outpatient,
		Credential: Credential{Type: CredentialIDCard, Value: "320402198001011234"},
		Lines:      []BillLine{{Code: "SVC-1", Quantity: "2", UnitPrice: "1.005", Amount: "2.01"}},
	}
}

// TestValidate: what validate refuses on its own, with the reason and the field a terminal
// sees. The API tests send the same through gRPC; these pin the parsing edges.
func TestValidate(t *testing.T) {
	today := policy.Date{Year: 2022, Month: 6, Day: 15}
	tests := []struct {
		name   string
		edit   func(*SettleRequest)
		reason string
		field  string
	}{
		{"a good request", func(*SettleRequest) {}, "", ""},
		{"quantity with 3 decimals", func(r *SettleRequest) { r.Lines[0].Quantity, r.Lines[0].Amount = "2.125", "2.14" }, "", ""},
		{"price with 6 decimals", func(r *SettleRequest) { r.Lines[0].UnitPrice, r.Lines[0].Amount = "1.000001", "2.00" }, "", ""},
		{"half a fen rounds up", func(r *SettleRequest) {
			r.Lines[0].Quantity, r.Lines[0].UnitPrice, r.Lines[0].Amount = "1", "0.005", "0.01"
		}, "", ""},
		{"exponent in a quantity", func(r *SettleRequest) { r.Lines[0].Quantity = "2e0" }, ReasonInvalidQuantity, "lines[0].quantity"},
		{"plus sign in a price", func(r *SettleRequest) { r.Lines[0].UnitPrice = "+1.005" }, ReasonInvalidAmount, "lines[0].unit_price"},
		{"negative price", func(r *SettleRequest) { r.Lines[0].UnitPrice = "-1.005" }, ReasonInvalidAmount, "lines[0].unit_price"},
		{"space in an amount", func(r *SettleRequest) { r.Lines[0].Amount = " 2.01" }, ReasonInvalidAmount, "lines[0].amount"},
		{"half a fen rounded down", func(r *SettleRequest) {
			r.Lines[0].Quantity, r.Lines[0].UnitPrice, r.Lines[0].Amount = "1", "0.005", "0.00"
		}, ReasonAmountMismatch, "lines[0].amount"},
		{"no code", func(r *SettleRequest) { r.Lines[0].Code = "" }, ReasonInvalidArgument, "lines[0].code"},
		{"second line bad", func(r *SettleRequest) {
			r.Lines = append(r.Lines, BillLine{Code: "X", Quantity: "1", UnitPrice: "1", Amount: "1.001"})
		}, ReasonInvalidAmount, "lines[1].amount"},
		{"total at the limit", func(r *SettleRequest) {
			r.Lines = []BillLine{{Code: "A", Quantity: "1", UnitPrice: "5000000", Amount: "5000000.00"}, {Code: "B", Quantity: "1", UnitPrice: "5000000", Amount: "5000000.00"}}
		}, ReasonInvalidAmount, "lines"},
		{"admission in the future of the settlement", func(r *SettleRequest) { r.SettleDate, r.AdmissionDate = "2022-06-01", "2022-06-02" }, ReasonInvalidDate, "admission_date"},
		{"settle date tomorrow", func(r *SettleRequest) { r.SettleDate = "2022-06-16" }, ReasonInvalidDate, "settle_date"},
		{"no institution", func(r *SettleRequest) { r.InstitutionID = "" }, ReasonInvalidArgument, "institution_id"},
		{"request id of 65 characters", func(r *SettleRequest) { r.RequestID = string(make([]byte, 65)) }, ReasonInvalidArgument, "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodRequest()
			tt.edit(r)
			_, err := validate(r, today, true)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ge *Error
			if !errors.As(err, &ge) || ge.Reason != tt.reason || ge.Field != tt.field {
				t.Errorf("got %v, want %s on %s", err, tt.reason, tt.field)
			}
		})
	}
}

// TestRequestHash: the hash follows every field, and the same request hashes the same.
func TestRequestHash(t *testing.T) {
	base := goodRequest().hash()
	if goodRequest().hash() != base {
		t.Fatal("the same request hashed differently")
	}
	edits := []func(*SettleRequest){
		func(r *SettleRequest) { r.UseAccount = true },
		func(r *SettleRequest) { r.ReferralNo = "R" },
		func(r *SettleRequest) { r.Lines[0].Name = "x" },
		func(r *SettleRequest) { r.SettleDate = "2022-06-15" },
		// Moving a character between two fields must change the hash too.
		func(r *SettleRequest) { r.Lines[0].Code, r.Lines[0].Name = "SVC-", "1" },
	}
	for i, edit := range edits {
		r := goodRequest()
		edit(r)
		if r.hash() == base {
			t.Errorf("edit %d did not change the hash", i)
		}
	}
}
