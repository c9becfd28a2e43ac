package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/shopspring/decimal"
)

// Case is one worked example in the fixture format of SPEC.md §6: a policy, a person, a
// visit, accumulators and lines as written in the file, and the figures (or the error
// code) the split must produce. Amounts stay text until Inputs, so a malformed amount is
// reported in the same order as Split reports bad values.
type Case struct {
	File         string                `json:"-"`
	Name         string                `json:"name"`
	Policy       string                `json:"policy"`
	Person       CasePerson            `json:"person"`
	Visit        CaseVisit             `json:"visit"`
	Accumulators map[string]CaseAmount `json:"accumulators"`
	Lines        []CaseLine            `json:"lines"`
	Expect       Expect                `json:"expect"`
}

type CasePerson struct {
	Scheme         string         `json:"scheme"`
	Status         string         `json:"status"`
	Categories     []CaseCategory `json:"categories"`
	Flags          []string       `json:"flags"`
	AccountBalance *CaseAmount    `json:"account_balance"`
}

type CaseCategory struct {
	Code string `json:"code"`
	From Date   `json:"from"`
	To   Date   `json:"to"`
}

type CaseVisit struct {
	MedType       string `json:"med_type"`
	Level         int    `json:"level"`
	Date          Date   `json:"date"`
	AdmissionDate Date   `json:"admission_date"`
	Referred      *bool  `json:"referred"` // absent = true (SPEC.md §2)
	CrossRegion   bool   `json:"cross_region"`
	Filed         bool   `json:"filed"`
	InCounty      bool   `json:"in_county"`
}

type CaseLine struct {
	Code    string      `json:"code"`
	Class   string      `json:"class"`
	Amount  CaseAmount  `json:"amount"`
	Ceiling *CaseAmount `json:"ceiling"`
}

// CaseAmount is an amount as written in a case file: SPEC.md writes amounts as strings, but
// a JSON number is read too, by its literal text (never through a float64).
type CaseAmount string

func (a *CaseAmount) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = CaseAmount(s)
		return nil
	}
	*a = CaseAmount(b)
	return nil
}

// Expect is what a case must produce: Error alone, or the figures of SPEC.md §5.
type Expect struct {
	Error             string            `json:"error"`
	Total             string            `json:"total"`
	Excluded          string            `json:"excluded"`
	Overlimit         string            `json:"overlimit"`
	Preselfpay        string            `json:"preselfpay"`
	PolicyScope       string            `json:"policy_scope"`
	Funds             map[string]string `json:"funds"`
	Hospital          string            `json:"hospital"`
	Account           string            `json:"account"`
	Cash              string            `json:"cash"`
	AccumulatorsAfter map[string]string `json:"accumulators_after"`
}

// LoadCase reads one case file.
func LoadCase(path string) (*Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &Case{File: path}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.Policy == "" {
		return nil, fmt.Errorf("%s: no policy named", path)
	}
	return c, nil
}

// Inputs turns the case into Split's arguments. A malformed amount is an *InputError
// (invalid_amount), raised only where Split would reach it: after the medical type, the
// bill's emptiness and every earlier field (SPEC.md §4.6.8).
func (c *Case) Inputs() (Person, Visit, Accumulators, []Line, error) {
	person := Person{Scheme: c.Person.Scheme, Status: c.Person.Status, Flags: c.Person.Flags}
	for _, cat := range c.Person.Categories {
		person.Categories = append(person.Categories, Category(cat))
	}
	visit := Visit{
		MedType: c.Visit.MedType, Level: c.Visit.Level, Date: c.Visit.Date, AdmissionDate: c.Visit.AdmissionDate,
		Referred: c.Visit.Referred == nil || *c.Visit.Referred, CrossRegion: c.Visit.CrossRegion,
		Filed: c.Visit.Filed, InCounty: c.Visit.InCounty,
	}
	fail := func(err error) (Person, Visit, Accumulators, []Line, error) {
		return Person{}, Visit{}, nil, nil, err
	}
	if err := checkMedType(visit.MedType); err != nil {
		return fail(err)
	}
	if err := checkNotEmpty(len(c.Lines)); err != nil {
		return fail(err)
	}
	lines := make([]Line, len(c.Lines))
	for i, l := range c.Lines {
		amount, err := ParseAmount(lineField(i, "amount"), string(l.Amount))
		if err != nil {
			return fail(err)
		}
		if err := checkClass(i, l.Class); err != nil {
			return fail(err)
		}
		lines[i] = Line{Code: l.Code, Class: l.Class, Amount: amount}
		if l.Ceiling != nil {
			ceiling, err := ParseAmount(lineField(i, "ceiling"), string(*l.Ceiling))
			if err != nil {
				return fail(err)
			}
			lines[i].Ceiling = decimal.NewNullDecimal(ceiling)
		}
	}
	acc := make(Accumulators, len(c.Accumulators))
	for _, key := range sortedKeys(c.Accumulators) {
		v, err := ParseAmount("accumulators["+key+"]", string(c.Accumulators[key]))
		if err != nil {
			return fail(err)
		}
		acc[key] = v
	}
	if c.Person.AccountBalance != nil {
		v, err := ParseAmount("person.account_balance", string(*c.Person.AccountBalance))
		if err != nil {
			return fail(err)
		}
		person.AccountBalance = v
	}
	return person, visit, acc, lines, nil
}

// ErrUnknownPolicy: a case names a policy its fixture root does not hold.
var ErrUnknownPolicy = errors.New("the case's policy is not in the fixture root")

// Run splits the case's bill under its policy from set.
func (c *Case) Run(set *Set) (*Result, error) {
	p, ok := set.ByID(c.Policy)
	if !ok {
		return nil, fmt.Errorf("%s: %w: %q", c.File, ErrUnknownPolicy, c.Policy)
	}
	person, visit, acc, lines, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	return Split(p, person, visit, acc, lines)
}

// Mismatch is one figure that differs from what a case expects.
type Mismatch struct {
	Field string // "cash", "funds.medical_aid", "accumulators_after.x.y.paid", "error"
	Want  string
	Got   string
}

// Compare lists every figure in which (res, err) differs from the expectation. Amounts are
// compared by value and written with two decimals; a fund or accumulator missing on one
// side counts as 0.00.
func (e *Expect) Compare(res *Result, err error) []Mismatch {
	var out []Mismatch
	if e.Error != "" || err != nil {
		got := "no error"
		var ie *InputError
		switch {
		case errors.As(err, &ie):
			got = string(ie.Code)
		case err != nil:
			got = err.Error()
		}
		want := e.Error
		if want == "" {
			want = "no error"
		}
		if got != want {
			out = append(out, Mismatch{Field: "error", Want: want, Got: got})
		}
		return out
	}
	one := func(field, want string, got decimal.Decimal) {
		w, werr := decimal.NewFromString(want)
		if werr != nil || !w.Equal(got) {
			out = append(out, Mismatch{Field: field, Want: want, Got: got.StringFixed(2)})
		}
	}
	one("total", e.Total, res.Total)
	one("excluded", e.Excluded, res.Excluded)
	one("overlimit", e.Overlimit, res.Overlimit)
	one("preselfpay", e.Preselfpay, res.Preselfpay)
	one("policy_scope", e.PolicyScope, res.PolicyScope)
	compareMap := func(prefix string, want map[string]string, got map[string]decimal.Decimal) {
		keys := sortedKeys(want)
		for k := range got {
			if _, ok := want[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			w, ok := want[k]
			if !ok {
				w = "0.00"
			}
			one(prefix+"."+k, w, got[k])
		}
	}
	compareMap("funds", e.Funds, res.Funds)
	one("hospital", e.Hospital, res.Hospital)
	one("account", e.Account, res.Account)
	one("cash", e.Cash, res.Cash)
	compareMap("accumulators_after", e.AccumulatorsAfter, res.AccumulatorsAfter)
	return out
}

// CaseReport is the outcome of one case of a fixture root.
type CaseReport struct {
	File       string
	Name       string
	Err        error // the case could not be run (unreadable file, unknown policy)
	Mismatches []Mismatch
	Result     *Result
}

func (r *CaseReport) Passed() bool { return r.Err == nil && len(r.Mismatches) == 0 }

// CheckRoot runs every case of a fixture root (a folder with policies/ and cases/, SPEC.md
// §6) in file-name order. The error is for a root that cannot be read at all.
func CheckRoot(root string) ([]CaseReport, error) {
	set, err := LoadDir(filepath.Join(root, "policies"))
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(root, "cases", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no cases (cases/*.json)", root)
	}
	slices.Sort(files)
	reports := make([]CaseReport, 0, len(files))
	for _, f := range files {
		reports = append(reports, checkFile(set, f))
	}
	return reports, nil
}

func checkFile(set *Set, file string) CaseReport {
	rep := CaseReport{File: file}
	c, err := LoadCase(file)
	if err != nil {
		rep.Err = err
		return rep
	}
	rep.Name = c.Name
	res, err := c.Run(set)
	if errors.Is(err, ErrUnknownPolicy) {
		rep.Err = err
		return rep
	}
	rep.Result = res
	rep.Mismatches = c.Expect.Compare(res, err)
	return rep
}
