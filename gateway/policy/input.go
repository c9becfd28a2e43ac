package policy

import (
	"slices"

	"github.com/shopspring/decimal"
)

// Medical types (SPEC.md §2, visit.med_type).
const (
	Outpatient = "outpatient" // 普通门诊
	Chronic    = "chronic"    // 门诊慢特病
	Inpatient  = "inpatient"  // 住院
)

// MedTypes lists the medical types in the order SPEC.md gives them.
var MedTypes = []string{Outpatient, Chronic, Inpatient}

// Catalog classes (SPEC.md §2, line.class).
const (
	ClassA = "A" // 甲类: fully within policy scope
	ClassB = "B" // 乙类: a first self-pay share, the rest within scope
	ClassC = "C" // 丙类: outside policy scope
)

// Person is who the bill is for, as the eligibility snapshot knows them.
type Person struct {
	Scheme         string          // "employee" or "resident"
	Status         string          // "in_service", "retired"; "adult", "child", "student"
	Categories     []Category      // medical-aid categories held, with their validity
	Flags          []string        // "union_member", "child_mutual", "civil_servant"
	AccountBalance decimal.Decimal // personal account available to this bill (zero value = 0)
}

// Category is one medical-aid category held from From to To, both inclusive. A zero From
// or To is open-ended.
type Category struct {
	Code string
	From Date
	To   Date
}

// validOn reports whether the category covers day d.
func (c Category) validOn(d Date) bool {
	return (c.From.IsZero() || !d.Before(c.From)) && (c.To.IsZero() || !c.To.Before(d))
}

// Visit is where and how the person is treated.
type Visit struct {
	MedType       string // Outpatient, Chronic or Inpatient
	Level         int    // institution level 1–3
	Date          Date   // settlement date
	AdmissionDate Date   // inpatient admission; zero = Date
	// Referred is true when the visit carries a valid referral. SPEC.md defaults it to true
	// (the case-file reader does); a Go caller must set it.
	Referred    bool
	CrossRegion bool // the institution is outside the insured region
	Filed       bool // a cross-region visit filed in advance (备案)
	InCounty    bool // a designated institution inside the person's county
	// SkipFunds are funds this visit cannot draw on (medical aid at an institution not
	// designated for it): their stages are skipped even when their conditions match.
	// Not part of SPEC.md's visit; the gateway sets it.
	SkipFunds []string
}

// Line is one bill line after the catalog lookup.
type Line struct {
	Code    string
	Class   string              // ClassA, ClassB or ClassC in the treatment region's catalog
	Amount  decimal.Decimal     // what the line costs
	Ceiling decimal.NullDecimal // the most insurance recognises for the whole line; !Valid = none
}

// Accumulators are a person's running totals for one year, keyed
// "<fund>.<pool>.threshold" and "<fund>.<pool>.paid". Absent keys are zero.
type Accumulators map[string]decimal.Decimal

// holds reports whether the person holds any of codes valid for the visit (SPEC.md §4.3):
// on the settlement date or, for an inpatient stay, on the admission date.
func (p *Person) holds(codes []string, v *Visit) bool {
	return slices.ContainsFunc(codes, func(code string) bool { return p.validFor(code, v) })
}

// validFor reports whether the person holds category code valid for the visit.
func (p *Person) validFor(code string, v *Visit) bool {
	for _, c := range p.Categories {
		if c.Code != code {
			continue
		}
		if c.validOn(v.Date) || (v.MedType == Inpatient && c.validOn(v.admission())) {
			return true
		}
	}
	return false
}

func (v *Visit) admission() Date {
	if v.AdmissionDate.IsZero() {
		return v.Date
	}
	return v.AdmissionDate
}
