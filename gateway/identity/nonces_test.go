package identity_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"onestop/cache/cachetest"
	"onestop/gateway"
	"onestop/gateway/identity"
)

// testRedis: RedisNonces under a key prefix of the test's own on ONESTOP_TEST_REDIS_URL,
// skipped without it except under CI=true (cachetest).
func testRedis(t *testing.T) identity.RedisNonces {
	t.Helper()
	client, prefix := cachetest.Redis(t)
	return identity.RedisNonces{Client: client, Prefix: prefix}
}

func TestReplayRedis(t *testing.T) { testReplay(t, testRedis(t)) }

// Two gateway instances, each with its own connection pool, share the claims.
func TestReplayRedisTwoClients(t *testing.T) {
	first := testRedis(t)
	second := identity.RedisNonces{Client: redis.NewClient(first.Client.(*redis.Client).Options()), Prefix: first.Prefix}
	t.Cleanup(func() { second.Client.Close() })
	now := time.Now()
	a, b := verifierAt(now, first), verifierAt(now, second)
	for range 20 {
		tok := issue(t, identity.DevIssuer(), time.Minute, now)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  [2]error
		)
		for i, v := range []*identity.Verifier{a, b} {
			wg.Go(func() {
				<-start
				_, errs[i] = v.Verify(context.Background(), tok)
			})
		}
		close(start)
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("errors %v: want exactly one presentation accepted", errs)
		}
	}
}

func TestRedisNoncesExpire(t *testing.T) {
	r := testRedis(t)
	ctx := context.Background()
	for _, ttl := range []time.Duration{90 * time.Second, 1500 * time.Millisecond} {
		key := "dev:" + ttl.String()
		if ok, err := r.Claim(ctx, key, ttl); !ok || err != nil {
			t.Fatalf("first claim = %v, %v", ok, err)
		}
		if ok, err := r.Claim(ctx, key, ttl); ok || err != nil {
			t.Fatalf("second claim = %v, %v; want false, nil", ok, err)
		}
		left, err := r.Client.PTTL(ctx, r.Prefix+key).Result()
		if err != nil || left <= 0 || left > ttl {
			t.Errorf("ttl %v: the key expires in %v (%v)", ttl, left, err)
		}
	}
	if _, err := r.Claim(ctx, "dev:zero", 0); err == nil {
		t.Error("a claim with no ttl was accepted: its key would never expire")
	}
}

func TestRedisNoncesUnreachable(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer client.Close()
	tok := issue(t, identity.DevIssuer(), time.Minute, t0)
	_, err := verifierAt(t0, identity.RedisNonces{Client: client}).Verify(context.Background(), tok)
	wantVoucherErr(t, err, gateway.ReasonEligibilityUnavailable, gateway.KindUnavailable, tok)
}

func TestMemoryNoncesRefuseNoTTL(t *testing.T) {
	if _, err := (&identity.MemoryNonces{}).Claim(context.Background(), "k", 0); err == nil {
		t.Error("a claim with no ttl was accepted")
	}
}
