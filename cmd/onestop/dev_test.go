package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"onestop/gateway/policy"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"onestop/cache/cachetest"
	"onestop/gateway/ledger/ledgertest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDevSettlesAndShutsDown runs the README's first command as a user would: onestop dev on
// its embedded data, a settle and its replay with the cashier client, a cancel, and a clean
// shutdown when the context ends (as on SIGINT).
func TestDevSettlesAndShutsDown(t *testing.T) {
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	settleAndStop(t, grpcAddr, httpAddr, "dev", "--data-dir", t.TempDir())
}

// TestDevWithRedis: onestop dev on Redis instead of its in-process snapshot.
func TestDevWithRedis(t *testing.T) {
	_, prefix := cachetest.Redis(t)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	settleAndStop(t, grpcAddr, httpAddr, "dev", "--data-dir", t.TempDir(), "--redis", cachetest.URL(t), "--redis-prefix", prefix)
}

// TestServeOnPostgres: the production entry on a migrated schema of its own, with the demo
// files given as flags and the secret from the environment.
func TestServeOnPostgres(t *testing.T) {
	pool := ledgertest.Pool(t, 0)
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	files := &config{DataDir: t.TempDir()}
	if err := files.useDemo(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ONESTOP_PERSON_KEY_SECRET", "a-test-secret-of-some-length")
	_, prefix := cachetest.Redis(t)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	settleAndStop(t, grpcAddr, httpAddr, "serve", "--postgres-url", ledgertest.SchemaURL(t, schema),
		"--redis", cachetest.URL(t), "--redis-prefix", prefix, "--voucher-issuers", files.VoucherIssuers,
		"--snapshot", files.Snapshot, "--institutions", files.Institutions, "--catalog", files.Catalog, "--policies", files.Policies)
}

func TestServeRefusesAnIncompleteConfig(t *testing.T) {
	root := newRoot()
	root.SetArgs([]string{"serve", "--snapshot", "x.jsonl"})
	err := root.Execute()
	for _, want := range []string{"--postgres-url", "--redis", "--institutions", "--catalog", "--policies", "--person-key-secret"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to name %s", err, want)
		}
	}
}

func settleAndStop(t *testing.T, grpcAddr, httpAddr string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	root.SetArgs(append(args, "--grpc-addr", grpcAddr, "--http-addr", httpAddr))
	var out syncBuffer
	root.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	waitHealthy(t, httpAddr, done, &out)
	if args[0] == "dev" && (!strings.Contains(out.String(), "NOT FOR PRODUCTION") || !strings.Contains(out.String(), "grpcurl")) {
		t.Errorf("no banner or grpcurl example:\n%s", out.String())
	}

	checkHealthAndReflection(t, grpcAddr)

	client := func(args ...string) string {
		t.Helper()
		c := newRoot()
		var out bytes.Buffer
		c.SetOut(&out)
		c.SetArgs(append(args, "--addr", grpcAddr, "--token", "dev-clinic-token", "--institution", "H320401"))
		if err := c.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("onestop %v: %v", args, err)
		}
		return out.String()
	}
	// A fixed date: the demo policies are for 2026.
	bill := []string{"settle", "--id-card", "320402198001011234", "--line", "SVC-001:1:25.00", "--line", "DRUG-102:2:38.50", "--request-id", "t-1", "--date", "2026-06-15"}
	first := client(bill...)
	if !strings.Contains(first, "SETTLED") || !strings.Contains(first, "17.13") || strings.Contains(first, "REPLAYED") {
		t.Errorf("first settle:\n%s", first)
	}
	again := client(bill...)
	if !strings.Contains(again, "REPLAYED") || !strings.Contains(again, "17.13") {
		t.Errorf("replay:\n%s", again)
	}
	id := strings.Fields(first)[1]
	if out := client("cancel", id); !strings.Contains(out, "cancelled") {
		t.Errorf("cancel:\n%s", out)
	}

	// The patient's e-voucher (the dev issuer's key) settles once; its screenshot does not.
	issue := newRoot()
	var voucher bytes.Buffer
	issue.SetOut(&voucher)
	issue.SetArgs([]string{"voucher", "issue", "--id-card", "320402198001011234"})
	if err := issue.Execute(); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(voucher.String())
	byVoucher := []string{"settle", "--voucher", token, "--line", "SVC-001:1:25.00", "--request-id", "t-v1", "--date", "2026-06-15"}
	if out := client(byVoucher...); !strings.Contains(out, "SETTLED") {
		t.Errorf("settle by e-voucher:\n%s", out)
	}
	byVoucher[6] = "t-v2"
	if err := clientErr(t, grpcAddr, byVoucher...); err == nil || !strings.Contains(err.Error(), "VOUCHER_REPLAYED") {
		t.Errorf("the same voucher again: %v, want VOUCHER_REPLAYED", err)
	}

	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "go_goroutines") {
		t.Errorf("/metrics:\n%.500s", metrics)
	}
	if slices.Contains(args, "--redis") && !strings.Contains(string(metrics), `onestop_eligibility_lookups_total{source="redis"}`) {
		t.Errorf("/metrics has no Redis lookups:\n%s", metrics)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("onestop %s stopped with %v", args[0], err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("onestop %s did not shut down", args[0])
	}
}

// clientErr runs the cashier client as the demo clinic and returns its error.
func clientErr(t *testing.T, grpcAddr string, args ...string) error {
	t.Helper()
	c := newRoot()
	c.SetOut(io.Discard)
	c.SetErr(io.Discard)
	c.SetArgs(append(args, "--addr", grpcAddr, "--token", "dev-clinic-token", "--institution", "H320401"))
	return c.ExecuteContext(context.Background())
}

// waitHealthy waits until /healthz answers ok, failing if the server stops first.
func waitHealthy(t *testing.T, httpAddr string, done <-chan error, out *syncBuffer) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("onestop stopped: %v\n%s", err, out.String())
		default:
		}
		if i == 100 {
			t.Fatalf("onestop did not become healthy: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkHealthAndReflection: the standard health service answers SERVING and server
// reflection lists the onestop.v1 services (what grpcurl needs).
func checkHealthAndReflection(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v, %v", h, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	for _, want := range []string{"onestop.v1.SettlementService", "onestop.v1.EligibilityService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, not %s", names, want)
		}
	}
}

// syncBuffer is a bytes.Buffer the server's goroutines may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMigrate: onestop migrate brings an empty schema to the ledger's version, and again is
// a no-op.
func TestMigrate(t *testing.T) {
	pool := ledgertest.Pool(t, 0) // migrated already: drop to an empty schema of our own
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"] + "_m"
	if _, err := pool.Exec(context.Background(), "create schema "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), "drop schema "+schema+" cascade") })
	for range 2 {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"migrate", "--postgres-url", ledgertest.SchemaURL(t, schema)})
		if err := root.Execute(); err != nil || !strings.Contains(out.String(), "ledger schema at version 6") { // 001 settlements, 002 outbox, 003 its dead-letter index, 004 statement indexes, 005 fraud checks, 006 monthly partitions
			t.Fatalf("migrate: %v\n%s", err, out.String())
		}
	}
	var n int
	if err := pool.QueryRow(context.Background(), "select count(*) from information_schema.tables where table_schema = $1 and table_name = 'settlements'", schema).Scan(&n); err != nil || n != 1 {
		t.Errorf("settlements table in %s: %d, %v", schema, n, err)
	}
}

// TestDevDeliversToItsAgencies: onestop dev's in-process agency simulator receives the
// settlement, and answers for a person the snapshot lacks (the eligibility fallback).
func TestDevDeliversToItsAgencies(t *testing.T) {
	grpcAddr, httpAddr, simAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	root.SetArgs([]string{"dev", "--data-dir", t.TempDir(), "--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--agency-sim-addr", simAddr})
	var out syncBuffer
	root.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	waitHealthy(t, httpAddr, done, &out)

	c := newRoot()
	var settled bytes.Buffer
	c.SetOut(&settled)
	// 赵新来 registered this month: only the agencies know her yet.
	c.SetArgs([]string{"settle", "--id-card", "320402200002025670", "--line", "SVC-001:1:25.00", "--line", "DRUG-102:2:38.50",
		"--request-id", "newcomer-1", "--date", "2026-11-24", "--addr", grpcAddr, "--token", "dev-clinic-token", "--institution", "H320401"})
	if err := c.ExecuteContext(context.Background()); err != nil || !strings.Contains(settled.String(), "SETTLED") {
		t.Fatalf("settling a person only the agencies know: %v\n%s", err, settled.String())
	}
	id := strings.Fields(settled.String())[1]
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + simAddr + "/report")
		if err != nil {
			t.Fatal(err)
		}
		var report map[string]struct {
			Accepted int `json:"accepted"`
			Lookups  int `json:"lookups"`
		}
		err = json.NewDecoder(resp.Body).Decode(&report)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if report["insurance_bureau"].Accepted == 1 && report["insurance_bureau"].Lookups >= 1 {
			break
		}
		if i == 100 {
			t.Fatalf("the simulator did not receive settlement %s: %+v\n%s", id, report, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("dev stopped with %v", err)
	}
}

// TestDemoPoliciesFollowTheYear: after New Year the demo still has a policy for today —
// each demo policy copied for the later years, which load as one valid set.
func TestDemoPoliciesFollowTheYear(t *testing.T) {
	c := &config{DataDir: t.TempDir()}
	if err := c.useDemo(); err != nil {
		t.Fatal(err)
	}
	if err := demoPoliciesUpTo(c.Policies, demoPolicyYear+2); err != nil {
		t.Fatal(err)
	}
	set, err := policy.LoadDir(c.Policies)
	if err != nil {
		t.Fatal(err)
	}
	for _, y := range []int{demoPolicyYear, demoPolicyYear + 1, demoPolicyYear + 2} {
		if _, err := set.Select("320400", policy.Date{Year: y, Month: 6, Day: 15}); err != nil {
			t.Errorf("no demo policy for %d: %v", y, err)
		}
	}
}
