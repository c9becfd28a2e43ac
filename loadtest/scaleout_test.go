package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"onestop/adapters/agencysim"
	"onestop/cache/cachetest"
	"onestop/gateway/ledger/ledgertest"
	"onestop/loadtest/loadgen"
)

// TestScaleOut runs two `onestop serve` processes against one Postgres and one Redis, as
// replicas behind a load balancer do: both settle at saturation and both dispatch the
// outbox. Afterwards `onestop audit` passes, every outbox message reached its agency
// exactly once (the simulator saw no duplicate and accepted as many as were delivered), and
// the test reports the throughput of two processes against one. Each phase lasts
// ONESTOP_SCALEOUT (default 3s; 20s for the report's figures).
func TestScaleOut(t *testing.T) {
	phase := 3 * time.Second
	if v, err := time.ParseDuration(os.Getenv("ONESTOP_SCALEOUT")); err == nil {
		phase = v
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "onestop")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/onestop").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	run(t, bin, "loadgen", "data", "--out", data, "--persons", "5000", "--bills", "4000")
	bills, err := loadgen.LoadBills(filepath.Join(data, "bills.json"))
	if err != nil {
		t.Fatal(err)
	}

	sim, err := agencysim.New(agencysim.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	agencies := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { agencies.Close(); sim.Close() })
	pool := ledgertest.Pool(t, 0)
	pgURL := ledgertest.SchemaURL(t, pool.Config().ConnConfig.RuntimeParams["search_path"])
	_, prefix := cachetest.Redis(t)
	common := []string{"serve", "--postgres-url", pgURL, "--redis", cachetest.URL(t), "--redis-prefix", prefix,
		"--snapshot", filepath.Join(data, "snapshot.jsonl"), "--institutions", filepath.Join(data, "institutions.yaml"),
		"--catalog", filepath.Join(data, "catalog.csv"), "--policies", filepath.Join(data, "policies"),
		"--agencies-url", agencies.URL, "--person-key-secret", "scale-out-secret-0123456789", "--rate-limit", "0",
		// The bills go round under new request ids by design; the duplicate-bill check would
		// hold the repeats (it has its own tests).
		"--duplicate-bill-window", "0", "--log-level", "warn"}
	// The first migrates and loads the snapshot into Redis; the second finds both done.
	a := startServe(t, bin, append(common, "--migrate")...)
	b := startServe(t, bin, common...)

	saturate := func(addrs ...string) float64 {
		t.Helper()
		ok := 0.0
		results := make(chan *loadgen.Result, len(addrs))
		for i, addr := range addrs {
			go func() {
				res, err := loadgen.Saturate(context.Background(), fmt.Sprint("gateway-", i), addr, bills, 64,
					loadgen.Options{Duration: phase, Warmup: time.Second, RunID: fmt.Sprintf("so%d-%d-%d", len(addrs), i, time.Now().UnixNano())})
				if err != nil {
					t.Error(err)
				}
				results <- res
			}()
		}
		for range addrs {
			res := <-results
			if res == nil {
				continue
			}
			if len(res.Errors) > 0 {
				t.Errorf("%s refused calls: %v", res.Target, res.Errors)
			}
			ok += res.Throughput()
		}
		return ok
	}
	two := saturate(a.grpc, b.grpc)
	one := saturate(a.grpc)
	t.Logf("settles/s at saturation: two processes %.0f, one process %.0f (%.2f×), %d-second phases, %d cores",
		two, one, two/one, int(phase.Seconds()), runtime.NumCPU())

	// Both dispatchers drain the outbox; each message must reach its agency once.
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var pending int
		if err := pool.QueryRow(ctx, `select count(*) from outbox where delivered_at is null and dead_at is null`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbox messages still pending", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rows, err := pool.Query(ctx, `select agency, count(*) from outbox where delivered_at is not null group by agency`)
	if err != nil {
		t.Fatal(err)
	}
	delivered := map[string]int64{}
	for rows.Next() {
		var agency string
		var n int64
		if err := rows.Scan(&agency, &n); err != nil {
			t.Fatal(err)
		}
		delivered[agency] = n
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	report := sim.Report()
	for agency, n := range delivered {
		r := report[agency]
		if r.Accepted != n || r.Duplicates != 0 || r.Conflicts != 0 {
			t.Errorf("%s: %d delivered by the outbox, the simulator accepted %d, duplicates %d, conflicts %d", agency, n, r.Accepted, r.Duplicates, r.Conflicts)
		}
	}
	if len(delivered) == 0 {
		t.Fatal("no outbox message was delivered")
	}
	t.Logf("outbox delivered once each: %v", delivered)

	out, err := exec.Command(bin, "audit", "--postgres-url", pgURL, "--policies", filepath.Join(data, "policies")).CombinedOutput()
	if err != nil {
		t.Fatalf("onestop audit: %v\n%s", err, out)
	}
	t.Logf("onestop audit:\n%s", bytes.TrimSpace(out))
}

type served struct{ grpc, http string }

// startServe runs the binary until the test ends and waits until it is healthy.
func startServe(t *testing.T, bin string, args ...string) served {
	t.Helper()
	s := served{grpc: freePort(t), http: freePort(t)}
	cmd := exec.Command(bin, append(args, "--grpc-addr", s.grpc, "--http-addr", s.http)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("onestop serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if resp, err := http.Get("http://" + s.http + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("onestop serve not healthy:\n%s", stderr.String())
		}
	}
}

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("onestop %v: %v\n%s", args, err, out)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
