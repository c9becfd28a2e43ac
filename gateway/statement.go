package gateway

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

// Statements (对总账, 对明细账): what an institution reconciles its own books with.
//
// Periods are months of the gateway's Location (Asia/Shanghai in production). A settlement
// counts in the month its SettledAt falls in, locally; a cancellation in the month its
// CancelledAt falls in. So a September settlement cancelled in October is in September's
// settled figures and October's cancelled figures, and a closed month's statement never
// changes afterwards (its settled and cancelled rows are facts of that month). The
// receipt's settle date is not used: a terminal may send a past date, and the money moved
// when the ledger stored it.

// Statement is one institution's month, per fund and per part of the bill.
type Statement struct {
	InstitutionID string
	Period        string // YYYY-MM
	From, To      policy.Date
	Funds         []StatementRow // one per fund with a payment in the period (0.00 too: a threshold applied), in FundOrder
	Parts         []StatementRow // StatementParts, in that order, always all of them
	AidInpatient  AidInpatientIndicators
	GroupQuota    *GroupQuota // nil unless the institution belongs to a group
	GeneratedAt   time.Time
}

// StatementRow is one fund's or part's settled and cancelled money over the period.
type StatementRow struct {
	Name            string // fund id, or a StatementParts name
	FundCode        string // national fund-payment type code, "" when none
	SettledCount    int64  // settlements of the period with a non-zero amount here
	SettledAmount   decimal.Decimal
	CancelledCount  int64 // cancellations of the period with a non-zero amount here
	CancelledAmount decimal.Decimal
	Net             decimal.Decimal // SettledAmount − CancelledAmount
}

// StatementParts are the rows every statement has besides its funds.
var StatementParts = []string{"total", "fund_total", "hospital", "account", "cash"}

// partCodes: the account and the hospital's share report under national codes too.
var partCodes = map[string]string{"account": FundCodes["personal_account"], "hospital": FundCodes["hospital"]}

// FundOrder is the order of a statement's fund rows: the three layers (basic insurance,
// critical illness and supplements, medical aid), then the mutual-aid funds; a fund not
// listed here comes after them, by name.
var FundOrder = []string{"basic_employee", "basic_resident", "critical_illness", "large_supplement", "civil_servant",
	"medical_aid", "tilted_aid", "union_mutual", "child_mutual"}

// AidInpatientIndicators (医疗救助对象住院个人负担): over the aid recipients' inpatient
// settlements settled in the period and not cancelled by the time the statement is made,
// the share paid out of pocket for what insurance does not cover at all (excluded, 全自费)
// or above a price ceiling (overlimit, 超限价), which the documents want at most 10%, and the
// share the patient bore in all (account + cash).
//
// An aid recipient is a person whose receipt records an aid category (PersonSummary.
// Categories): settlements stored before receipts recorded categories have none and are
// not counted.
type AidInpatientIndicators struct {
	Settlements         int64
	Total               decimal.Decimal
	SelfPay             decimal.Decimal // excluded + overlimit
	SelfPayShare        decimal.Decimal // SelfPay / Total, 4 decimals half-up; 0 without settlements
	SelfPayShareMet     bool            // SelfPayShare ≤ AidSelfPayTarget (true without settlements)
	PersonalBurden      decimal.Decimal // account + cash
	PersonalBurdenShare decimal.Decimal // PersonalBurden / Total, 4 decimals half-up
}

// AidSelfPayTarget is the documents' bound on aid recipients' inpatient self-pay share.
var AidSelfPayTarget = decimal.RequireFromString("0.10")

// InstitutionGroup is a township hospital and its village clinics (乡村一体化, 县域医共体)
// sharing one annual outpatient pooling quota: enrolled persons × quota per person.
type InstitutionGroup struct {
	ID              string
	Name            string
	Members         []string // institution ids, the head first
	EnrolledPersons int64
	QuotaPerPerson  decimal.Decimal // a year
}

// Groups finds an institution's group. A Directory may implement it; the Service finds it
// by type assertion, so directories without groups need not.
type Groups interface {
	// Group returns the group the institution belongs to, and false when it belongs to none.
	Group(institutionID string) (*InstitutionGroup, bool)
}

// GroupQuota is the group's outpatient pooling against its quota, for the year of the
// period. Outpatient pooling (门诊统筹) is what the basic insurance funds (OutpatientPoolingFunds)
// paid on general-outpatient settlements (med type outpatient): chronic and special-disease
// outpatient care (门诊慢特病) has limits of its own per disease and is not paid from the
// per-capita outpatient quota, and critical illness and medical aid are other funds.
//
// Net of cancellations, and only of settlements of the quota's year: a cancellation in
// January of a December settlement gives back last year's quota, not this year's.
type GroupQuota struct {
	Group      InstitutionGroup
	Quota      decimal.Decimal // EnrolledPersons × QuotaPerPerson, shared, never split per member
	PaidBefore decimal.Decimal // this year, before the period, the whole group
	Paid       decimal.Decimal // in the period, the whole group
	// WithinQuota is the part of Paid inside the quota: min(PaidBefore+Paid, Quota) −
	// min(PaidBefore, Quota); AboveQuota the rest, which is settled item by item.
	WithinQuota decimal.Decimal
	AboveQuota  decimal.Decimal
	// ThisInstitutionPaid is the caller's own part of Paid: what it contributed, not a
	// share of the quota.
	ThisInstitutionPaid decimal.Decimal
}

// OutpatientPoolingFunds are the basic insurance pooling funds.
var OutpatientPoolingFunds = []string{"basic_employee", "basic_resident"}

// Statements is the reading side of a ledger that statements need; both ledgers of
// gateway/ledger implement it, and the Service finds it by type assertion on its Ledger.
// Sums are the ledger's to make (in SQL on Postgres: a large hospital's month is ~100,000
// settlements), so only totals cross.
type Statements interface {
	// StatementSums sums an institution's settlements settled in [from, to) and its
	// cancellations made in [from, to), per fund and part.
	StatementSums(ctx context.Context, institutionID string, from, to time.Time) ([]SumRow, error)
	// NetPayments sums per institution what q.Funds paid on q.MedType settlements settled in
	// [q.From, q.To), less what they had paid on those cancelled in [q.From, q.To) that were
	// settled at or after q.SettledFrom.
	NetPayments(ctx context.Context, q PaymentQuery) (map[string]decimal.Decimal, error)
	// AidInpatientSums sums an institution's inpatient settlements settled in [from, to),
	// not cancelled, whose receipt records an aid category.
	AidInpatientSums(ctx context.Context, institutionID string, from, to time.Time) (AidInpatientSums, error)
	// ListSettlements calls fn with each settlement of an institution settled in
	// [from, to), in (SettledAt, ID) order, until fn returns an error, which it returns.
	// The settlements carry at least their money, payments, state and cancellation time,
	// and of the receipt the med type, settle date and person; not necessarily the deltas,
	// lines, remaining or policy. Errors: ErrLedgerUnavailable.
	ListSettlements(ctx context.Context, institutionID string, from, to time.Time, fn func(*Settlement) error) error
}

// SumRow is one fund's (Fund true) or StatementParts part's settled (Cancelled false) or
// cancelled money over a window. Count is how many settlements (or cancellations) had a
// non-zero amount there; a fund paid twice in one bill counts once, with the sum of both.
type SumRow struct {
	Cancelled bool
	Fund      bool
	Name      string
	FundCode  string
	Count     int64
	Amount    decimal.Decimal
}

// PaymentQuery selects what NetPayments adds up.
type PaymentQuery struct {
	InstitutionIDs []string
	From, To       time.Time
	MedType        string
	Funds          []string
	// SettledFrom: cancellations count only for settlements settled at or after it (a
	// quota year's cancellations of that year's settlements); zero: all.
	SettledFrom time.Time
}

// AidInpatientSums are the raw sums behind AidInpatientIndicators.
type AidInpatientSums struct {
	Settlements                int64
	Total, Excluded, Overlimit decimal.Decimal
	Account, Cash              decimal.Decimal
}

// MaxListDays bounds one ListSettlements range to a year, about a million lines for a large
// hospital: a longer one holds a ledger connection too long for one call.
const MaxListDays = 366

// ListRequest asks for the settlements of a period or of a range of local dates.
type ListRequest struct {
	InstitutionID string
	Period        string // YYYY-MM; or From and To
	From, To      string // YYYY-MM-DD, both inclusive
}

// Statement returns an institution's statement for a month (YYYY-MM).
func (s *Service) Statement(ctx context.Context, caller Caller, institutionID, period string) (*Statement, error) {
	if err := authorize(caller, institutionID); err != nil {
		return nil, err
	}
	from, to, err := ParsePeriod(period)
	if err != nil {
		return nil, err
	}
	store, err := s.statements()
	if err != nil {
		return nil, err
	}
	start, end := s.instant(from), s.instant(nextDay(to))
	rows, err := store.StatementSums(ctx, institutionID, start, end)
	if err != nil {
		return nil, err
	}
	st := &Statement{InstitutionID: institutionID, Period: period, From: from, To: to, GeneratedAt: s.now()}
	st.Funds, st.Parts = statementRows(rows)
	aid, err := store.AidInpatientSums(ctx, institutionID, start, end)
	if err != nil {
		return nil, err
	}
	st.AidInpatient = aidIndicators(aid)
	if g, ok := s.group(institutionID); ok {
		yearStart := s.instant(policy.Date{Year: from.Year, Month: 1, Day: 1})
		if st.GroupQuota, err = groupQuota(ctx, store, g, institutionID, yearStart, start, end); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// ListSettlements calls fn with each settlement of the institution settled in the period
// or range (local dates), in settlement time order.
func (s *Service) ListSettlements(ctx context.Context, caller Caller, req ListRequest, fn func(*Settlement) error) error {
	if err := authorize(caller, req.InstitutionID); err != nil {
		return err
	}
	from, to, err := parseRange(req)
	if err != nil {
		return err
	}
	store, err := s.statements()
	if err != nil {
		return err
	}
	return store.ListSettlements(ctx, req.InstitutionID, s.instant(from), s.instant(nextDay(to)), fn)
}

// ParsePeriod reads YYYY-MM into its first and last day.
func ParsePeriod(period string) (from, to policy.Date, err error) {
	t, perr := time.Parse("2006-01", period)
	if perr != nil || len(period) != 7 || t.Year() < 2000 || t.Year() > 9999 {
		return from, to, invalid(ReasonInvalidPeriod, "period", "%q is not a month YYYY-MM", period)
	}
	from = policy.Date{Year: t.Year(), Month: t.Month(), Day: 1}
	return from, policy.DateOf(from.AsTime().AddDate(0, 1, -1)), nil
}

func parseRange(req ListRequest) (from, to policy.Date, err error) {
	switch {
	case req.Period != "" && (req.From != "" || req.To != ""):
		return from, to, invalid(ReasonInvalidPeriod, "period", "give a period or from and to, not both")
	case req.Period != "":
		return ParsePeriod(req.Period)
	case req.From == "" && req.To == "":
		return from, to, invalid(ReasonInvalidPeriod, "period", "required (or from and to)")
	}
	for _, f := range []struct {
		name, value string
		date        *policy.Date
	}{{"from", req.From, &from}, {"to", req.To, &to}} {
		if f.value == "" {
			return from, to, invalid(ReasonInvalidDate, f.name, "required with %s", map[string]string{"from": "to", "to": "from"}[f.name])
		}
		d, err := policy.ParseDate(f.value)
		if err != nil {
			return from, to, invalid(ReasonInvalidDate, f.name, "%v", err)
		}
		*f.date = d
	}
	if to.Before(from) {
		return from, to, invalid(ReasonInvalidPeriod, "to", "%s is before from %s", to, from)
	}
	if days := to.AsTime().Sub(from.AsTime()) / (24 * time.Hour); days >= MaxListDays {
		return from, to, invalid(ReasonInvalidPeriod, "to", "at most %d days from %s", MaxListDays, from)
	}
	return from, to, nil
}

func (s *Service) statements() (Statements, error) {
	st, ok := s.Ledger.(Statements)
	if !ok {
		return nil, Internal(fmt.Errorf("gateway: the ledger %T keeps no statements", s.Ledger))
	}
	return st, nil
}

func (s *Service) group(institutionID string) (*InstitutionGroup, bool) {
	g, ok := s.Directory.(Groups)
	if !ok {
		return nil, false
	}
	return g.Group(institutionID)
}

// instant is the start of a local day.
func (s *Service) instant(d policy.Date) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, s.location())
}

// statementRows folds the ledger's sums (any med types) into fund rows and part rows.
func statementRows(sums []SumRow) (funds, parts []StatementRow) {
	byName := map[string]*StatementRow{}
	var fundNames []string
	for _, r := range sums {
		row := byName[r.Name]
		if row == nil {
			row = &StatementRow{Name: r.Name, FundCode: r.FundCode}
			byName[r.Name] = row
			if r.Fund {
				fundNames = append(fundNames, r.Name)
			}
		}
		if row.FundCode == "" {
			row.FundCode = r.FundCode
		}
		if r.Cancelled {
			row.CancelledCount += r.Count
			row.CancelledAmount = row.CancelledAmount.Add(r.Amount)
		} else {
			row.SettledCount += r.Count
			row.SettledAmount = row.SettledAmount.Add(r.Amount)
		}
	}
	slices.SortFunc(fundNames, compareFunds)
	for _, name := range fundNames {
		row := byName[name]
		row.Net = row.SettledAmount.Sub(row.CancelledAmount)
		funds = append(funds, *row)
	}
	for _, name := range StatementParts {
		row, ok := byName[name]
		if !ok {
			row = &StatementRow{Name: name}
		}
		row.FundCode = partCodes[name]
		row.Net = row.SettledAmount.Sub(row.CancelledAmount)
		parts = append(parts, *row)
	}
	return funds, parts
}

func compareFunds(a, b string) int {
	ia, ib := slices.Index(FundOrder, a), slices.Index(FundOrder, b)
	switch {
	case ia >= 0 && ib >= 0:
		return cmp.Compare(ia, ib)
	case ia >= 0:
		return -1
	case ib >= 0:
		return 1
	}
	return cmp.Compare(a, b)
}

func aidIndicators(a AidInpatientSums) AidInpatientIndicators {
	ind := AidInpatientIndicators{
		Settlements:    a.Settlements,
		Total:          a.Total,
		SelfPay:        a.Excluded.Add(a.Overlimit),
		PersonalBurden: a.Account.Add(a.Cash),
	}
	ind.SelfPayShare, ind.PersonalBurdenShare = share(ind.SelfPay, a.Total), share(ind.PersonalBurden, a.Total)
	ind.SelfPayShareMet = !ind.SelfPayShare.GreaterThan(AidSelfPayTarget)
	return ind
}

// share is part/whole to 4 decimals, half-up (amounts are never negative); 0 for a zero whole.
func share(part, whole decimal.Decimal) decimal.Decimal {
	if !whole.IsPositive() {
		return decimal.Zero
	}
	return part.DivRound(whole, 8).Round(4)
}

// groupQuota adds up the group's outpatient pooling this year before the period and in it.
func groupQuota(ctx context.Context, store Statements, g *InstitutionGroup, self string, yearStart, start, end time.Time) (*GroupQuota, error) {
	pooling := func(from, to time.Time) (group, own decimal.Decimal, err error) {
		if !from.Before(to) {
			return group, own, nil
		}
		net, err := store.NetPayments(ctx, PaymentQuery{InstitutionIDs: g.Members, From: from, To: to,
			MedType: policy.Outpatient, Funds: OutpatientPoolingFunds, SettledFrom: yearStart})
		for inst, amount := range net {
			group = group.Add(amount)
			if inst == self {
				own = own.Add(amount)
			}
		}
		return group, own, err
	}
	before, _, err := pooling(yearStart, start)
	if err != nil {
		return nil, err
	}
	paid, own, err := pooling(start, end)
	if err != nil {
		return nil, err
	}
	q := &GroupQuota{Group: *g, Quota: g.QuotaPerPerson.Mul(decimal.NewFromInt(g.EnrolledPersons)), PaidBefore: before, Paid: paid, ThisInstitutionPaid: own}
	q.Group.Members = slices.Clone(g.Members)
	q.WithinQuota = decimal.Min(before.Add(paid), q.Quota).Sub(decimal.Min(before, q.Quota))
	q.AboveQuota = paid.Sub(q.WithinQuota)
	return q, nil
}

// aidCategories are the codes of the person's aid categories that cover the bill: valid on
// the settle date or, for an inpatient stay, on the admission date (SPEC.md 4.3: a category
// held at admission covers the whole stay), the same test medical aid is paid by.
func aidCategories(p *Person, medType string, date, admission policy.Date) []string {
	var out []string
	for _, c := range p.Categories {
		if within(date, c.From, c.To) || (medType == policy.Inpatient && within(admission, c.From, c.To)) {
			if !slices.Contains(out, c.Code) {
				out = append(out, c.Code)
			}
		}
	}
	return out
}

func nextDay(d policy.Date) policy.Date { return policy.DateOf(d.AsTime().AddDate(0, 0, 1)) }
