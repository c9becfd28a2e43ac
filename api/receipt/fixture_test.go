package receipt

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	onestopv1 "onestop/api/onestop/v1"
)

var shanghai = time.FixedZone("CST", 8*60*60)

// settled is a resident's outpatient bill at a county hospital: a class A, a class B line
// above its price ceiling and a class C line whose name tries to be markup, split across
// basic insurance, critical illness, medical aid and a fund this package has no name for.
func settled() *onestopv1.SettleResponse {
	return &onestopv1.SettleResponse{
		SettlementId:    "0199a6f2-5c1e-7b3a-9f2d-3c4e5a6b7c8d",
		RequestId:       "cli-1",
		State:           onestopv1.SettlementState_SETTLED,
		InstitutionId:   "H320401",
		InstitutionName: "常州市第一人民医院",
		MedType:         onestopv1.MedType_OUTPATIENT,
		SettleDate:      "2026-03-05",
		// 02:21:33 UTC is 10:21:33 in Shanghai: the receipt must not print the UTC time.
		SettledAt: timestamppb.New(time.Date(2026, 3, 5, 2, 21, 33, 0, time.UTC)),
		Person: &onestopv1.PersonSummary{NameMasked: "张*三", IdNumberMasked: "3204**********1234",
			Scheme: "resident", Status: "adult", InsuredRegion: "320400"},
		Policy: &onestopv1.PolicyRef{Id: "changzhou-resident-2022", Name: "Changzhou-like resident scheme with medical aid (demo)",
			Region: "320400", Year: 2026},
		Lines: []*onestopv1.LineResult{
			{Code: "SVC-001", Name: "普通门诊诊查费", Class: "A", Amount: "25.00"},
			{Code: "DRUG-102", Name: "阿莫西林胶囊", Class: "B", Amount: "77.00", Ceiling: "60.00"},
			{Code: "DRUG-900", Name: "<script>alert(1)</script>", Class: "C", Amount: "12.50"},
		},
		Total: "114.50", Excluded: "12.50", Overlimit: "17.00", Preselfpay: "6.00", PolicyScope: "79.00",
		FundPayments: []*onestopv1.FundPayment{
			{Fund: "basic_resident", FundCode: "390100", Pool: "outpatient", Amount: "39.50", ThresholdApplied: "0.00", Ratio: "0.5"},
			{Fund: "critical_illness", FundCode: "390200", Pool: "all", Amount: "0.00", ThresholdApplied: "39.50", Ratio: "0.6"},
			{Fund: "medical_aid", FundCode: "610100", Pool: "outpatient", Amount: "20.00", ThresholdApplied: "0.00", Ratio: "0.8", Category: "dibao"},
			{Fund: "lottery_fund", Pool: "outpatient", Amount: "5.00", Ratio: "1"},
		},
		Hospital: "0.00", Account: "0.00", Cash: "50.00",
		Remaining: []*onestopv1.PoolRemaining{
			{Fund: "basic_resident", Pool: "outpatient", ThresholdKind: "annual", ThresholdRemaining: "0.00", Capped: true, CapRemaining: "360.50"},
			{Fund: "basic_resident", Pool: "inpatient", ThresholdKind: "per_visit", ThresholdRemaining: "300.00", Capped: true, CapRemaining: "300000.00"},
			{Fund: "critical_illness", Pool: "all", ThresholdKind: "annual", ThresholdRemaining: "14960.50"},
			{Fund: "medical_aid", Pool: "outpatient", Capped: true, CapRemaining: "1980.00"},
		},
		EligibilityAsOf:  timestamppb.New(time.Date(2026, 3, 1, 16, 0, 0, 0, time.UTC)),
		EligibilityStale: true,
		Notes:            []string{"medical aid is not paid one-stop at this institution (not aid-designated): the patient may claim it at the civil-affairs office with this receipt"},
	}
}

// cancelled is the same settlement, reversed an hour later.
func cancelled() *onestopv1.SettleResponse {
	r := settled()
	r.State = onestopv1.SettlementState_CANCELLED
	r.CancelledAt = timestamppb.New(time.Date(2026, 3, 5, 3, 30, 0, 0, time.UTC))
	return r
}

// bigBill is a 25-line inpatient bill, the one-page budget of the A5 receipt.
func bigBill() *onestopv1.SettleResponse {
	r := cancelled()
	r.Lines = nil
	for i := range 25 {
		r.Lines = append(r.Lines, &onestopv1.LineResult{Code: fmt.Sprintf("DRUG-%03d", i), Name: "注射用头孢曲松钠（罗氏芬）1g 静脉滴注 第" + fmt.Sprint(i+1) + "日",
			Class: []string{"A", "B", "C"}[i%3], Amount: "1234.56", Ceiling: "1000.00"})
	}
	return r
}
