package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"onestop/gateway"
)

// withReconcile is the root command with reconcile, whether or not main.go adds it yet.
func withReconcile() *cobra.Command {
	root := newRoot()
	if c, _, err := root.Find([]string{"reconcile"}); err != nil || c.Name() != "reconcile" {
		root.AddCommand(reconcileCmd())
	}
	return root
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "detail.csv")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadDetailFile(t *testing.T) {
	rows, err := readDetailFile(writeFile(t, "\ufeffcash,settlement_id,total,fund_total,account,cancelled,note\n"+
		"1.5,S1,10,8.5,0,false,x\n0.00,S2,3.00,3,0.00,1,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].id != "S1" || !rows[0].cash.Equal(decimal.RequireFromString("1.50")) || rows[0].cancelled ||
		!rows[1].cancelled || rows[1].line != 3 || !rows[1].fundTotal.Equal(decimal.New(3, 0)) {
		t.Errorf("rows: %+v", rows)
	}
	head := "settlement_id,total,fund_total,account,cash,cancelled\n"
	for _, tc := range []struct{ content, want string }{
		{"", "empty"},
		{"settlement_id,total,fund_total,account,cash\n", "the header lacks cancelled"},
		{"id,total\n", "the header lacks settlement_id, fund_total, account, cash, cancelled"},
		{head + "S1,ten,1,0,9,false\n", `:2: total "ten" is not an amount`},
		{head + "S1,10,1,0,9,yes\n", `:2: cancelled "yes": want true, false, 1 or 0`},
		{head + "S1,10,1,0,9,false\nS1,10,1,0,9,false\n", ":3: settlement S1 is also on line 2"},
		{head + ",10,1,0,9,false\n", ":2: settlement_id is empty"},
		{head + "S1,10,1,0\n", `:2: cash "" is not an amount`},
	} {
		_, err := readDetailFile(writeFile(t, tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "detail.csv") {
			t.Errorf("%q: got %v, want %q", tc.content, err, tc.want)
		}
	}
}

// TestCompareDetails: one settlement missing from onestop, one missing from the file, one
// differing amount, one differing cancelled flag: exactly those four, amounts by value.
func TestCompareDetails(t *testing.T) {
	d := decimal.RequireFromString
	row := func(id, total string, cancelled bool) detailRow {
		return detailRow{id: id, total: d(total), fundTotal: d("1"), account: d("0"), cash: d(total).Sub(d("1")), cancelled: cancelled}
	}
	file := []detailRow{row("A", "10.0", false), row("B", "20", false), row("C", "30", true), row("X", "5", false), row("E", "7", false)}
	file[1].cash = d("18.99") // B: cash differs
	for i := range file {
		file[i].line = i + 2
	}
	ours := []detailRow{row("A", "10.00", false), row("B", "20", false), row("C", "30", false), row("D", "40", false), row("E", "7", false)}
	got := compareDetails(file, ours)
	want := []difference{
		{SettlementID: "B", Kind: "differs", Field: "cash", File: "18.99", Onestop: "19.00", Line: 3},
		{SettlementID: "C", Kind: "differs", Field: "cancelled", File: "true", Onestop: "false", Line: 4},
		{SettlementID: "X", Kind: "missing_in_onestop", Line: 5},
		{SettlementID: "D", Kind: "missing_in_file"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// simMessages is what the simulator accepted for one agency, with payloads.
func simMessages(t *testing.T, simAddr, agency string) []struct {
	Kind    string               `json:"kind"`
	Payload gateway.AgencyNotice `json:"payload"`
} {
	t.Helper()
	resp, err := http.Get("http://" + simAddr + "/messages?payload=true&agency=" + agency)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var recs []struct {
		Kind    string               `json:"kind"`
		Payload gateway.AgencyNotice `json:"payload"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestReconcileAgainstDev: onestop dev settles and cancels bills at the demo clinic and its
// village clinic; the statement's rows are the bills' sums, --details lists them in the
// institution's format, --compare finds exactly the four differences planted in a copy of
// that file, and per agency the in-process simulator received exactly the statement's net
// of the funds routed to it (gateway.FundAgencies).
func TestReconcileAgainstDev(t *testing.T) {
	grpcAddr, httpAddr, simAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	root.SetArgs([]string{"dev", "--data-dir", t.TempDir(), "--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--agency-sim-addr", simAddr})
	var logs syncBuffer
	root.SetErr(&logs)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitHealthy(t, httpAddr, done, &logs)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev stopped with %v", err)
		}
	}()

	run := func(token, inst string, args ...string) (string, error) {
		c := withReconcile()
		var out, errOut bytes.Buffer
		c.SetOut(&out)
		c.SetErr(&errOut)
		c.SetArgs(append(args, "--addr", grpcAddr, "--token", token, "--institution", inst))
		err := c.ExecuteContext(context.Background())
		return out.String(), err
	}
	clinic := func(args ...string) string {
		t.Helper()
		out, err := run("dev-clinic-token", "H320401", args...)
		if err != nil {
			t.Fatalf("onestop %v: %v\n%s", args, err, out)
		}
		return out
	}
	village := func(args ...string) string {
		t.Helper()
		out, err := run("dev-village-token", "H320411", args...)
		if err != nil {
			t.Fatalf("onestop %v: %v\n%s", args, err, out)
		}
		return out
	}
	settle := func(who func(...string) string, id, med string, lines ...string) string {
		args := []string{"settle", "--id-card", "320402198001011234", "--request-id", id, "--med-type", med, "--json"}
		for _, l := range lines {
			args = append(args, "--line", l)
		}
		var resp struct {
			SettlementID string `json:"settlement_id"`
		}
		if err := json.Unmarshal([]byte(who(args...)), &resp); err != nil || resp.SettlementID == "" {
			t.Fatalf("settle %s: %v", id, err)
		}
		return resp.SettlementID
	}
	// The dev gateway's months are Asia/Shanghai's; the bills are stored now.
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	month := time.Now().In(shanghai).Format("2006-01")

	ids := []string{
		settle(clinic, "r-1", "outpatient", "SVC-001:1:25.00", "DRUG-102:2:38.50"),
		settle(clinic, "r-2", "outpatient", "SVC-001:1:25.00", "DRUG-101:3:12.00"),
		settle(clinic, "r-3", "inpatient", "SVC-002:3:60.00", "DRUG-102:4:38.50"),
		settle(clinic, "r-4", "outpatient", "SVC-001:1:25.00"),
		settle(village, "v-1", "outpatient", "SVC-001:1:25.00", "DRUG-101:1:12.00"),
	}
	clinic("cancel", ids[1], "--request-id", "c-2")

	var st struct {
		Parts []struct {
			Name            string `json:"name"`
			SettledAmount   string `json:"settled_amount"`
			CancelledAmount string `json:"cancelled_amount"`
		} `json:"parts"`
		AidInpatient struct {
			Settlements string `json:"settlements"`
		} `json:"aid_inpatient"`
		GroupQuota *struct {
			GroupID string `json:"group_id"`
			Quota   string `json:"quota"`
			Paid    string `json:"paid"`
			Own     string `json:"this_institution_paid"`
		} `json:"group_quota"`
	}
	out := clinic("reconcile", "--month", month, "--format", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The village clinic's pooling is in the group's, not in the clinic's own part.
	if q := st.GroupQuota; q == nil || q.GroupID != "G320412-HL" || q.Quota != "180000.00" ||
		!decimal.RequireFromString(q.Paid).GreaterThan(decimal.RequireFromString(q.Own)) || !decimal.RequireFromString(q.Own).IsPositive() {
		t.Errorf("group quota: %+v\n%s", st.GroupQuota, out)
	}
	if st.AidInpatient.Settlements != "1" {
		t.Errorf("aid inpatient: %+v (张三丰 holds dibao)\n%s", st.AidInpatient, out)
	}
	// The detail lines add up to the statement.
	details := clinic("reconcile", "--month", month, "--details")
	records, err := csv.NewReader(strings.NewReader(details)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(records[0][:6], ",") != "settlement_id,total,fund_total,account,cash,cancelled" || len(records) != 5 {
		t.Fatalf("details:\n%s", details)
	}
	var total, cancelledTotal decimal.Decimal
	for _, r := range records[1:] {
		total = total.Add(decimal.RequireFromString(r[1]))
		if r[5] == "true" {
			cancelledTotal = cancelledTotal.Add(decimal.RequireFromString(r[1]))
		}
	}
	for _, p := range st.Parts {
		if p.Name == "total" && (p.SettledAmount != total.StringFixed(2) || p.CancelledAmount != cancelledTotal.StringFixed(2)) {
			t.Errorf("total: statement %+v, details %s settled, %s cancelled", p, total, cancelledTotal)
		}
	}
	if out := clinic("reconcile", "--month", month, "--compare", writeFile(t, details)); !strings.Contains(out, "no differences") {
		t.Errorf("comparing onestop's own lines: %s", out)
	}

	// The institution's file: the first line dropped, a settlement onestop never had, one
	// amount and one cancelled flag changed.
	var file bytes.Buffer
	w := csv.NewWriter(&file)
	_ = w.Write(records[0][:6])
	for i, r := range records[1:] {
		r = slices.Clone(r[:6])
		switch i {
		case 0:
			continue
		case 1:
			r[4] = decimal.RequireFromString(r[4]).Add(decimal.New(1, 0)).String()
		case 2:
			r[5] = map[string]string{"true": "0", "false": "1"}[r[5]]
		}
		_ = w.Write(r)
	}
	_ = w.Write([]string{"0190a000-0000-7000-8000-000000000000", "1.00", "0.00", "0.00", "1.00", "false"})
	w.Flush()
	out, err = run("dev-clinic-token", "H320401", "reconcile", "--month", month, "--compare", writeFile(t, file.String()), "--format", "csv")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("compare with differences: %v, want exit status 1", err)
	}
	diffs, _ := csv.NewReader(strings.NewReader(out)).ReadAll()
	var kinds []string
	for _, d := range diffs[1:] {
		kinds = append(kinds, d[0]+" "+d[1]+" "+d[2])
	}
	want := []string{records[2][0] + " differs cash", records[3][0] + " differs cancelled",
		"0190a000-0000-7000-8000-000000000000 missing_in_onestop ", records[1][0] + " missing_in_file "}
	if !slices.Equal(kinds, want) {
		t.Errorf("differences:\n%s\nwant %q", out, want)
	}

	// Statements agree with what the agencies received: per agency, the payments of the
	// settlement notices less those of the cancellation notices, over both institutions,
	// equal the statements' nets of the funds routed to it (and the bureau's account).
	net := map[string]decimal.Decimal{}
	for _, who := range []func(...string) string{clinic, village} {
		var s struct {
			Funds []struct {
				Name      string `json:"name"`
				NetAmount string `json:"net_amount"`
			} `json:"funds"`
			Parts []struct {
				Name      string `json:"name"`
				NetAmount string `json:"net_amount"`
			} `json:"parts"`
		}
		if err := json.Unmarshal([]byte(who("reconcile", "--month", month, "--json")), &s); err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Funds {
			if a, ok := gateway.FundAgencies[f.Name]; ok {
				net[a] = net[a].Add(decimal.RequireFromString(f.NetAmount))
			}
		}
		for _, p := range s.Parts {
			if p.Name == "account" {
				net["account"] = net["account"].Add(decimal.RequireFromString(p.NetAmount))
			}
		}
	}
	if !net[gateway.AgencyInsuranceBureau].IsPositive() || !net[gateway.AgencyCivilAffairs].IsPositive() {
		t.Fatalf("the bills should reach the bureau and civil affairs: %v", net)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := map[string]decimal.Decimal{}
		messages := 0
		for _, agency := range gateway.Agencies {
			for _, m := range simMessages(t, simAddr, agency) {
				sign := decimal.New(1, 0)
				switch m.Kind {
				case gateway.OutboxKindCancellation:
					sign = sign.Neg()
				case gateway.OutboxKindSettlement:
				default:
					continue
				}
				messages++
				for _, p := range m.Payload.Payments {
					got[agency] = got[agency].Add(p.Amount.Mul(sign))
				}
				got["account"] = got["account"].Add(m.Payload.Account.Mul(sign))
			}
		}
		diff := ""
		for k, v := range net {
			if !got[k].Equal(v) {
				diff += fmt.Sprintf(" %s: received %s, statements %s;", k, got[k].StringFixed(2), v.StringFixed(2))
			}
		}
		if diff == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d messages the agencies disagree with the statements:%s", messages, diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
