package cache_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"onestop/cache"
	"onestop/cache/cachetest"
	"onestop/gateway"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cachetest.StopSharedCluster()
	os.Exit(code)
}

// backend is a Redis a store test runs against: the shared server under a prefix of the
// test's own, or a Redis Cluster (one per test binary) under a hash-tagged prefix.
type backend struct {
	name string
	open func(t *testing.T) (redis.UniversalClient, string)
}

func (b backend) store(t *testing.T) (*cache.Redis, redis.UniversalClient) {
	t.Helper()
	rdb, prefix := b.open(t)
	r, err := cache.NewRedisStore(rdb, keyer, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return r, rdb
}

var backends = []backend{
	{"single", func(t *testing.T) (redis.UniversalClient, string) { return cachetest.Redis(t) }},
	{"cluster", func(t *testing.T) (redis.UniversalClient, string) {
		rdb, prefix := clusterClient(t), cachetest.Prefix()
		t.Cleanup(func() { cachetest.DeletePrefix(rdb, prefix) })
		return rdb, prefix
	}},
}

// clusterClient opens the shared cluster the way the gateway does, through its URL.
func clusterClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	c := cachetest.SharedCluster(t)
	rdb, err := cache.OpenRedis(c.URL(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("OpenRedis(%s) is a %T, want a cluster client", c.URL(), rdb)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// onEachRedis runs test against one Redis and against a Redis Cluster.
func onEachRedis(t *testing.T, test func(*testing.T, backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// allKeys is KEYS on every primary: a cluster client sends a keyless command to one node.
func allKeys(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		keys, err := rdb.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	var mu sync.Mutex
	var keys []string
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		k, err := node.Keys(ctx, pattern).Result()
		mu.Lock()
		keys = append(keys, k...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestClusterKeepsTheStoreInOneSlot: after a load, a delta and a second load, every key of
// the store is on one node and in one slot, as the scripts need; the tier reads through a
// script routed by its KEYS, and the status reports the memory of that node.
func TestClusterKeepsTheStoreInOneSlot(t *testing.T) {
	rdb := clusterClient(t)
	prefix := cachetest.Prefix()
	r, err := cache.NewRedisStore(rdb, keyer, prefix)
	if err != nil {
		t.Fatal(err)
	}
	load(t, r, writeSnapshot(t, persons(0, 1000, "a")), cache.LoadOptions{PerBucket: 50})
	changed := person(7, "delta")
	if err := r.ApplyDelta(context.Background(), &changed, time.Now()); err != nil {
		t.Fatal(err)
	}
	sum := load(t, r, writeSnapshot(t, persons(0, 1000, "b")), cache.LoadOptions{PerBucket: 50})

	ctx := context.Background()
	owner := map[string][]string{} // node → the store's keys on it
	err = rdb.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		k, err := node.Keys(ctx, prefix+"*").Result()
		if len(k) > 0 {
			owner[node.Options().Addr] = k
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(owner) != 1 {
		t.Fatalf("the store's keys are on %d nodes, want 1", len(owner))
	}
	for _, keys := range owner {
		if len(keys) < 40 { // two versions × (20 person + 20 card buckets) + meta, current, seq
			t.Errorf("only %d keys: %v", len(keys), keys)
		}
		slot, err := rdb.ClusterKeySlot(ctx, prefix+"current").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if s := rdb.ClusterKeySlot(ctx, k).Val(); s != slot {
				t.Errorf("key %q is in slot %d, the store's is %d", k, s, slot)
			}
		}
	}
	tier := cache.NewTier(r, cache.TierOptions{})
	if p, err := lookup(t, tier, gateway.CredentialSocialCard, cardOf(9)); err != nil || p.Status != "b" {
		t.Errorf("by card after the switch: %+v, %v", p, err)
	}
	st, err := r.Status(ctx)
	if err != nil || st.Current != sum.Version || st.MemoryBytes == 0 {
		t.Errorf("status %+v, %v", st, err)
	}
}

// TestClusterRefusesAnUntaggedPrefix: on a cluster, a prefix without a hash tag would spread
// the store over slots the scripts cannot reach together; it is refused before anything is
// written, naming the flag. A single Redis takes any prefix, and the defaults differ.
func TestClusterRefusesAnUntaggedPrefix(t *testing.T) {
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cluster.Close()
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer single.Close()
	for _, prefix := range []string{"onestop:elig:", "{}onestop:", "}x{:", "prov{:", cache.DefaultPrefix} {
		_, err := cache.NewRedisStore(cluster, keyer, prefix)
		if err == nil || !strings.Contains(err.Error(), "--redis-prefix") || !strings.Contains(err.Error(), "hash tag") {
			t.Errorf("cluster, prefix %q: %v, want a refusal naming --redis-prefix", prefix, err)
		}
		if _, err := cache.NewRedisStore(single, keyer, prefix); err != nil {
			t.Errorf("one Redis, prefix %q: %v", prefix, err)
		}
	}
	// NewRedis cannot return the error: the store it makes refuses every call instead.
	r := cache.NewRedis(cluster, keyer, "onestop:elig:")
	if _, err := r.Status(context.Background()); err == nil || !strings.Contains(err.Error(), "hash tag") {
		t.Errorf("status on a refused store: %v", err)
	}
	if _, err := cache.NewTier(r, cache.TierOptions{}).Lookup(context.Background(), gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(1)}); err == nil {
		t.Error("a lookup on a refused store succeeded")
	}
	for _, prefix := range []string{"", "{onestop:elig}:", "prov:{32}:elig:", "{a}"} {
		if _, err := cache.NewRedisStore(cluster, keyer, prefix); err != nil {
			t.Errorf("cluster, prefix %q: %v", prefix, err)
		}
	}
}

func TestOpenRedisURLs(t *testing.T) {
	for _, tc := range []struct {
		url     string
		cluster bool
		addrs   []string
	}{
		{"redis://127.0.0.1:6379/2", false, []string{"127.0.0.1:6379"}},
		{"rediss://redis.example:6380/0", false, []string{"redis.example:6380"}},
		{"redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", true, []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}},
		{"rediss+cluster://user:pw@cfg.example:6379", true, []string{"cfg.example:6379"}},
	} {
		rdb, err := cache.OpenRedis(tc.url, 0)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		switch c := rdb.(type) {
		case *redis.Client:
			o := c.Options()
			if tc.cluster || o.Addr != tc.addrs[0] || !o.ContextTimeoutEnabled || o.ReadTimeout != 300*time.Millisecond ||
				o.WriteTimeout != 300*time.Millisecond || o.PoolTimeout != 300*time.Millisecond || o.DialTimeout != time.Second || o.MaxRetries != 1 {
				t.Errorf("%s: a client %+v", tc.url, o)
			}
		case *redis.ClusterClient:
			o := c.Options()
			if !tc.cluster || strings.Join(o.Addrs, ",") != strings.Join(tc.addrs, ",") || !o.ContextTimeoutEnabled || o.ReadTimeout != 300*time.Millisecond ||
				o.WriteTimeout != 300*time.Millisecond || o.PoolTimeout != 300*time.Millisecond || o.DialTimeout != time.Second || o.MaxRetries != 1 {
				t.Errorf("%s: a cluster client %+v", tc.url, o)
			}
			if strings.HasPrefix(tc.url, "rediss") && o.TLSConfig == nil {
				t.Errorf("%s: no TLS", tc.url)
			}
		}
		rdb.Close()
	}
	rdb, err := cache.OpenRedis("redis+cluster://127.0.0.1:7000", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if o := rdb.(*redis.ClusterClient).Options(); o.ReadTimeout != 30*time.Second || o.WriteTimeout != 30*time.Second {
		t.Errorf("relaxed deadlines: %v %v", o.ReadTimeout, o.WriteTimeout)
	}
	rdb.Close()
	for _, bad := range []string{"http://x", "redis+cluster://h:1?addr=h:2&bogus=1", "cluster://x:1"} {
		if rdb, err := cache.OpenRedis(bad, 0); err == nil {
			rdb.Close()
			t.Errorf("%q was accepted", bad)
		}
	}
}
