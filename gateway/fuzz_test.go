package gateway

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// FuzzValidate: whatever a terminal sends, validate either refuses it with an invalid-
// argument error naming a reason and a field, or accepts a bill whose every line satisfies
// amount = round(quantity × unit price, 2) with amounts in range — never a panic, never a
// half-checked bill. Two lines: the fuzzer varies the second, the first is a good one.
func FuzzValidate(f *testing.F) {
	f.Add("r-1", "ID_CARD", "320402198001011234", "OUTPATIENT", "", "", "SVC-1", "2", "1.005", "2.01")
	f.Add("r-2", "E_VOUCHER", "tok", "INPATIENT", "2026-01-31", "2026-01-01", "X", "0.001", "999999.999999", "1000.00")
	f.Add("", "ID_CARD", "x", "CHRONIC", "2026-02-30", "", "A", "-1", "1", "-1")
	f.Add("r 3", "SOCIAL_SECURITY_CARD", "C1", "OUTPATIENT", "2099-01-01", "", "B", "1e3", "1", "1000")
	f.Add("r-4", "ID_CARD", "x", "OUTPATIENT", "", "", "C", "9999999", "9999999", "99999980000001.00")
	f.Add("r-5", "ID_CARD", "x", "OUTPATIENT", "", "", "D", "1.0000", "0.5", "0.50")
	today := policy.Date{Year: 2026, Month: 11, Day: 24}
	f.Fuzz(func(t *testing.T, requestID, credType, credValue, medType, settleDate, admission, code, qty, price, amount string) {
		req := &SettleRequest{
			RequestID: requestID, InstitutionID: "H1", MedType: medType, SettleDate: settleDate, AdmissionDate: admission,
			Credential: Credential{Type: CredentialType(credType), Value: credValue},
			Lines: []BillLine{{Code: "SVC-1", Quantity: "1", UnitPrice: "1", Amount: "1.00"},
				{Code: code, Quantity: qty, UnitPrice: price, Amount: amount}},
		}
		b, err := validate(req, today, true)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidArgument || e.Reason == "" || e.Field == "" {
				t.Fatalf("refusal %#v is not an invalid argument with a reason and a field", err)
			}
			return
		}
		total := decimal.Zero
		for i, l := range b.lines {
			if !l.quantity.IsPositive() || l.amount.IsNegative() || !l.amount.LessThan(maxBillAmount) {
				t.Fatalf("line %d accepted with quantity %s, amount %s", i, l.quantity, l.amount)
			}
			price, err := decimal.NewFromString(l.UnitPrice)
			if err != nil || price.IsNegative() {
				t.Fatalf("line %d accepted with unit price %q", i, l.UnitPrice)
			}
			if !l.quantity.Mul(price).Round(2).Equal(l.amount) {
				t.Fatalf("line %d: %s × %s ≠ %s", i, l.quantity, price, l.amount)
			}
			total = total.Add(l.amount)
		}
		if !total.LessThan(maxBillAmount) || today.Before(b.settleDate) || b.settleDate.Before(b.admission) {
			t.Fatalf("accepted a bill of %s settled %s admitted %s", total, b.settleDate, b.admission)
		}
	})
}
