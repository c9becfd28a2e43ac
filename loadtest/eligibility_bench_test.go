package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"onestop/cache"
	"onestop/cache/cachetest"
	"onestop/gateway"
	"onestop/gateway/identity"
	"onestop/loadtest/benchdrive"
)

const eligPersons = 100_000

func eligID(i int) string {
	return identity.WithCheckDigit(fmt.Sprintf("320402%s%03d", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/1000).Format("20060102"), i%1000))
}

// eligStore loads eligPersons persons into a Redis prefix of the benchmark's own, through
// the deadlines a gateway uses.
func eligStore(b *testing.B) *cache.Redis {
	b.Helper()
	_, prefix := cachetest.Redis(b)
	opt, err := cache.RedisOptions(cachetest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { rdb.Close() })
	path := filepath.Join(b.TempDir(), "snapshot.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range eligPersons {
		line, _ := json.Marshal(cache.Line{IDNumber: eligID(i), Name: "王小明", Scheme: "resident", Status: "adult", InsuredRegion: "320400", County: "320402",
			SocialSecurityCard: fmt.Sprintf("JS%09d", i)})
		w.Write(append(line, '\n'))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	store := cache.NewRedis(rdb, cache.NewKeyer("bench-secret-of-some-length"), prefix)
	snap, err := cache.OpenSnapshot(path)
	if err != nil {
		b.Fatal(err)
	}
	defer snap.Close()
	if _, err := store.Load(context.Background(), snap, cache.LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	return store
}

// BenchmarkEligibility: one lookup's latency from Redis (the tier's TTL is a nanosecond, so
// every call goes there: one EVALSHA) and from the in-process tier (persons already cached),
// at concurrency 1 and 16.
//
//	ONESTOP_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test ./loadtest -run '^$' -bench Eligibility -benchtime 20000x
func BenchmarkEligibility(b *testing.B) {
	store := eligStore(b)
	ids := make([]string, eligPersons)
	for i := range ids {
		ids[i] = eligID(i)
	}
	redisOnly := cache.NewTier(store, cache.TierOptions{TTL: time.Nanosecond})
	tier := cache.NewTier(store, cache.TierOptions{TTL: time.Hour})
	const hot = 10_000 // a day's patients at a big hospital, all cached
	for i := range hot {
		if _, err := tier.Lookup(context.Background(), gateway.Credential{Type: gateway.CredentialIDCard, Value: eligID(i)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, src := range []struct {
		name string
		elig gateway.Eligibility
		n    int
	}{{"redis", redisOnly, eligPersons}, {"tier", tier, hot}} {
		for _, c := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/c=%d", src.name, c), func(b *testing.B) {
				benchdrive.Drive(b, c, func() error {
					_, err := src.elig.Lookup(context.Background(), gateway.Credential{Type: gateway.CredentialIDCard, Value: ids[rand.IntN(src.n)]})
					return err
				})
			})
		}
	}
}
