package ledger_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
	"onestop/gateway/policy"
)

// The audit is tested on a ledger written by the real settle pipeline (gateway.Service, the
// demo policies, both ledgers): clean, it must audit clean; corrupted one way at a time, it
// must report exactly the violations that corruption causes.

// auditor is what both ledgers offer.
type auditor interface {
	Audit(ctx context.Context, policies *policy.Set, fn func(ledger.Violation) error) (ledger.AuditStats, error)
}

// auditLedger is a ledger the world settles into and the outbox dispatcher drains.
type auditLedger interface {
	gateway.Ledger
	gateway.OutboxStore
	auditor
}

var auditPolicies = func() *policy.Set {
	set, err := policy.LoadDir("../../cmd/onestop/demo/policies")
	if err != nil {
		panic(err)
	}
	return set
}()

// Institutions of the world: the Changzhou resident scheme (320400), the Jining employee
// scheme (370800), the province's three layers (320000).
var auditInstitutions = map[string]*gateway.Institution{
	"HCZ1": {ID: "HCZ1", Region: "320400", County: "320412", Level: 1, AidDesignated: true},
	"HJN2": {ID: "HJN2", Region: "370800", County: "370811", Level: 2},
	"HJS3": {ID: "HJS3", Region: "320000", County: "320100", Level: 3, AidDesignated: true},
}

var auditJan1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// The persons; their keys are their credentials.
var auditPersons = map[string]*gateway.Person{
	// dibao in Changzhou: basic resident insurance and medical aid.
	"pA": {Key: "pA", Scheme: "resident", Status: "adult", InsuredRegion: "320400", County: "320412", AsOf: auditJan1,
		Categories: []policy.Category{{Code: "dibao", From: policy.Date{Year: 2026, Month: 1, Day: 1}}}},
	// Changzhou, chronic care at HCZ1.
	"pB": {Key: "pB", Scheme: "resident", Status: "adult", InsuredRegion: "320400", County: "320412", AsOf: auditJan1,
		Chronic: []gateway.ChronicRegistration{{Disease: "hypertension", Institutions: []string{"HCZ1"}}}},
	// A Jining civil servant paying with the personal account.
	"pC": {Key: "pC", Scheme: "employee", Status: "in_service", InsuredRegion: "370800", County: "370811", AsOf: auditJan1,
		Flags: []string{"civil_servant"}, AccountBalance: decimal.RequireFromString("1200.00")},
	// Province, tekun: critical illness insurance has no cap for them.
	"pD": {Key: "pD", Scheme: "resident", Status: "adult", InsuredRegion: "320000", County: "320100", AsOf: auditJan1,
		Categories: []policy.Category{{Code: "tekun", From: policy.Date{Year: 2026, Month: 1, Day: 1}}}},
	// Province, zhichu: medical aid, but critical illness insurance capped as for anyone.
	"pE": {Key: "pE", Scheme: "resident", Status: "adult", InsuredRegion: "320000", County: "320100", AsOf: auditJan1,
		Categories: []policy.Category{{Code: "zhichu", From: policy.Date{Year: 2026, Month: 1, Day: 1}}}},
}

type auditIdentity struct{}

func (auditIdentity) Resolve(_ context.Context, c gateway.Credential) (gateway.Credential, error) {
	return c, nil
}

type auditEligibility struct{}

func (auditEligibility) Lookup(_ context.Context, c gateway.Credential) (*gateway.Person, error) {
	p, ok := auditPersons[c.Value]
	if !ok {
		return nil, gateway.ErrPersonNotFound
	}
	cp := *p
	return &cp, nil
}

// auditCatalog knows every code; its first letter is its class.
type auditCatalog struct{}

func (auditCatalog) Item(region, code string) (gateway.Item, bool) {
	return gateway.Item{Region: region, Code: code, Name: code, Class: code[:1]}, true
}

// auditWorld is a ledger after a day of settling: its settlements by name.
type auditWorld struct {
	l       auditLedger
	bills   map[string]*gateway.Settlement
	pool    *pgxpool.Pool // Postgres only
	journal string        // journal only: the file
}

type auditBill struct {
	name, inst, person, medType string
	lines                       []string // "<class>:<amount>"
	referred, account           bool
}

var auditBills = []auditBill{
	{name: "A1", inst: "HCZ1", person: "pA", medType: policy.Outpatient, lines: []string{"A:200.00", "B:80.00", "C:15.00"}},
	{name: "A2", inst: "HCZ1", person: "pA", medType: policy.Outpatient, lines: []string{"A:1500.00"}}, // up to the 600.00 cap
	{name: "A3", inst: "HCZ1", person: "pA", medType: policy.Outpatient, lines: []string{"A:90.00"}},   // cancelled
	{name: "B1", inst: "HCZ1", person: "pB", medType: policy.Chronic, lines: []string{"A:420.00", "B:100.00"}},
	{name: "B2", inst: "HCZ1", person: "pB", medType: policy.Chronic, lines: []string{"A:300.00"}}, // cancelled
	{name: "C1", inst: "HJN2", person: "pC", medType: policy.Outpatient, lines: []string{"A:900.00", "B:300.00"}, account: true},
	{name: "C2", inst: "HJN2", person: "pC", medType: policy.Inpatient, lines: []string{"A:8000.00"}, account: true, referred: true},
	{name: "D1", inst: "HJS3", person: "pD", medType: policy.Inpatient, lines: []string{"A:60000.00", "C:500.00"}, referred: true},
	{name: "E1", inst: "HJS3", person: "pE", medType: policy.Inpatient, lines: []string{"A:60000.00"}, referred: true},
	{name: "E2", inst: "HJS3", person: "pE", medType: policy.Outpatient, lines: []string{"A:300.00"}}, // cancelled
}

var auditCancelled = []string{"A3", "B2", "E2"}

// settleWorld settles auditBills through gateway.Service, cancels auditCancelled, and
// delivers the first round of outbox messages (the rest stay pending).
func settleWorld(t *testing.T, w *auditWorld) {
	t.Helper()
	svc := &gateway.Service{
		Identity: auditIdentity{}, Eligibility: auditEligibility{}, Catalog: auditCatalog{},
		Policies: func() *policy.Set { return auditPolicies }, Ledger: w.l, Location: shanghai,
		Now: func() time.Time { return time.Date(2026, 6, 15, 2, 0, 0, 0, time.UTC) },
		HighCost: []gateway.HighCostRule{
			{Threshold: decimal.RequireFromString("1000.00"), AidOnly: true},
			{Threshold: decimal.RequireFromString("5000.00")},
		},
	}
	w.bills = map[string]*gateway.Settlement{}
	for _, b := range auditBills {
		req := &gateway.SettleRequest{RequestID: "req-" + b.name, InstitutionID: b.inst, MedType: b.medType, UseAccount: b.account,
			Credential: gateway.Credential{Type: gateway.CredentialSocialCard, Value: b.person}}
		if b.referred {
			req.ReferralNo = "REF-" + b.name
		}
		for i, l := range b.lines {
			class, amount, _ := strings.Cut(l, ":")
			req.Lines = append(req.Lines, gateway.BillLine{Code: fmt.Sprintf("%s-%d", class, i), Quantity: "1", UnitPrice: amount, Amount: amount})
		}
		st, _, err := svc.Settle(ctx, gateway.Caller{Institution: auditInstitutions[b.inst], TerminalID: "T1"}, req)
		if err != nil {
			t.Fatalf("settle %s: %v", b.name, err)
		}
		w.bills[b.name] = st
	}
	for _, name := range auditCancelled {
		st := w.bills[name]
		if _, _, err := svc.Cancel(ctx, gateway.Caller{Institution: auditInstitutions[st.InstitutionID], TerminalID: "T1"},
			gateway.CancelKey{InstitutionID: st.InstitutionID, RequestID: "cancel-" + name, SettlementID: st.ID, Reason: "test"}); err != nil {
			t.Fatalf("cancel %s: %v", name, err)
		}
	}
	rows, err := w.l.ClaimOutbox(ctx, 1000, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, r := range rows {
		seqs = append(seqs, r.Seq)
	}
	if err := w.l.OutboxDelivered(ctx, seqs...); err != nil {
		t.Fatal(err)
	}
	// The world must exercise what the audit checks: every agency told, the account, a
	// hospital share, threshold-only payments, alerts, a pool at its cap, an uncapped pool.
	agencies, kinds := map[string]bool{}, map[string]bool{}
	for _, st := range w.bills {
		for _, m := range gateway.Notices(st, gateway.OutboxKindSettlement, st.SettledAt) {
			agencies[m.Agency] = true
		}
		if len(st.Alerts) > 0 {
			kinds["alert"] = true
		}
		if st.Hospital.IsPositive() {
			kinds["hospital"] = true
		}
		if st.Account.IsPositive() {
			kinds["account"] = true
		}
	}
	if !agencies[gateway.AgencyInsuranceBureau] || !agencies[gateway.AgencyCivilAffairs] || !kinds["alert"] || !kinds["hospital"] || !kinds["account"] {
		t.Fatalf("the world lacks cases: agencies %v, kinds %v", agencies, kinds)
	}
	pos, err := w.l.Position(ctx, "pA", 2026, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pos.Accumulators["basic_resident.outpatient.paid"]; !got.Equal(decimal.New(600, 0)) {
		t.Fatalf("pA's outpatient pool paid %s, want it at its 600.00 cap", got)
	}
	for _, name := range []string{"D1", "E1"} {
		if !w.bills[name].Deltas["critical_illness.all.paid"].IsPositive() {
			t.Fatalf("%s: critical illness insurance paid nothing: %+v", name, w.bills[name].Payments)
		}
	}
}

func postgresWorld(t *testing.T) *auditWorld {
	pool := ledgertest.Pool(t, 0)
	w := &auditWorld{l: ledger.NewPostgres(pool), pool: pool}
	settleWorld(t, w)
	return w
}

func journalWorld(t *testing.T) *auditWorld {
	path := filepath.Join(t.TempDir(), "ledger.journal")
	w := &auditWorld{journal: path}
	w.l = openAuditJournal(t, path)
	settleWorld(t, w)
	return w
}

func openAuditJournal(t *testing.T, path string) *ledger.Journal {
	t.Helper()
	j, err := ledger.OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func audit(t *testing.T, a auditor) ([]ledger.Violation, ledger.AuditStats) {
	t.Helper()
	var got []ledger.Violation
	stats, err := a.Audit(ctx, auditPolicies, func(v ledger.Violation) error {
		got = append(got, v)
		return nil
	})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	n := 0
	for _, c := range stats.Violations {
		n += c
	}
	if n != len(got) {
		t.Errorf("stats count %d violations, fn was given %d", n, len(got))
	}
	return got, stats
}

// wantViolations compares violations with "check subject" lines, as sets.
func wantViolations(t *testing.T, got []ledger.Violation, want ...string) {
	t.Helper()
	var lines []string
	for _, v := range got {
		lines = append(lines, v.Check+" "+v.Subject)
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		var b strings.Builder
		for _, v := range got {
			fmt.Fprintf(&b, "\n  %s %s: %s", v.Check, v.Subject, v.Detail)
		}
		t.Errorf("violations:%s\nwant %q", b.String(), want)
	}
}

func TestAuditCleanLedgers(t *testing.T) {
	pg := postgresWorld(t)
	j := journalWorld(t)
	pgV, pgStats := audit(t, pg.l)
	jV, jStats := audit(t, j.l)
	wantViolations(t, pgV)
	wantViolations(t, jV)
	if pgStats.Settlements != len(auditBills) || pgStats.Cancellations != len(auditCancelled) || pgStats.PersonYears != len(auditPersons) ||
		pgStats.OutboxRows == 0 || pgStats.Accumulators == 0 || pgStats.CapsUnchecked != 0 {
		t.Errorf("postgres stats %+v", pgStats)
	}
	// One world on two ledgers: the same facts counted.
	if fmt.Sprint(pgStats) != fmt.Sprint(jStats) {
		t.Errorf("postgres stats %+v, journal stats %+v", pgStats, jStats)
	}

	// A reopened journal rebuilds its memory from the file: still clean.
	j.l.(*ledger.Journal).Close()
	again, _ := audit(t, openAuditJournal(t, j.journal))
	wantViolations(t, again)

	// Without the policies, caps cannot be checked: said, not reported as violations.
	stats, err := pg.l.Audit(ctx, nil, func(v ledger.Violation) error { return fmt.Errorf("violation %v", v) })
	if err != nil || stats.CapsUnchecked == 0 {
		t.Errorf("audit without policies: %+v, %v", stats, err)
	}
}

func TestAuditPostgresCorruptions(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, w *auditWorld) []string // runs SQL, returns the violations wanted
	}{
		{"payment amount", func(t *testing.T, w *auditWorld) []string {
			a1 := w.bills["A1"].ID
			exec(t, w, 1, `update fund_payments set amount = amount + 1 where settlement_id = $1 and fund = 'basic_resident'`, a1)
			return []string{"sum " + a1, "delta " + a1, "outbox_mismatch insurance_bureau:" + a1 + "/settlement"}
		}},
		{"accumulator", func(t *testing.T, w *auditWorld) []string {
			exec(t, w, 1, `update accumulators set amount = amount + 0.01 where person_key = 'pB' and year = 2026 and key = $1`, gateway.OutOfPocketKey)
			return []string{"accumulator pB/2026/" + gateway.OutOfPocketKey}
		}},
		{"outbox row deleted", func(t *testing.T, w *auditWorld) []string {
			a1 := w.bills["A1"].ID
			exec(t, w, 1, `delete from outbox where settlement_id = $1 and agency = 'civil_affairs' and kind = 'settlement'`, a1)
			return []string{"outbox_missing civil_affairs:" + a1 + "/settlement"}
		}},
		{"cancellation row deleted", func(t *testing.T, w *auditWorld) []string {
			a3 := w.bills["A3"].ID
			exec(t, w, 1, `delete from outbox where settlement_id = $1 and agency = 'civil_affairs' and kind = 'cancellation'`, a3)
			return []string{"outbox_missing civil_affairs:" + a3 + "/cancellation"}
		}},
		{"delivered payload changed", func(t *testing.T, w *auditWorld) []string {
			c1 := w.bills["C1"].ID
			exec(t, w, 1, `update outbox set payload = jsonb_set(payload, '{account}', '"999.00"')
				where settlement_id = $1 and agency = 'insurance_bureau' and kind = 'settlement' and delivered_at is not null`, c1)
			return []string{"outbox_mismatch insurance_bureau:" + c1 + "/settlement"}
		}},
		{"delivered payment changed", func(t *testing.T, w *auditWorld) []string {
			d1 := w.bills["D1"].ID
			exec(t, w, 1, `update outbox set payload = jsonb_set(payload, '{payments,0,Amount}', '"1.00"')
				where settlement_id = $1 and agency = 'civil_affairs' and delivered_at is not null`, d1)
			return []string{"outbox_mismatch civil_affairs:" + d1 + "/settlement"}
		}},
		{"outbox row for an agency not concerned", func(t *testing.T, w *auditWorld) []string {
			b1 := w.bills["B1"].ID
			exec(t, w, 1, `insert into outbox (message_id, agency, kind, person_key, settlement_id, institution_id, payload, created_at, next_attempt_at)
				select message_id, 'red_cross', kind, person_key, settlement_id, institution_id, payload, created_at, next_attempt_at
				from outbox where settlement_id = $1 and kind = 'settlement'`, b1)
			return []string{"outbox_unexpected red_cross:" + b1 + "/settlement"}
		}},
		{"paid accumulator over its cap", func(t *testing.T, w *auditWorld) []string {
			exec(t, w, 1, `update accumulators set amount = 600.01 where person_key = 'pA' and year = 2026 and key = 'basic_resident.outpatient.paid'`)
			return []string{"accumulator pA/2026/basic_resident.outpatient.paid", "cap pA/2026/basic_resident.outpatient.paid"}
		}},
		{"critical illness past 400,000: over the cap only without tekun", func(t *testing.T, w *auditWorld) []string {
			for _, name := range []string{"D1", "E1"} {
				st := w.bills[name]
				exec(t, w, 1, `update settlement_deltas set amount = 450000 where settlement_id = $1 and key = 'critical_illness.all.paid'`, st.ID)
				exec(t, w, 1, `update accumulators set amount = 450000 where person_key = $1 and year = 2026 and key = 'critical_illness.all.paid'`, st.PersonKey)
			}
			return []string{"delta " + w.bills["D1"].ID, "delta " + w.bills["E1"].ID, "cap pE/2026/critical_illness.all.paid"}
		}},
		{"negative amount", func(t *testing.T, w *auditWorld) []string {
			b1 := w.bills["B1"].ID
			exec(t, w, 1, `update settlements set hospital = -1.00 where id = $1 and hospital = 0`, b1)
			return []string{"negative " + b1, "sum " + b1}
		}},
		{"cancellation record lost", func(t *testing.T, w *auditWorld) []string {
			b2 := w.bills["B2"].ID
			exec(t, w, 1, `delete from cancellations where settlement_id = $1`, b2)
			return []string{"cancellation " + b2}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := postgresWorld(t)
			want := tt.corrupt(t, w)
			got, _ := audit(t, w.l)
			wantViolations(t, got, want...)
		})
	}
}

// exec runs corrupting SQL that must change exactly n rows.
func exec(t *testing.T, w *auditWorld, n int64, sql string, args ...any) {
	t.Helper()
	tag, err := w.pool.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != n {
		t.Fatalf("%s changed %d rows, want %d", sql, tag.RowsAffected(), n)
	}
}

// The journal rebuilds its accumulators and outbox from its settle and cancel records, so
// only the records themselves can be corrupted: by editing the file, then reopening it.
func TestAuditJournalCorruptions(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(w *auditWorld, st map[string]map[string]any) []string
	}{
		{"payment amount", func(w *auditWorld, st map[string]map[string]any) []string {
			a1 := w.bills["A1"].ID
			pays := st[a1]["Payments"].([]any)
			pays[0].(map[string]any)["Amount"] = "1.00"
			return []string{"sum " + a1, "delta " + a1}
		}},
		{"paid delta past the cap", func(w *auditWorld, st map[string]map[string]any) []string {
			a1 := w.bills["A1"].ID
			st[a1]["Deltas"].(map[string]any)["basic_resident.outpatient.paid"] = "700.00"
			return []string{"delta " + a1, "cap pA/2026/basic_resident.outpatient.paid"}
		}},
		{"critical illness past 400,000: over the cap only without tekun", func(w *auditWorld, st map[string]map[string]any) []string {
			for _, name := range []string{"D1", "E1"} {
				st[w.bills[name].ID]["Deltas"].(map[string]any)["critical_illness.all.paid"] = "450000.00"
			}
			return []string{"delta " + w.bills["D1"].ID, "delta " + w.bills["E1"].ID, "cap pE/2026/critical_illness.all.paid"}
		}},
		{"negative amount", func(w *auditWorld, st map[string]map[string]any) []string {
			b1 := w.bills["B1"].ID
			st[b1]["Hospital"] = "-1.00"
			return []string{"negative " + b1, "sum " + b1}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := journalWorld(t)
			w.l.(*ledger.Journal).Close()
			want := editJournal(t, w.journal, func(st map[string]map[string]any) []string { return tt.corrupt(w, st) })
			got, _ := audit(t, openAuditJournal(t, w.journal))
			wantViolations(t, got, want...)
		})
	}
}

// editJournal lets edit change the settle records of the journal at path, by settlement id.
func editJournal(t *testing.T, path string, edit func(map[string]map[string]any) []string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var records []map[string]any
	settlements := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var rec map[string]any
		if err := d.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if rec["op"] == "settle" {
			st := rec["settlement"].(map[string]any)
			settlements[st["ID"].(string)] = st
		}
		records = append(records, rec)
	}
	want := edit(settlements)
	var out bytes.Buffer
	for _, rec := range records {
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return want
}
