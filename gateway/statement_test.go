package gateway

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// statementsOnly is a ledger that records the windows it is asked for.
type statementsOnly struct {
	Ledger
	from, to time.Time
}

func (l *statementsOnly) StatementSums(context.Context, string, time.Time, time.Time) ([]SumRow, error) {
	return nil, nil
}
func (l *statementsOnly) NetPayments(context.Context, PaymentQuery) (map[string]decimal.Decimal, error) {
	return nil, nil
}
func (l *statementsOnly) AidInpatientSums(context.Context, string, time.Time, time.Time) (AidInpatientSums, error) {
	return AidInpatientSums{}, nil
}
func (l *statementsOnly) ListSettlements(_ context.Context, _ string, from, to time.Time, _ func(*Settlement) error) error {
	l.from, l.to = from, to
	return nil
}

// TestStatementRequests: who may ask, and what periods and ranges are refused, with the
// reason and the field a terminal sees; a month is local.
func TestStatementRequests(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	l := &statementsOnly{}
	s := &Service{Ledger: l, Location: shanghai}
	caller := Caller{Institution: &Institution{ID: "H1"}}
	for _, tc := range []struct {
		name          string
		inst, period  string
		reason, field string
	}{
		{"another institution", "H2", "2026-10", ReasonWrongInstitution, "institution_id"},
		{"no institution", "", "2026-10", ReasonInvalidArgument, "institution_id"},
		{"no period", "H1", "", ReasonInvalidPeriod, "period"},
		{"a day", "H1", "2026-10-01", ReasonInvalidPeriod, "period"},
		{"month 13", "H1", "2026-13", ReasonInvalidPeriod, "period"},
		{"one-digit month", "H1", "2026-1", ReasonInvalidPeriod, "period"},
		{"a good month", "H1", "2026-10", "", ""},
	} {
		_, err := s.Statement(context.Background(), caller, tc.inst, tc.period)
		checkErr(t, tc.name, err, tc.reason, tc.field)
	}
	for _, tc := range []struct {
		name          string
		req           ListRequest
		reason, field string
	}{
		{"another institution", ListRequest{InstitutionID: "H2", Period: "2026-10"}, ReasonWrongInstitution, "institution_id"},
		{"nothing", ListRequest{InstitutionID: "H1"}, ReasonInvalidPeriod, "period"},
		{"period and range", ListRequest{InstitutionID: "H1", Period: "2026-10", From: "2026-10-01", To: "2026-10-02"}, ReasonInvalidPeriod, "period"},
		{"from alone", ListRequest{InstitutionID: "H1", From: "2026-10-01"}, ReasonInvalidDate, "to"},
		{"to alone", ListRequest{InstitutionID: "H1", To: "2026-10-01"}, ReasonInvalidDate, "from"},
		{"bad from", ListRequest{InstitutionID: "H1", From: "2026-10-32", To: "2026-11-01"}, ReasonInvalidDate, "from"},
		{"bad to", ListRequest{InstitutionID: "H1", From: "2026-10-01", To: "tomorrow"}, ReasonInvalidDate, "to"},
		{"to before from", ListRequest{InstitutionID: "H1", From: "2026-10-02", To: "2026-10-01"}, ReasonInvalidPeriod, "to"},
		{"over 366 days", ListRequest{InstitutionID: "H1", From: "2026-01-01", To: "2027-01-02"}, ReasonInvalidPeriod, "to"},
		{"a leap year", ListRequest{InstitutionID: "H1", From: "2028-01-01", To: "2028-12-31"}, "", ""},
	} {
		err := s.ListSettlements(context.Background(), caller, tc.req, func(*Settlement) error { return nil })
		checkErr(t, tc.name, err, tc.reason, tc.field)
	}
	// A day range is local, inclusive: 1 to 2 October in Shanghai is 30 September 16:00 UTC
	// to 2 October 16:00 UTC.
	if err := s.ListSettlements(context.Background(), caller, ListRequest{InstitutionID: "H1", From: "2026-10-01", To: "2026-10-02"}, nil); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 9, 30, 16, 0, 0, 0, time.UTC); !l.from.Equal(want) || !l.to.Equal(want.Add(48*time.Hour)) {
		t.Errorf("window %s – %s", l.from, l.to)
	}
	// A ledger without statements is an internal error, not a panic.
	s.Ledger = struct{ Ledger }{}
	_, err = s.Statement(context.Background(), caller, "H1", "2026-10")
	checkErr(t, "ledger without statements", err, ReasonInternal, "")
}

func checkErr(t *testing.T, name string, err error, reason, field string) {
	t.Helper()
	var ge *Error
	switch {
	case reason == "" && err != nil:
		t.Errorf("%s: %v", name, err)
	case reason == "":
	case !errors.As(err, &ge) || ge.Reason != reason || ge.Field != field:
		t.Errorf("%s: got %v, want %s (%s)", name, err, reason, field)
	}
}

// TestAidShareHalfUp: the share is rounded half-up to 4 decimals before it is compared
// with the 10% target, as the documents' tables show it.
func TestAidShareHalfUp(t *testing.T) {
	d := decimal.RequireFromString
	for _, tc := range []struct {
		selfPay, total, share string
		met                   bool
	}{
		{"100.00", "1000.00", "0.1000", true},
		{"100.04", "1000.00", "0.1000", true},  // 0.10004
		{"100.05", "1000.00", "0.1001", false}, // 0.10005 rounds up
		{"1.00", "3.00", "0.3333", false},
		{"2.00", "3.00", "0.6667", false},
		{"0.00", "0.00", "0.0000", true}, // no settlements
	} {
		ind := aidIndicators(AidInpatientSums{Total: d(tc.total), Excluded: d(tc.selfPay)})
		if ind.SelfPayShare.StringFixed(4) != tc.share || ind.SelfPayShareMet != tc.met {
			t.Errorf("%s / %s: got %s %v, want %s %v", tc.selfPay, tc.total, ind.SelfPayShare.StringFixed(4), ind.SelfPayShareMet, tc.share, tc.met)
		}
	}
}

// TestAidCategoriesOfABill: the receipt records the categories valid on the settle date,
// or for a stay on the admission date too (a category lost during the stay still covers it).
func TestAidCategoriesOfABill(t *testing.T) {
	day := func(m, d int) policy.Date { return policy.Date{Year: 2026, Month: time.Month(m), Day: d} }
	p := &Person{Categories: []policy.Category{
		{Code: "dibao", From: day(1, 1), To: day(6, 30)},
		{Code: "tekun", From: day(6, 1)},
		{Code: "dibao", From: day(9, 1)}, // dibao again: one code
	}}
	for _, tc := range []struct {
		med             string
		date, admission policy.Date
		want            []string
	}{
		{policy.Outpatient, day(3, 1), day(3, 1), []string{"dibao"}},
		{policy.Outpatient, day(7, 1), day(7, 1), []string{"tekun"}},
		{policy.Outpatient, day(9, 2), day(9, 2), []string{"tekun", "dibao"}},
		{policy.Inpatient, day(7, 10), day(6, 20), []string{"dibao", "tekun"}},
		{policy.Chronic, day(7, 10), day(6, 20), []string{"tekun"}},
		{policy.Outpatient, day(5, 1), day(5, 1), []string{"dibao"}},
	} {
		if got := aidCategories(p, tc.med, tc.date, tc.admission); !slices.Equal(got, tc.want) {
			t.Errorf("%s on %s (admitted %s): got %v, want %v", tc.med, tc.date, tc.admission, got, tc.want)
		}
	}
	if got := aidCategories(&Person{}, policy.Inpatient, day(1, 1), day(1, 1)); got != nil {
		t.Errorf("no categories: got %v", got)
	}
}
