package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"onestop/adapters/agencysim"
	"onestop/cache"
	"onestop/cache/cachetest"
	"onestop/gateway/ledger/ledgertest"
)

// TestServeOnARedisCluster: the demo snapshot is loaded into a three-node Redis Cluster
// with `onestop snapshot load`, `onestop serve` reads it from there and settles a bill, and
// a delta reaches the gateway's cache over the cluster's pub/sub. Only the URL says
// "cluster"; the prefix defaults to the hash-tagged one, and an untagged one is refused.
func TestServeOnARedisCluster(t *testing.T) {
	cluster := cachetest.StartCluster(t)
	pool := ledgertest.Pool(t, 0)
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	files := &config{DataDir: t.TempDir()}
	if err := files.useDemo(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ONESTOP_PERSON_KEY_SECRET", "a-test-secret-of-some-length")
	snapshot := func(args ...string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(append([]string{"snapshot"}, args...), "--redis", cluster.URL()))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}

	if out, err := snapshot("load", files.Snapshot, "--quiet", "--redis-prefix", "onestop:elig:"); err == nil || !strings.Contains(err.Error(), "--redis-prefix") {
		t.Fatalf("load under an untagged prefix: %v, want a refusal naming --redis-prefix\n%s", err, out)
	}
	out, err := snapshot("load", files.Snapshot, "--quiet")
	if err != nil || !strings.Contains(out, "version 1 is current") {
		t.Fatalf("snapshot load: %v\n%s", err, out)
	}
	if out, err := snapshot("status"); err != nil || !strings.Contains(out, "current version  1") {
		t.Fatalf("snapshot status: %v\n%s", err, out)
	}
	// The store is under the cluster default, all in one slot.
	rdb, err := cache.OpenRedis(cluster.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if v, err := rdb.Get(context.Background(), cache.ClusterDefaultPrefix+"current").Result(); err != nil || v != "1" {
		t.Fatalf("%scurrent = %q, %v", cache.ClusterDefaultPrefix, v, err)
	}
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("a %T", rdb)
	}

	sim, err := agencysim.New(agencysim.Config{PersonsFile: files.AgencyPersons, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	agencies := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { agencies.Close(); sim.Close() })
	grpcAddr, httpAddr := startGateway(t, "serve", "--postgres-url", ledgertest.SchemaURL(t, schema),
		"--redis", cluster.URL(), "--agencies-url", agencies.URL,
		"--institutions", files.Institutions, "--catalog", files.Catalog, "--policies", files.Policies)

	bill := []string{"--id-card", "320402198001011234", "--line", "SVC-001:1:25.00", "--line", "DRUG-102:2:38.50", "--date", "2026-06-15"}
	var settled struct {
		SettlementID string `json:"settlement_id"`
		Payments     []struct {
			Amount string `json:"amount"`
		} `json:"fund_payments"`
	}
	out = cashier(t, grpcAddr, append([]string{"settle", "--request-id", "cluster-1", "--json"}, bill...)...)
	if err := json.Unmarshal([]byte(out), &settled); err != nil || settled.SettlementID == "" || len(settled.Payments) == 0 {
		t.Fatalf("settle: %v\n%s", err, out)
	}
	if m := scrape(t, httpAddr); !strings.Contains(m, "onestop_redis_pool_total_conns") {
		t.Error("/metrics has no Redis pool series for the cluster client")
	}

	// A person the gateway has cached retires by a delta: the announcement, published on one
	// node and subscribed on another, must drop the copy well within the tier's TTL.
	const wang = "370811197003033456"
	if out := cashier(t, grpcAddr, "eligibility", "--id-card", wang, "--date", "2026-06-15"); !strings.Contains(out, "employee/in_service") {
		t.Fatalf("eligibility before the delta:\n%s", out)
	}
	delta := filepath.Join(t.TempDir(), "delta.jsonl")
	line := `{"id_number":"` + wang + `","name":"王五","scheme":"employee","status":"retired","insured_region":"370800","county":"370811","account_balance":"1200.00"}`
	if err := os.WriteFile(delta, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := snapshot("delta", delta); err != nil || !strings.Contains(out, "1 changes applied") {
		t.Fatalf("snapshot delta: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second) // the tier's TTL is 10 s
	for {
		out := cashier(t, grpcAddr, "eligibility", "--id-card", wang, "--date", "2026-06-15")
		if strings.Contains(out, "employee/retired") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change is not answered after 5s:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
