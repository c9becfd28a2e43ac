package identity_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"onestop/cache"
	"onestop/cache/cachetest"
	"onestop/gateway/identity"
)

// TestRedisNoncesOnACluster: a nonce is one key and its claim one SET NX, so a Redis
// Cluster needs no hash tag for them: claims route to each key's own shard and stay
// exactly-once there, whichever client makes them.
func TestRedisNoncesOnACluster(t *testing.T) {
	c := cachetest.StartCluster(t)
	open := func() redis.UniversalClient {
		rdb, err := cache.OpenRedis(c.URL(), 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		return rdb
	}
	first := identity.RedisNonces{Client: open(), Prefix: "onestop:voucher-nonce:"}
	second := identity.RedisNonces{Client: open(), Prefix: first.Prefix}
	testReplay(t, first)

	ctx := context.Background()
	for i := range 30 {
		key := fmt.Sprint("dev:cluster-", i)
		if ok, err := first.Claim(ctx, key, time.Minute); !ok || err != nil {
			t.Fatalf("first claim of %s = %v, %v", key, ok, err)
		}
		if ok, err := second.Claim(ctx, key, time.Minute); ok || err != nil {
			t.Fatalf("second claim of %s from another client = %v, %v; want false, nil", key, ok, err)
		}
	}
	// The claims spread over the shards: nothing ties the nonces to one node.
	var nodes atomic.Int32
	err := first.Client.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		if n, err := node.Keys(ctx, first.Prefix+"dev:cluster-*").Result(); err == nil && len(n) > 0 {
			nodes.Add(1)
		}
		return nil
	})
	if err != nil || nodes.Load() < 2 {
		t.Errorf("30 nonces on %d nodes (%v), want them spread", nodes.Load(), err)
	}
}
