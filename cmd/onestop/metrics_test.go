package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"onestop/adapters/agencysim"
	"onestop/cache/cachetest"
	"onestop/gateway/ledger/ledgertest"
)

// startGateway runs onestop with args until the test ends, and returns its gRPC and HTTP
// addresses once it is healthy.
func startGateway(t *testing.T, args ...string) (grpcAddr, httpAddr string) {
	t.Helper()
	grpcAddr, httpAddr = freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	root := newRoot()
	root.SetArgs(append(args, "--grpc-addr", grpcAddr, "--http-addr", httpAddr))
	out := &syncBuffer{}
	root.SetErr(out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("onestop %s stopped with %v", args[0], err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("onestop %s did not shut down", args[0])
		}
	})
	waitHealthy(t, httpAddr, done, out)
	return grpcAddr, httpAddr
}

// cashier runs the cashier client as the demo clinic (H320401, a level-1 institution) and
// returns what it printed.
func cashier(t *testing.T, grpcAddr string, args ...string) string {
	t.Helper()
	c := newRoot()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(io.Discard)
	c.SetArgs(append(args, "--addr", grpcAddr, "--token", "dev-clinic-token", "--institution", "H320401"))
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("onestop %v: %v", args, err)
	}
	return out.String()
}

func scrape(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDevCountsSettlements: one settle of the demo bill, its replay, a pre-settle, a refusal
// and a cancel move the business counters and the gRPC metrics exactly as far as they should.
func TestDevCountsSettlements(t *testing.T) {
	grpcAddr, httpAddr := startGateway(t, "dev", "--data-dir", t.TempDir())

	bill := []string{"--id-card", "320402198001011234", "--line", "SVC-001:1:25.00", "--line", "DRUG-102:2:38.50", "--date", "2026-06-15"}
	if out := cashier(t, grpcAddr, append([]string{"presettle"}, bill...)...); !strings.Contains(out, "17.13") {
		t.Fatalf("presettle:\n%s", out)
	}
	settle := append([]string{"settle", "--request-id", "m-1", "--json"}, bill...)
	var first struct {
		SettlementID string `json:"settlement_id"`
		Payments     []struct {
			Fund   string `json:"fund"`
			Amount string `json:"amount"`
		} `json:"fund_payments"`
		Cash string `json:"cash"`
	}
	out := cashier(t, grpcAddr, settle...)
	if err := json.Unmarshal([]byte(out), &first); err != nil || first.SettlementID == "" || len(first.Payments) == 0 {
		t.Fatalf("settle: %v\n%s", err, out)
	}
	cashier(t, grpcAddr, settle...) // the replay
	refused := []string{"settle", "--id-card", "320402198001011234", "--line", "NO-SUCH-ITEM:1:1.00", "--date", "2026-06-15"}
	if err := clientErr(t, grpcAddr, refused...); err == nil {
		t.Fatal("an unknown item was settled")
	}
	cashier(t, grpcAddr, "cancel", first.SettlementID)

	metrics := scrape(t, httpAddr)
	want := []string{
		`onestop_settlements_total{level="1",med_type="OUTPATIENT"} 1`,
		`onestop_presettlements_total{level="1",med_type="OUTPATIENT"} 1`,
		`onestop_settlements_replayed_total 1`,
		`onestop_cancellations_total 1`, // and the settlement is still counted: flows
		`onestop_settlement_billed_yuan_total 102`,
		`onestop_settlement_cash_yuan_total ` + strings.TrimRight(strings.TrimRight(first.Cash, "0"), "."),
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Settle",grpc_service="onestop.v1.SettlementService",grpc_type="unary"} 2`,
		`grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="Settle",grpc_service="onestop.v1.SettlementService",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="PreSettle",grpc_service="onestop.v1.SettlementService",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="CancelSettlement",grpc_service="onestop.v1.SettlementService",grpc_type="unary"} 1`,
		// Initialized before any call: a dashboard's rate reads 0, not "no data".
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetEligibility",grpc_service="onestop.v1.EligibilityService",grpc_type="unary"} 0`,
		`grpc_server_handling_seconds_bucket{grpc_method="Settle",grpc_service="onestop.v1.SettlementService",grpc_type="unary",le="+Inf"} 3`,
		`grpc_server_handling_seconds_bucket{grpc_method="Settle",grpc_service="onestop.v1.SettlementService",grpc_type="unary",le="0.0005"}`,
	}
	for _, p := range first.Payments {
		want = append(want, `onestop_settlement_amount_yuan_total{fund="`+p.Fund+`"} `+strings.TrimRight(strings.TrimRight(p.Amount, "0"), "."))
	}
	for _, w := range want {
		if !strings.Contains(metrics, w+"\n") && !strings.Contains(metrics, w+" ") {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(metrics, "onestop_settle", "onestop_presettle", "onestop_cancel", "grpc_server_handled_total{grpc_code=\"OK\""))
	}
	// dev without --redis has no Redis pool, and never a Postgres one.
	if strings.Contains(metrics, "onestop_redis_pool_") || strings.Contains(metrics, "onestop_postgres_pool_") {
		t.Error("pool metrics without the pool")
	}
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestDashboardMetricsExist: every metric the Grafana dashboard queries is one a gateway
// exposes — onestop serve on Postgres and Redis with agencies, after a settle has reached
// them — so that a renamed metric cannot leave a panel silently empty.
func TestDashboardMetricsExist(t *testing.T) {
	used := dashboardMetrics(t, "../../deploy/grafana/onestop.json")
	if len(used) < 20 {
		t.Fatalf("only %d metrics found in the dashboard: %v", len(used), used)
	}

	pool := ledgertest.Pool(t, 0)
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	files := &config{DataDir: t.TempDir()}
	if err := files.useDemo(); err != nil {
		t.Fatal(err)
	}
	sim, err := agencysim.New(agencysim.Config{PersonsFile: files.AgencyPersons, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	agencies := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { agencies.Close(); sim.Close() })
	t.Setenv("ONESTOP_PERSON_KEY_SECRET", "a-test-secret-of-some-length")
	_, prefix := cachetest.Redis(t)
	grpcAddr, httpAddr := startGateway(t, "serve", "--postgres-url", ledgertest.SchemaURL(t, schema),
		"--redis", cachetest.URL(t), "--redis-prefix", prefix, "--agencies-url", agencies.URL,
		"--snapshot", files.Snapshot, "--institutions", files.Institutions, "--catalog", files.Catalog, "--policies", files.Policies)

	// A settle goes to the agencies through the outbox, and a delta to Redis invalidates the
	// gateway's cache: some series appear only then.
	bill := []string{"--id-card", "320402198001011234", "--line", "SVC-001:1:25.00", "--date", "2026-06-15"}
	cashier(t, grpcAddr, append([]string{"presettle"}, bill...)...)
	cashier(t, grpcAddr, append([]string{"settle"}, bill...)...)
	snapshot, err := os.ReadFile(files.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	delta := filepath.Join(t.TempDir(), "delta.jsonl")
	if err := os.WriteFile(delta, append(bytes.SplitAfter(snapshot, []byte("\n"))[0], '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	snap := newRoot()
	snap.SetOut(io.Discard)
	snap.SetArgs([]string{"snapshot", "delta", delta, "--redis", cachetest.URL(t), "--redis-prefix", prefix})
	if err := snap.Execute(); err != nil {
		t.Fatalf("snapshot delta: %v", err)
	}
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		exposed := exposedMetrics(scrape(t, httpAddr))
		missing = missing[:0]
		for _, m := range used {
			if !exposed[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("the dashboard queries metrics /metrics does not expose: %v", missing)
	}

	// No label of any series carries an ID number or a terminal token, also after calls
	// over REST and refusals that name them in their messages.
	for _, path := range []string{"/v1/eligibility:lookup", "/v1/settlements:presettle"} {
		body := `{"institution_id":"H320401","credential":{"type":"ID_CARD","value":"320402198001011234"},"med_type":"OUTPATIENT","lines":[{"code":"NOPE","quantity":"1","unit_price":"1","amount":"1.00"}]}`
		for _, token := range []string{"dev-clinic-token", "not-a-token"} {
			req, _ := http.NewRequest("POST", "http://"+httpAddr+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	text := scrape(t, httpAddr)
	// Label sets only: sample values are floats whose digits may look like anything.
	idLike := regexp.MustCompile(`\d{17}[\dXx]`)
	for _, labels := range promMatchers.FindAllString(text, -1) {
		if idLike.MatchString(labels) {
			t.Errorf("/metrics carries an ID-number-like label value: %s", labels)
		}
	}
	for _, secret := range []string{"dev-clinic-token", "not-a-token", "dev-hospital-token", "a-test-secret-of-some-length"} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics carries %q", secret)
		}
	}
}

var (
	// What in PromQL is not a metric name yet may look like one: strings (label values),
	// label matchers, and the label lists of by, without, on and ignoring.
	promStrings    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers   = regexp.MustCompile(`\{[^}]*\}`)
	promLabelLists = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promNames      = regexp.MustCompile(`\b(?:onestop|grpc)_[a-zA-Z0-9_:]*`)
)

// dashboardMetrics returns the onestop_ and grpc_ metrics the dashboard's panels and
// variables query.
func dashboardMetrics(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		SchemaVersion int `json:"schemaVersion"`
		Inputs        []struct {
			Name string `json:"name"`
		} `json:"__inputs"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d.SchemaVersion < 36 || len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" {
		t.Errorf("schemaVersion %d, inputs %+v: want a current schema and the DS_PROMETHEUS input", d.SchemaVersion, d.Inputs)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	var names []string
	for _, e := range exprs {
		e = promStrings.ReplaceAllString(e, `""`)
		e = promMatchers.ReplaceAllString(e, "")
		e = promLabelLists.ReplaceAllString(e, "")
		for _, n := range promNames.FindAllString(e, -1) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// exposedMetrics returns the names of the samples in a text exposition (a histogram's
// _bucket, _sum and _count among them).
func exposedMetrics(text string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			out[l[:i]] = true
		}
	}
	return out
}
