package receipt

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/protobuf/types/known/timestamppb"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/gateway"
)

// view is a receipt with every word already in its language and every figure already a
// string, so that the text and the HTML receipts cannot disagree about what they say.
type view struct {
	L *labels

	Cancelled     bool
	CancelBanner  string
	PreSettled    bool
	Institution   string
	SettlementID  string
	SettleDate    string
	SettledAt     string
	MedType       string
	PersonName    string
	PersonID      string
	Scheme        string // "职工医保 在职"
	InsuredRegion string
	Policy        string

	Lines                                               []lineView
	Total, Excluded, Overlimit, Preselfpay, PolicyScope string

	Payments          []paymentView
	FundTotal         string // "" when an amount did not parse: better no sum than a wrong one
	Hospital, Account string
	HospitalCode      string
	AccountCode       string
	Cash              string

	Remaining []remainingView

	Stale      bool
	StaleAsOf  string
	Notes      []string
	HasCeiling bool // any line has one: otherwise the column is left out
	HasRatio   bool
	HasCateg   bool
	HasThresh  bool
}

type lineView struct{ Code, Name, Class, Amount, Ceiling string }

type paymentView struct {
	Fund, Code, Amount, ThresholdApplied, Ratio, Category string
}

type remainingView struct{ FundPool, Threshold, Cap string }

const timeLayout = "2006-01-02 15:04:05 MST"

func newView(r *onestopv1.SettleResponse, loc *time.Location, lang string) *view {
	if loc == nil {
		loc = time.UTC
	}
	l := labelsFor(lang)
	v := &view{
		L:            l,
		Cancelled:    r.GetState() == onestopv1.SettlementState_CANCELLED,
		PreSettled:   r.GetState() == onestopv1.SettlementState_PRESETTLED,
		Institution:  r.GetInstitutionName(),
		SettlementID: r.GetSettlementId(),
		SettleDate:   r.GetSettleDate(),
		SettledAt:    formatTime(r.GetSettledAt(), loc),
		MedType:      lookup(l.medTypes, r.GetMedType().String()),
		Total:        r.GetTotal(),
		Excluded:     r.GetExcluded(),
		Overlimit:    r.GetOverlimit(),
		Preselfpay:   r.GetPreselfpay(),
		PolicyScope:  r.GetPolicyScope(),
		Hospital:     r.GetHospital(),
		Account:      r.GetAccount(),
		HospitalCode: gateway.FundCodes["hospital"],
		AccountCode:  gateway.FundCodes["personal_account"],
		Cash:         r.GetCash(),
		Stale:        r.GetEligibilityStale(),
		Notes:        r.GetNotes(),
	}
	if r.GetMedType() == onestopv1.MedType_MED_TYPE_UNSPECIFIED {
		v.MedType = ""
	}
	switch id := r.GetInstitutionId(); {
	case v.Institution == "":
		v.Institution = id
	case id != "":
		v.Institution += " (" + id + ")"
	}
	if v.Cancelled {
		v.CancelBanner = l.CancelledNoTime
		if t := formatTime(r.GetCancelledAt(), loc); t != "" {
			v.CancelBanner = fmt.Sprintf(l.CancelledBanner, t)
		}
	}
	if v.Stale {
		if t := formatTime(r.GetEligibilityAsOf(), loc); t != "" {
			v.StaleAsOf = fmt.Sprintf(l.StaleAsOf, t)
		}
	}
	if p := r.GetPerson(); p != nil {
		v.PersonName, v.PersonID, v.InsuredRegion = p.GetNameMasked(), p.GetIdNumberMasked(), p.GetInsuredRegion()
		v.Scheme = lookup(l.schemes, p.GetScheme())
		if s := p.GetStatus(); s != "" {
			v.Scheme += " " + lookup(l.statuses, s)
		}
	}
	// The policy's name is for the patient; its file id only when it has no name.
	v.Policy = r.GetPolicy().GetName()
	if v.Policy == "" {
		v.Policy = r.GetPolicy().GetId()
	}
	for _, ln := range r.GetLines() {
		v.Lines = append(v.Lines, lineView{Code: ln.GetCode(), Name: ln.GetName(), Class: lookup(l.classes, ln.GetClass()),
			Amount: ln.GetAmount(), Ceiling: ln.GetCeiling()})
		v.HasCeiling = v.HasCeiling || ln.GetCeiling() != ""
	}
	sum, summed := decimal.Zero, true
	for _, p := range r.GetFundPayments() {
		pv := paymentView{Fund: l.fundPool(p.GetFund(), p.GetPool()), Code: p.GetFundCode(), Amount: p.GetAmount(), Ratio: p.GetRatio()}
		if c := p.GetCategory(); c != "" {
			pv.Category = lookup(l.categories, c)
		}
		// A threshold of zero applied says nothing to a patient; a non-zero one explains
		// why a fund paid less than its ratio suggests.
		if t := p.GetThresholdApplied(); t != "" && !isZero(t) {
			pv.ThresholdApplied = t
		}
		v.HasRatio = v.HasRatio || pv.Ratio != ""
		v.HasCateg = v.HasCateg || pv.Category != ""
		v.HasThresh = v.HasThresh || pv.ThresholdApplied != ""
		v.Payments = append(v.Payments, pv)
		d, err := decimal.NewFromString(p.GetAmount())
		summed = summed && err == nil
		sum = sum.Add(d)
	}
	if summed {
		v.FundTotal = sum.StringFixed(2)
	}
	for _, rm := range r.GetRemaining() {
		rv := remainingView{FundPool: l.fundPool(rm.GetFund(), rm.GetPool()), Cap: l.NoCap}
		switch rm.GetThresholdKind() {
		case "annual":
			rv.Threshold = fmt.Sprintf(l.Annual, rm.GetThresholdRemaining())
		case "per_visit":
			rv.Threshold = fmt.Sprintf(l.PerVisit, rm.GetThresholdRemaining())
		case "":
			rv.Threshold = l.NoThreshold
		default:
			rv.Threshold = rm.GetThresholdRemaining() + " (" + rm.GetThresholdKind() + ")"
		}
		if rm.GetCapped() {
			rv.Cap = rm.GetCapRemaining()
		}
		v.Remaining = append(v.Remaining, rv)
	}
	return v
}

func formatTime(ts *timestamppb.Timestamp, loc *time.Location) string {
	if ts == nil || (ts.GetSeconds() == 0 && ts.GetNanos() == 0) {
		return ""
	}
	return ts.AsTime().In(loc).Format(timeLayout)
}

func isZero(s string) bool {
	d, err := decimal.NewFromString(s)
	return err == nil && d.IsZero()
}

// LoadLocation is time.LoadLocation that still knows Asia/Shanghai on a machine without a
// zoneinfo database (a minimal container, Windows): China has kept UTC+8 without daylight
// saving since 1991, so the fixed zone prints every settlement's time correctly.
func LoadLocation(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil && (name == "Asia/Shanghai" || name == "PRC") {
		return time.FixedZone("CST", 8*60*60), nil
	}
	return loc, err
}
