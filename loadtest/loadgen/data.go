package loadgen

import (
	"bufio"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	onestopv1 "onestop/api/onestop/v1"
	"onestop/cache"
	"onestop/gateway/identity"
	"onestop/gateway/policy"
)

// Kinds of bill, as the mix counts them.
const (
	KindOutpatient = "outpatient"
	KindChronic    = "chronic"
	KindInpatient  = "inpatient"
)

// Region is the insured and treatment region of every generated person and institution.
const Region = "320400"

// Bill is one request template. Its JSON is the proto's JSON (snake_case names, enums by
// name) plus kind and token, so a k6 script makes a SettleRequest of it by dropping those
// two and adding a fresh request_id; Request does the same for the Go runner.
type Bill struct {
	Kind          string     `json:"kind"`
	Token         string     `json:"token"` // the terminal's plain token: "authorization: Bearer <token>"
	InstitutionID string     `json:"institution_id"`
	Credential    Credential `json:"credential"`
	MedType       string     `json:"med_type"`
	AdmissionDate string     `json:"admission_date,omitempty"`
	ReferralNo    string     `json:"referral_no,omitempty"`
	UseAccount    bool       `json:"use_account,omitempty"`
	Lines         []Line     `json:"lines"`
}

type Credential struct {
	Type  string `json:"type"` // the CredentialType enum name: ID_CARD, SOCIAL_SECURITY_CARD
	Value string `json:"value"`
}

type Line struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	Quantity  string `json:"quantity"`
	UnitPrice string `json:"unit_price"`
	Amount    string `json:"amount"`
}

// Request is the bill as a SettleRequest without a request_id: the sender adds one per call.
func (b Bill) Request() *onestopv1.SettleRequest {
	req := &onestopv1.SettleRequest{
		InstitutionId: b.InstitutionID,
		Credential:    &onestopv1.Credential{Type: onestopv1.CredentialType(onestopv1.CredentialType_value[b.Credential.Type]), Value: b.Credential.Value},
		MedType:       onestopv1.MedType(onestopv1.MedType_value[b.MedType]),
		AdmissionDate: b.AdmissionDate,
		ReferralNo:    b.ReferralNo,
		UseAccount:    b.UseAccount,
	}
	for _, l := range b.Lines {
		req.Lines = append(req.Lines, &onestopv1.BillLine{Code: l.Code, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Amount: l.Amount})
	}
	return req
}

// LoadBills reads a bills.json. An unknown credential type or medical type is an error
// here: Request would silently send it as UNSPECIFIED and every call would be refused.
func LoadBills(path string) ([]Bill, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var bills []Bill
	if err := json.Unmarshal(data, &bills); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, b := range bills {
		switch {
		case onestopv1.CredentialType_value[b.Credential.Type] == 0:
			return nil, fmt.Errorf("%s: bill %d: credential type %q is not a CredentialType", path, i, b.Credential.Type)
		case onestopv1.MedType_value[b.MedType] == 0:
			return nil, fmt.Errorf("%s: bill %d: med_type %q is not a MedType", path, i, b.MedType)
		case b.Token == "" || b.InstitutionID == "" || len(b.Lines) == 0:
			return nil, fmt.Errorf("%s: bill %d: token, institution_id and lines are required", path, i)
		}
	}
	return bills, nil
}

// The demo's 2026 policies for 320400 and 370800 (the latter unused by the persons here,
// kept so the policy set looks like the demo's).
//
//go:embed policies/*.yaml
var policyFiles embed.FS

// policyYear is the year of the embedded policy files.
const policyYear = 2026

type institution struct {
	id, name, county string
	level            int
}

var institutions = []institution{
	{"LC1", "湟里镇村卫生室 (village clinic, load test)", "320412", 1},
	{"LH2", "武进区人民医院 (county hospital, load test)", "320412", 2},
	{"LH3", "常州市第一人民医院 (city hospital, load test)", "320402", 3},
}

const terminalsPerInstitution = 4

func token(inst string, n int) string { return fmt.Sprintf("load-%s-%d", inst, n) }

// Where each kind of bill uses an item.
const (
	useOut = 1 << iota
	useChronic
	useIn
)

// item is a catalog entry and how bills price it: a unit price drawn from [lo, hi] yuan
// with places decimals (drugs are priced by the tablet, to 4), a quantity from [qlo, qhi]
// (fractional when frac, as dispensed doses are).
type item struct {
	code, name, class, ceiling string
	lo, hi                     float64
	places                     int32
	qlo, qhi                   int
	frac                       bool
	use                        int
}

// catalog is region 320400's: the demo's seven items and more, with A, B and C classes and
// ceilings some prices exceed, so bills exercise every split path.
var catalog = []item{
	{"SVC-001", "门诊诊查费 outpatient consultation", "A", "", 10, 30, 2, 1, 1, false, useOut | useChronic},
	{"SVC-002", "住院床位费 bed day", "A", "60", 45, 80, 2, 1, 1, false, useIn},
	{"SVC-003", "护理费 nursing day", "A", "30", 20, 35, 2, 1, 1, false, useIn},
	{"SVC-004", "静脉输液 intravenous infusion", "A", "", 8, 15, 2, 1, 3, false, useOut | useIn},
	{"SVC-005", "肌肉注射 intramuscular injection", "A", "", 3, 6, 2, 1, 2, false, useOut},
	{"SVC-006", "换药 dressing change", "A", "20", 12, 25, 2, 1, 3, false, useOut | useIn},
	{"SVC-007", "手术费 surgery", "B", "3000", 1500, 3500, 2, 1, 1, false, useIn},
	{"SVC-008", "麻醉费 anaesthesia", "B", "", 300, 900, 2, 1, 1, false, useIn},
	{"DRUG-101", "阿莫西林胶囊 amoxicillin", "A", "", 0.2, 0.8, 4, 6, 24, false, useOut | useIn},
	{"DRUG-102", "头孢克肟 cefixime", "B", "", 1.5, 4, 4, 6, 20, false, useOut | useIn},
	{"DRUG-103", "进口营养液 imported nutrition", "C", "", 80, 260, 2, 1, 6, false, useIn},
	{"DRUG-104", "布洛芬缓释胶囊 ibuprofen", "A", "", 0.3, 1.2, 4, 6, 20, false, useOut},
	{"DRUG-105", "苯磺酸氨氯地平片 amlodipine", "A", "", 0.4, 1.5, 4, 14, 60, false, useChronic},
	{"DRUG-106", "盐酸二甲双胍片 metformin", "A", "", 0.1, 0.6, 4, 28, 90, false, useChronic},
	{"DRUG-107", "甘精胰岛素 insulin glargine", "B", "", 150, 230, 2, 1, 3, false, useChronic},
	{"DRUG-108", "头孢曲松钠 ceftriaxone", "B", "", 6, 25, 2, 1, 3, true, useIn},
	{"DRUG-109", "人血白蛋白 human albumin", "B", "400", 350, 480, 2, 1, 4, false, useIn},
	{"DRUG-110", "中药饮片 herbal pieces", "B", "", 0.05, 0.9, 4, 30, 300, true, useOut | useChronic},
	{"DRUG-111", "进口抗肿瘤药 imported oncology drug", "C", "", 900, 4000, 2, 1, 2, false, useIn},
	{"DRUG-112", "氯化钠注射液 saline", "A", "", 2, 6, 2, 1, 4, false, useOut | useIn},
	{"MAT-201", "一次性输液器 infusion set", "B", "12.50", 9, 16, 2, 1, 3, false, useOut | useIn},
	{"MAT-202", "医用敷料 dressing", "B", "", 2, 18, 2, 1, 6, false, useOut | useIn},
	{"MAT-203", "静脉留置针 IV catheter", "B", "25", 18, 32, 2, 1, 2, false, useIn},
	{"MAT-204", "进口吻合器 imported stapler", "C", "", 1800, 5200, 2, 1, 1, false, useIn},
	{"LAB-301", "血常规 blood count", "A", "", 15, 25, 2, 1, 1, false, useOut | useChronic | useIn},
	{"LAB-302", "尿常规 urinalysis", "A", "", 8, 15, 2, 1, 1, false, useOut | useIn},
	{"LAB-303", "肝功能 liver panel", "A", "", 40, 90, 2, 1, 1, false, useChronic | useIn},
	{"LAB-304", "血糖 blood glucose", "A", "", 5, 12, 2, 1, 1, false, useChronic | useIn},
	{"LAB-305", "糖化血红蛋白 HbA1c", "B", "", 45, 80, 2, 1, 1, false, useChronic},
	{"IMG-401", "胸部X线 chest X-ray", "A", "", 40, 80, 2, 1, 1, false, useOut | useIn},
	{"IMG-402", "CT平扫 CT scan", "B", "300", 220, 380, 2, 1, 1, false, useIn},
	{"IMG-403", "彩色多普勒超声 ultrasound", "B", "", 90, 180, 2, 1, 1, false, useOut | useIn},
	{"IMG-404", "磁共振 MRI", "B", "600", 480, 760, 2, 1, 1, false, useIn},
}

// person is what bills need to know of a snapshot line.
type person struct {
	id, card string
	employee bool // with an account balance
	chronic  string
}

// Generate writes a load test's world into dir (created if needed): snapshot.jsonl with
// persons persons of region 320400, institutions.yaml, catalog.csv, policies/ and
// bills.json with bills bills. The same seed on the same day writes the same files; the
// inpatient admission dates are relative to today.
func Generate(dir string, persons, bills int, seed uint64) error {
	return generate(dir, persons, bills, seed, time.Now())
}

func generate(dir string, persons, bills int, seed uint64, now time.Time) error {
	if persons < 1 || bills < 0 {
		return fmt.Errorf("persons must be at least 1 and bills not negative (%d, %d)", persons, bills)
	}
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		return err
	}
	// Two streams, so changing how bills are drawn does not change who the persons are.
	people, err := writeSnapshot(filepath.Join(dir, "snapshot.jsonl"), persons, rand.New(rand.NewPCG(seed, 1)), now)
	if err != nil {
		return err
	}
	if err := writeInstitutions(filepath.Join(dir, "institutions.yaml")); err != nil {
		return err
	}
	if err := writeCatalog(filepath.Join(dir, "catalog.csv")); err != nil {
		return err
	}
	if err := writePolicies(filepath.Join(dir, "policies"), now.Year()); err != nil {
		return err
	}
	return writeBills(filepath.Join(dir, "bills.json"), makeBills(people, bills, rand.New(rand.NewPCG(seed, 2)), now))
}

// writeBills writes a JSON array with one bill a line: half the size of indented JSON, and
// still greppable by kind or institution.
func writeBills(path string, bills []Bill) error {
	var b strings.Builder
	b.WriteString("[")
	for i, bill := range bills {
		data, err := json.Marshal(bill)
		if err != nil {
			return err
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n")
		b.Write(data)
	}
	b.WriteString("\n]\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeSnapshot(path string, n int, rng *rand.Rand, now time.Time) ([]person, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	surnames := []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
	given := []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂")
	counties := []string{"320402", "320404", "320411", "320412", "320413", "320481"}
	year := now.Year()
	// Distinct persons need distinct numbers: i/1000 picks the birth date and i%1000 the
	// sequence number. Birth dates step so that any n spreads over about 80 years.
	step := max(1, 29000/((n+999)/1000))
	born := time.Date(year-85, 1, 1, 0, 0, 0, 0, time.UTC)
	people := make([]person, n)
	for i := range n {
		county := counties[rng.IntN(len(counties))]
		name := string(surnames[rng.IntN(len(surnames))]) + string(given[rng.IntN(len(given))])
		if rng.IntN(2) == 0 {
			name += string(given[rng.IntN(len(given))])
		}
		birth := born.AddDate(0, 0, (i/1000)*step)
		l := cache.Line{
			IDNumber: identity.WithCheckDigit(county + birth.Format("20060102") + fmt.Sprintf("%03d", i%1000)),
			Name:     name, InsuredRegion: Region, County: county,
			Scheme: "resident", Status: "adult",
		}
		p := person{id: l.IDNumber}
		if rng.IntN(3) == 0 {
			l.Scheme, l.Status = "employee", "in_service"
			if rng.IntN(4) == 0 {
				l.Status = "retired"
			}
			l.AccountBalance = decimal.New(int64(rng.IntN(500_000)), -2)
			l.SocialSecurityCard = fmt.Sprintf("JS%09d", i)
			p.employee = l.AccountBalance.IsPositive()
		} else if rng.IntN(4) == 0 {
			l.SocialSecurityCard = fmt.Sprintf("JS%09d", i)
		}
		p.card = l.SocialSecurityCard
		switch r := rng.IntN(100); {
		case r < 3:
			l.Categories = []cache.LineCategory{{Code: "dibao", From: policy.Date{Year: year - 1, Month: 1, Day: 1}, To: policy.Date{Year: year, Month: 12, Day: 31}}}
		case r < 4:
			l.Categories = []cache.LineCategory{{Code: "tekun", From: policy.Date{Year: year - 2, Month: 7, Day: 1}}}
		}
		// The first persons are registered one at each institution, so even a tiny data set
		// has chronic bills to make.
		if i < len(institutions) || rng.IntN(50) == 0 {
			inst := institutions[rng.IntN(len(institutions))].id
			if i < len(institutions) {
				inst = institutions[i].id
			}
			disease := []string{"hypertension", "diabetes"}[rng.IntN(2)]
			l.Chronic = []cache.LineChronic{{Disease: disease, Institutions: []string{inst}}}
			p.chronic = inst
		}
		if err := enc.Encode(&l); err != nil {
			return nil, err
		}
		people[i] = p
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return people, f.Close()
}

func writeInstitutions(path string) error {
	var b strings.Builder
	b.WriteString("# Load-test institutions (onestop loadgen data). Plain tokens: load-test data only.\ninstitutions:\n")
	for _, in := range institutions {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    region: %q\n    county: %q\n    level: %d\n    aid_designated: true\n    terminals:\n",
			in.id, in.name, Region, in.county, in.level)
		for n := 1; n <= terminalsPerInstitution; n++ {
			fmt.Fprintf(&b, "      - {id: T%d, token: %s}\n", n, token(in.id, n))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeCatalog(path string) error {
	var b strings.Builder
	b.WriteString("region,code,name,class,ceiling_unit_price\n")
	for _, it := range catalog {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", Region, it.code, it.name, it.class, it.ceiling)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writePolicies copies the embedded policies, moved to year when that is not theirs: a
// policy set without the current year refuses every bill, and load data that stops working
// on 1 January would be a trap.
func writePolicies(dir string, year int) error {
	return fs.WalkDir(policyFiles, "policies", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := policyFiles.ReadFile(path)
		if err != nil {
			return err
		}
		name := d.Name()
		if year != policyYear {
			from, to := fmt.Sprintf("\nyear: %d\n", policyYear), fmt.Sprintf("\nyear: %d\n", year)
			if !strings.Contains(string(data), from) {
				return fmt.Errorf("%s: no %q line to move to %d", path, strings.TrimSpace(from), year)
			}
			data = []byte(strings.Replace(string(data), from, to, 1))
			name = strings.Replace(name, fmt.Sprint(policyYear), fmt.Sprint(year), 1)
		}
		return os.WriteFile(filepath.Join(dir, name), data, 0o644)
	})
}

// makeBills draws the mix: about 70% outpatient (1–5 small lines, mostly at LC1 and LH2),
// 10% chronic (at the person's registered institution) and 20% inpatient (10–25 lines at
// LH2 or LH3).
func makeBills(people []person, n int, rng *rand.Rand, now time.Time) []Bill {
	var registered []person
	for _, p := range people {
		if p.chronic != "" {
			registered = append(registered, p)
		}
	}
	bills := make([]Bill, 0, n)
	for range n {
		var b Bill
		switch r := rng.IntN(100); {
		case r < 70:
			b = outpatient(rng)
		case r < 80:
			p := registered[rng.IntN(len(registered))]
			b = chronic(rng, p)
			b.Credential = credential(rng, p)
			b.UseAccount = p.employee
		default:
			// A person's stays are all at one hospital: stays at two at once would be refused
			// as concurrent admissions (CONCURRENT_ADMISSION), as they should be.
			p := people[rng.IntN(len(people))]
			b = inpatient(rng, now, hospitalOf(p))
			b.Credential = credential(rng, p)
			b.UseAccount = p.employee && rng.IntN(10) < 7
		}
		if b.Credential.Value == "" {
			p := people[rng.IntN(len(people))]
			b.Credential = credential(rng, p)
			b.UseAccount = p.employee && rng.IntN(10) < 7
		}
		b.Token = token(b.InstitutionID, 1+rng.IntN(terminalsPerInstitution))
		bills = append(bills, b)
	}
	return bills
}

// credential: a quarter of those with a social-security card present it, the rest their
// ID card (e-vouchers need an issuer's key, which load data has none of).
func credential(rng *rand.Rand, p person) Credential {
	if p.card != "" && rng.IntN(4) == 0 {
		return Credential{Type: onestopv1.CredentialType_SOCIAL_SECURITY_CARD.String(), Value: p.card}
	}
	return Credential{Type: onestopv1.CredentialType_ID_CARD.String(), Value: p.id}
}

func outpatient(rng *rand.Rand) Bill {
	inst := "LC1"
	switch r := rng.IntN(100); {
	case r >= 90:
		inst = "LH3"
	case r >= 55:
		inst = "LH2"
	}
	b := Bill{Kind: KindOutpatient, InstitutionID: inst, MedType: onestopv1.MedType_OUTPATIENT.String()}
	if inst != "LC1" && rng.IntN(10) == 0 {
		b.ReferralNo = fmt.Sprintf("ZZ%08d", rng.IntN(1e8))
	}
	b.Lines = append(b.Lines, line(rng, catalog[0])) // the consultation
	b.Lines = append(b.Lines, lines(rng, useOut, rng.IntN(5), false)...)
	return b
}

func chronic(rng *rand.Rand, p person) Bill {
	b := Bill{Kind: KindChronic, InstitutionID: p.chronic, MedType: onestopv1.MedType_CHRONIC.String()}
	b.Lines = append(b.Lines, lines(rng, useChronic, 2+rng.IntN(4), false)...)
	return b
}

// hospitalOf is where a person's inpatient stays happen: LH2 or LH3, fixed per person.
func hospitalOf(p person) string {
	if p.id[len(p.id)-2]%2 == 0 {
		return "LH2"
	}
	return "LH3"
}

func inpatient(rng *rand.Rand, now time.Time, inst string) Bill {
	days := 1 + rng.IntN(9)
	admitted := now.AddDate(0, 0, -days)
	// Within the settlement's year: a stay across New Year is not what this data is about.
	if admitted.Year() != now.Year() {
		admitted = time.Date(now.Year(), 1, 1, 0, 0, 0, 0, now.Location())
		days = max(1, now.YearDay()-1)
	}
	b := Bill{Kind: KindInpatient, InstitutionID: inst, MedType: onestopv1.MedType_INPATIENT.String(), AdmissionDate: admitted.Format(time.DateOnly)}
	if inst == "LH3" && rng.IntN(10) < 7 {
		b.ReferralNo = fmt.Sprintf("ZZ%08d", rng.IntN(1e8))
	}
	// A bed and nursing line per stay, priced by the day.
	for _, code := range []string{"SVC-002", "SVC-003"} {
		l := line(rng, itemByCode(code))
		l.Quantity = fmt.Sprint(days)
		l.Amount = amount(l.Quantity, l.UnitPrice)
		b.Lines = append(b.Lines, l)
	}
	b.Lines = append(b.Lines, lines(rng, useIn, 8+rng.IntN(16), rng.IntN(10) < 3)...)
	return b
}

// lines draws n lines of items usable in use; the same item may appear twice, as a bill
// with two dispensings of one drug does. The consultation, bed and nursing are added by
// the caller, once; surgery and anaesthesia only in a stay with an operation.
func lines(rng *rand.Rand, use, n int, surgery bool) []Line {
	var pool []item
	for _, it := range catalog {
		if it.use&use == 0 || it.code == "SVC-001" || it.code == "SVC-002" || it.code == "SVC-003" {
			continue
		}
		if !surgery && (it.code == "SVC-007" || it.code == "SVC-008") {
			continue
		}
		pool = append(pool, it)
	}
	out := make([]Line, n)
	for i := range out {
		out[i] = line(rng, pool[rng.IntN(len(pool))])
	}
	return out
}

func line(rng *rand.Rand, it item) Line {
	price := decimal.NewFromFloat(it.lo + rng.Float64()*(it.hi-it.lo)).Round(it.places)
	qty := decimal.NewFromInt(int64(it.qlo + rng.IntN(it.qhi-it.qlo+1)))
	if it.frac && rng.IntN(2) == 0 {
		// A dose in grams or a part ampoule: three decimals, the most a quantity may have.
		qty = qty.Add(decimal.New(int64(rng.IntN(1000)), -3))
	}
	l := Line{Code: it.code, Name: it.name, Quantity: qty.String(), UnitPrice: price.StringFixed(it.places)}
	l.Amount = amount(l.Quantity, l.UnitPrice)
	return l
}

// amount is the gateway's rule: quantity × unit price rounded half-up to the fen.
func amount(qty, price string) string {
	return decimal.RequireFromString(qty).Mul(decimal.RequireFromString(price)).Round(2).StringFixed(2)
}

func itemByCode(code string) item {
	for _, it := range catalog {
		if it.code == code {
			return it
		}
	}
	panic(errors.New("loadgen: no catalog item " + code))
}
