package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
	"onestop/gateway/policy"
)

// The statement part of the conformance suite: both ledgers, through gateway.Service, so
// that the periods are the gateway's (months of Asia/Shanghai).

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// clocked is a ledger whose storing time the test sets.
type clocked interface {
	gateway.Ledger
	SetClock(func() time.Time)
}

// history is a ledger whose settlements and cancellations the test places in time.
type history struct {
	t   *testing.T
	l   clocked
	at  time.Time
	seq int
}

func newHistory(t *testing.T, l gateway.Ledger) *history {
	cl, ok := l.(clocked)
	if !ok {
		t.Fatalf("%T has no SetClock", l)
	}
	h := &history{t: t, l: cl}
	cl.SetClock(func() time.Time { return h.at })
	return h
}

// bill is what a test settles: the parts, the payments and the receipt's figures.
type bill struct {
	inst, medType       string
	payments            []gateway.FundPayment
	hospital, account   decimal.Decimal
	cash                decimal.Decimal
	excluded, overlimit decimal.Decimal
	categories          []string
	settledAt, cancelAt time.Time // cancelAt zero: never cancelled
	id                  string
	fundTotal, total    decimal.Decimal
}

func pay(fund, code, amount string) gateway.FundPayment {
	return gateway.FundPayment{Fund: fund, FundCode: code, Pool: "p", Amount: decimal.RequireFromString(amount), ThresholdApplied: decimal.Zero, Ratio: decimal.RequireFromString("0.5")}
}

func (h *history) settle(b *bill) *bill {
	h.t.Helper()
	h.seq++
	b.fundTotal = decimal.Zero
	for _, p := range b.payments {
		b.fundTotal = b.fundTotal.Add(p.Amount)
	}
	b.total = b.fundTotal.Add(b.hospital).Add(b.account).Add(b.cash)
	h.at = b.settledAt
	req := fmt.Sprintf("r%d", h.seq)
	person := fmt.Sprintf("p%d", h.seq%7)
	local := b.settledAt.In(shanghai)
	st, _, err := h.l.Settle(ctx, gateway.SettleKey{InstitutionID: b.inst, RequestID: req, RequestHash: "h", PersonKey: person, Year: local.Year()},
		func(gateway.Position) (*gateway.Settlement, error) {
			return &gateway.Settlement{
				InstitutionID: b.inst, RequestID: req, PersonKey: person, Year: local.Year(), State: gateway.StateSettled,
				Total: b.total, PolicyScope: b.total, FundTotal: b.fundTotal, Hospital: b.hospital, Account: b.account, Cash: b.cash,
				Payments: slices.Clone(b.payments), Deltas: policy.Accumulators{"x.y.paid": b.fundTotal},
				Receipt: gateway.Receipt{MedType: b.medType, SettleDate: policy.DateOf(local), Excluded: b.excluded, Overlimit: b.overlimit,
					Person: gateway.PersonSummary{IDMasked: "3204**********" + fmt.Sprintf("%04d", h.seq), Categories: b.categories}},
			}, nil
		})
	if err != nil {
		h.t.Fatal(err)
	}
	b.id = st.ID
	if !st.SettledAt.Equal(b.settledAt) {
		h.t.Fatalf("stored at %s, want %s", st.SettledAt, b.settledAt)
	}
	return b
}

// cancel cancels the bills in order of their cancel times.
func (h *history) cancel(bills []*bill) {
	h.t.Helper()
	var todo []*bill
	for _, b := range bills {
		if !b.cancelAt.IsZero() {
			todo = append(todo, b)
		}
	}
	slices.SortFunc(todo, func(a, b *bill) int { return a.cancelAt.Compare(b.cancelAt) })
	for i, b := range todo {
		h.at = b.cancelAt
		if _, _, err := h.l.Cancel(ctx, gateway.CancelKey{InstitutionID: b.inst, RequestID: fmt.Sprintf("c%d", i), SettlementID: b.id}); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *history) service(dir gateway.Directory) *gateway.Service {
	return &gateway.Service{Ledger: h.l, Location: shanghai, Directory: dir, Now: func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }}
}

func callerOf(inst string) gateway.Caller {
	return gateway.Caller{Institution: &gateway.Institution{ID: inst}, TerminalID: "T1"}
}

func local(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, shanghai).UTC()
}

// generate makes three months of bills (August to October 2026, Shanghai) for two
// institutions: random funds (a fund twice in one bill, zero payments), med types and
// parts; bills on both sides of local midnight at month ends (UTC is still in the old
// month); a quarter cancelled, some the same month, some the next.
func generate(seed uint64) []*bill {
	r := rand.New(rand.NewPCG(seed, 7))
	amount := func(max int) string { return decimal.New(int64(r.IntN(max*100)), -2).StringFixed(2) }
	var bills []*bill
	start := local(2026, 8, 1, 0, 0)
	end := local(2026, 11, 1, 0, 0)
	span := end.Sub(start)
	at := []time.Time{local(2026, 8, 31, 23, 59), local(2026, 9, 1, 0, 1), local(2026, 9, 30, 23, 30), local(2026, 10, 1, 7, 59), local(2026, 10, 31, 23, 59)}
	for i := range 90 {
		b := &bill{inst: []string{"H1", "H2"}[i%2], medType: []string{policy.Outpatient, policy.Chronic, policy.Inpatient}[r.IntN(3)]}
		if i < len(at) {
			b.settledAt = at[i]
		} else {
			b.settledAt = start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Second)
		}
		funds := [][2]string{{"basic_resident", "390100"}, {"critical_illness", "390200"}, {"medical_aid", "610100"}, {"tilted_aid", ""}}
		for range r.IntN(4) {
			f := funds[r.IntN(len(funds))]
			b.payments = append(b.payments, pay(f[0], f[1], amount(500)))
		}
		if r.IntN(5) == 0 {
			b.payments = append(b.payments, pay("basic_resident", "390100", "0.00")) // a threshold applied, nothing paid
		}
		if r.IntN(3) == 0 {
			b.hospital = decimal.RequireFromString(amount(50))
		}
		if r.IntN(2) == 0 {
			b.account = decimal.RequireFromString(amount(100))
		}
		b.cash = decimal.RequireFromString(amount(300))
		if r.IntN(4) == 0 {
			switch r.IntN(3) {
			case 0:
				b.cancelAt = b.settledAt.Add(time.Minute) // the same month, mostly
			case 1:
				b.cancelAt = b.settledAt.AddDate(0, 1, 0) // the next month
			default:
				b.cancelAt = b.settledAt.AddDate(0, 0, 3)
			}
		}
		bills = append(bills, b)
	}
	bills[0].cancelAt = local(2026, 9, 1, 0, 30) // settled 31 August, cancelled 1 September
	slices.SortFunc(bills, func(a, b *bill) int { return a.settledAt.Compare(b.settledAt) })
	return bills
}

// expected is the statement computed from the test's own bills: the oracle.
func expected(bills []*bill, inst string, from, to time.Time) map[string]gateway.StatementRow {
	rows := map[string]gateway.StatementRow{}
	add := func(name, code string, amount decimal.Decimal, cancelled bool) {
		r := rows[name]
		r.Name = name
		if code != "" {
			r.FundCode = code
		}
		n := int64(0)
		if !amount.IsZero() {
			n = 1
		}
		if cancelled {
			r.CancelledCount += n
			r.CancelledAmount = r.CancelledAmount.Add(amount)
		} else {
			r.SettledCount += n
			r.SettledAmount = r.SettledAmount.Add(amount)
		}
		r.Net = r.SettledAmount.Sub(r.CancelledAmount)
		rows[name] = r
	}
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(from) && t.Before(to) }
	for _, b := range bills {
		if b.inst != inst {
			continue
		}
		for _, cancelled := range []bool{false, true} {
			if (!cancelled && !in(b.settledAt)) || (cancelled && !in(b.cancelAt)) {
				continue
			}
			byFund := map[string]decimal.Decimal{}
			codes := map[string]string{}
			for _, p := range b.payments {
				byFund[p.Fund] = byFund[p.Fund].Add(p.Amount)
				codes[p.Fund] = max(codes[p.Fund], p.FundCode)
			}
			for f, a := range byFund {
				add(f, codes[f], a, cancelled)
			}
			add("total", "", b.total, cancelled)
			add("fund_total", "", b.fundTotal, cancelled)
			add("hospital", "999996", b.hospital, cancelled)
			add("account", "310200", b.account, cancelled)
			add("cash", "", b.cash, cancelled)
		}
	}
	return rows
}

func rowString(r gateway.StatementRow) string {
	return fmt.Sprintf("%s(%s) settled %d/%s cancelled %d/%s net %s", r.Name, r.FundCode, r.SettledCount, r.SettledAmount.StringFixed(2),
		r.CancelledCount, r.CancelledAmount.StringFixed(2), r.Net.StringFixed(2))
}

// compareStatement checks every row of a statement against want, and that nothing is missing.
func compareStatement(t *testing.T, st *gateway.Statement, want map[string]gateway.StatementRow) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range append(slices.Clone(st.Funds), st.Parts...) {
		seen[r.Name] = true
		w, ok := want[r.Name]
		if !ok {
			w = gateway.StatementRow{Name: r.Name, FundCode: r.FundCode}
		}
		if got, want := rowString(r), rowString(w); got != want {
			t.Errorf("%s %s:\n got %s\nwant %s", st.InstitutionID, st.Period, got, want)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s %s: no row %s (want %s)", st.InstitutionID, st.Period, name, rowString(want[name]))
		}
	}
}

var months = []string{"2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"}

func monthBounds(period string) (time.Time, time.Time) {
	t, _ := time.ParseInLocation("2006-01", period, shanghai)
	return t.UTC(), t.AddDate(0, 1, 0).UTC()
}

// testStatementMonths is issue 7's test: over three generated months with cancellations,
// every statement row equals the sum of the ledger's rows.
func testStatementMonths(t *testing.T, l gateway.Ledger) {
	h := newHistory(t, l)
	bills := generate(1)
	for _, b := range bills {
		h.settle(b)
	}
	h.cancel(bills)
	svc := h.service(nil)
	stored := map[string]*gateway.Settlement{}
	for _, b := range bills {
		st, err := l.Get(ctx, b.inst, b.id)
		if err != nil {
			t.Fatal(err)
		}
		stored[b.id] = st
	}
	for _, inst := range []string{"H1", "H2"} {
		for _, m := range months {
			st, err := svc.Statement(ctx, callerOf(inst), inst, m)
			if err != nil {
				t.Fatal(err)
			}
			from, to := monthBounds(m)
			compareStatement(t, st, expected(bills, inst, from, to))
			// And from what the ledger itself stored, read back one by one.
			compareStatement(t, st, expected(fromLedger(bills, stored), inst, from, to))
			if st.From.String() != m+"-01" || st.GroupQuota != nil {
				t.Errorf("%s: from %s, group %+v", m, st.From, st.GroupQuota)
			}
		}
	}
	// The sums of the three months' nets are the whole history's.
	var net decimal.Decimal
	var total decimal.Decimal
	for _, m := range months {
		st, _ := svc.Statement(ctx, callerOf("H1"), "H1", m)
		net = net.Add(st.Parts[0].Net)
	}
	for _, b := range bills {
		if b.inst == "H1" && b.cancelAt.IsZero() {
			total = total.Add(b.total)
		}
	}
	if !net.Equal(total) {
		t.Errorf("H1: Σ monthly net totals %s, want the uncancelled bills' %s", net, total)
	}
}

// fromLedger is the bills as the ledger stored them: amounts, payments and times read back.
func fromLedger(bills []*bill, stored map[string]*gateway.Settlement) []*bill {
	var out []*bill
	for _, b := range bills {
		st := stored[b.id]
		out = append(out, &bill{inst: st.InstitutionID, payments: st.Payments, hospital: st.Hospital, account: st.Account, cash: st.Cash,
			total: st.Total, fundTotal: st.FundTotal, settledAt: st.SettledAt, cancelAt: st.CancelledAt})
	}
	return out
}

// testListSettlements: the lines of a month are the month's settlements, in time order,
// with their payments and their cancellation as of now.
func testListSettlements(t *testing.T, l gateway.Ledger) {
	h := newHistory(t, l)
	bills := generate(2)
	for _, b := range bills {
		h.settle(b)
	}
	h.cancel(bills)
	svc := h.service(nil)
	for _, m := range months {
		from, to := monthBounds(m)
		var want []*bill
		for _, b := range bills {
			if b.inst == "H2" && !b.settledAt.Before(from) && b.settledAt.Before(to) {
				want = append(want, b)
			}
		}
		var got []*gateway.Settlement
		err := svc.ListSettlements(ctx, callerOf("H2"), gateway.ListRequest{InstitutionID: "H2", Period: m}, func(st *gateway.Settlement) error {
			got = append(got, st)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d lines, want %d", m, len(got), len(want))
		}
		for i, st := range got {
			b := want[i]
			if st.ID != b.id || !st.SettledAt.Equal(b.settledAt) || !st.Total.Equal(b.total) || !st.Cash.Equal(b.cash) || !st.Account.Equal(b.account) ||
				!st.FundTotal.Equal(b.fundTotal) || !st.Hospital.Equal(b.hospital) || len(st.Payments) != len(b.payments) ||
				(st.State == gateway.StateCancelled) != !b.cancelAt.IsZero() || !st.CancelledAt.Equal(b.cancelAt) ||
				st.Receipt.MedType != b.medType || st.Receipt.Person.IDMasked == "" || st.RequestID == "" ||
				st.Receipt.SettleDate != policy.DateOf(b.settledAt.In(shanghai)) {
				t.Errorf("%s line %d: %+v\nwant %+v", m, i, st, b)
			}
			for j, p := range st.Payments {
				if p.Fund != b.payments[j].Fund || !p.Amount.Equal(b.payments[j].Amount) || p.FundCode != b.payments[j].FundCode {
					t.Errorf("%s line %d payment %d: %+v, want %+v", m, i, j, p, b.payments[j])
				}
			}
		}
	}
	// A range of dates, inclusive; the caller's error stops the stream and is returned.
	n := 0
	stop := fmt.Errorf("stop")
	err := svc.ListSettlements(ctx, callerOf("H2"), gateway.ListRequest{InstitutionID: "H2", From: "2026-08-01", To: "2026-10-31"}, func(*gateway.Settlement) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Errorf("stopping after 3: %v after %d", err, n)
	}
}

// groupDir is a directory of one group.
type groupDir struct {
	gateway.Directory
	g *gateway.InstitutionGroup
}

func (d groupDir) Group(id string) (*gateway.InstitutionGroup, bool) {
	if slices.Contains(d.g.Members, id) {
		return d.g, true
	}
	return nil, false
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// testIndicatorsAndQuota: a hand-made October 2026, figures computed by hand in comments.
func testIndicatorsAndQuota(t *testing.T, l gateway.Ledger) {
	h := newHistory(t, l)
	out := func(inst string, at time.Time, fund, amount string) *bill {
		return &bill{inst: inst, medType: policy.Outpatient, settledAt: at, payments: []gateway.FundPayment{pay(fund, "", amount)}, cash: dec("10.00")}
	}
	oct := func(d int) time.Time { return local(2026, 10, d, 10, 0) }
	bills := []*bill{
		// The group's outpatient pooling before October: 400 + 300 + 100 + (80 − 80) + 100 = 900.
		out("V1", local(2026, 8, 5, 9, 0), "basic_resident", "400.00"),
		out("V2", local(2026, 9, 5, 9, 0), "basic_resident", "300.00"),
		out("H1", local(2026, 9, 6, 9, 0), "basic_employee", "100.00"),
		out("V2", local(2026, 9, 7, 9, 0), "basic_resident", "80.00"),    // cancelled in September: 0
		out("V2", local(2026, 9, 8, 9, 0), "basic_resident", "100.00"),   // cancelled in October: −100 there
		out("V1", local(2026, 9, 9, 9, 0), "medical_aid", "40.00"),       // not basic pooling
		out("V1", local(2025, 12, 20, 9, 0), "basic_resident", "200.00"), // last year's, cancelled in October
		out("H2", oct(3), "basic_resident", "999.00"),                    // not in the group
		// October: 150 + 120 + 250 + (50 − 50) − 100, and H1's 10.00 below: 430.
		out("V1", oct(2), "basic_resident", "150.00"),
		out("H1", oct(3), "basic_employee", "120.00"),
		out("V1", oct(4), "basic_resident", "250.00"),
		out("V2", oct(5), "basic_resident", "50.00"), // cancelled the same month
	}
	chronic := out("H1", local(2026, 9, 10, 9, 0), "basic_resident", "500.00")
	chronic.medType = policy.Chronic // chronic care is not outpatient pooling
	bills = append(bills, chronic)
	bills[3].cancelAt = local(2026, 9, 20, 9, 0)
	bills[4].cancelAt = oct(10)
	bills[6].cancelAt = oct(11)
	bills[11].cancelAt = oct(12)

	// H1's inpatient bills of October. Aid recipients, not cancelled: A and B.
	inpatient := func(total, excluded, overlimit, account string, cats []string) *bill {
		b := &bill{inst: "H1", medType: policy.Inpatient, settledAt: oct(15), categories: cats,
			excluded: dec(excluded), overlimit: dec(overlimit), account: dec(account)}
		b.payments = []gateway.FundPayment{pay("basic_resident", "390100", "100.00")}
		b.cash = dec(total).Sub(dec("100.00")).Sub(b.account)
		return b
	}
	a := inpatient("1000.00", "50.00", "30.00", "0.00", []string{"dibao"}) // cash 900
	b := inpatient("500.00", "20.00", "0.00", "40.00", []string{"tekun"})  // cash 360
	c := inpatient("800.00", "300.00", "0.00", "0.00", []string{"dibao"})  // cancelled
	d := inpatient("2000.00", "900.00", "0.00", "0.00", nil)               // not an aid recipient
	e := inpatient("300.00", "200.00", "0.00", "0.00", []string{"dibao"})  // September
	e.settledAt = local(2026, 9, 30, 10, 0)
	f := out("H1", oct(16), "basic_resident", "10.00") // an aid recipient's outpatient bill: pooling, not inpatient
	f.categories = []string{"dibao"}
	c.cancelAt = oct(20)
	bills = append(bills, a, b, c, d, e, f)
	slices.SortFunc(bills, func(x, y *bill) int { return x.settledAt.Compare(y.settledAt) })
	for _, x := range bills {
		h.settle(x)
	}
	h.cancel(bills)

	g := &gateway.InstitutionGroup{ID: "G1", Name: "湟里镇", Members: []string{"H1", "V1", "V2"}, EnrolledPersons: 10, QuotaPerPerson: dec("100.00")}
	svc := h.service(groupDir{g: g})
	st, err := svc.Statement(ctx, callerOf("H1"), "H1", "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	// Aid inpatient: 2 bills, total 1500; self-pay 50 + 30 + 20 = 100, 100/1500 = 0.0667;
	// burden (0 + 900) + (40 + 360) = 1300, 1300/1500 = 0.8667.
	ai := st.AidInpatient
	if got := fmt.Sprintf("%d %s %s %s %v %s %s", ai.Settlements, ai.Total.StringFixed(2), ai.SelfPay.StringFixed(2), ai.SelfPayShare.StringFixed(4), ai.SelfPayShareMet,
		ai.PersonalBurden.StringFixed(2), ai.PersonalBurdenShare.StringFixed(4)); got != "2 1500.00 100.00 0.0667 true 1300.00 0.8667" {
		t.Errorf("aid inpatient: got %s", got)
	}
	// The quota is 10 × 100 = 1000; 900 before October leaves 100 of October's 430 within it,
	// 330 above; H1's own part is 120 + 10.
	q := st.GroupQuota
	if q == nil {
		t.Fatal("no group quota")
	}
	if got := fmt.Sprintf("%s %s %s %s %s %s %s %v", q.Group.ID, q.Quota.StringFixed(2), q.PaidBefore.StringFixed(2), q.Paid.StringFixed(2),
		q.WithinQuota.StringFixed(2), q.AboveQuota.StringFixed(2), q.ThisInstitutionPaid.StringFixed(2), q.Group.Members); got != "G1 1000.00 900.00 430.00 100.00 330.00 130.00 [H1 V1 V2]" {
		t.Errorf("group quota: got %s", got)
	}
	// A member sees the same group figures, and its own part.
	st, err = svc.Statement(ctx, callerOf("V1"), "V1", "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	if q := st.GroupQuota; q == nil || !q.Paid.Equal(dec("430")) || !q.ThisInstitutionPaid.Equal(dec("400")) || !q.WithinQuota.Equal(dec("100")) {
		t.Errorf("V1's group quota: %+v", q)
	}
	// September: before = 400 (August), in September 300 + 100 + 80 − 80 + 100 = 500; all within.
	st, err = svc.Statement(ctx, callerOf("V2"), "V2", "2026-09")
	if err != nil {
		t.Fatal(err)
	}
	if q := st.GroupQuota; q == nil || !q.PaidBefore.Equal(dec("400")) || !q.Paid.Equal(dec("500")) || !q.WithinQuota.Equal(dec("500")) ||
		!q.AboveQuota.IsZero() || !q.ThisInstitutionPaid.Equal(dec("400")) {
		t.Errorf("V2's September quota: %+v", q)
	}
	// H2 is in no group.
	if st, err := svc.Statement(ctx, callerOf("H2"), "H2", "2026-10"); err != nil || st.GroupQuota != nil || st.AidInpatient.Settlements != 0 || !st.AidInpatient.SelfPayShareMet {
		t.Errorf("H2: %+v, %v", st, err)
	}
}

// TestPostgresStatementsEqualSQL: on Postgres, every statement row equals a plain SQL sum
// over settlements, fund_payments and cancellations, written apart from the ledger's.
func TestPostgresStatementsEqualSQL(t *testing.T) {
	pool := ledgertest.Pool(t, 0)
	l := ledger.NewPostgres(pool)
	h := newHistory(t, l)
	bills := generate(3)
	for _, b := range bills {
		h.settle(b)
	}
	h.cancel(bills)
	svc := h.service(nil)
	for _, inst := range []string{"H1", "H2"} {
		for _, m := range months {
			from, to := monthBounds(m)
			want := map[string]gateway.StatementRow{}
			scan := func(cancelled bool, query string) {
				rows, err := pool.Query(ctx, query, inst, from, to)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var name, code string
					var n int64
					var sum decimal.Decimal
					if err := rows.Scan(&name, &code, &n, &sum); err != nil {
						t.Fatal(err)
					}
					r := want[name]
					r.Name, r.FundCode = name, max(r.FundCode, code)
					if cancelled {
						r.CancelledCount, r.CancelledAmount = n, sum
					} else {
						r.SettledCount, r.SettledAmount = n, sum
					}
					r.Net = r.SettledAmount.Sub(r.CancelledAmount)
					want[name] = r
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
			}
			settled := `select id from settlements where institution_id = $1 and settled_at >= $2 and settled_at < $3`
			cancelled := `select settlement_id from cancellations where institution_id = $1 and cancelled_at >= $2 and cancelled_at < $3`
			for i, ids := range []string{settled, cancelled} {
				scan(i == 1, `select fund, max(fund_code), count(*) filter (where a <> 0), sum(a) from (
					select settlement_id, fund, max(fund_code) as fund_code, sum(amount) as a from fund_payments
					where settlement_id in (`+ids+`) group by settlement_id, fund) x group by fund`)
				for _, part := range []string{"total", "fund_total", "hospital", "account", "cash"} {
					code := map[string]string{"hospital": "999996", "account": "310200"}[part]
					scan(i == 1, fmt.Sprintf(`select '%s', '%s', count(*) filter (where %s <> 0), coalesce(sum(%s), 0) from settlements where id in (%s)`, part, code, part, part, ids))
				}
			}
			st, err := svc.Statement(ctx, callerOf(inst), inst, m)
			if err != nil {
				t.Fatal(err)
			}
			compareStatement(t, st, want)
		}
	}
}
