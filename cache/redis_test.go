package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"onestop/cache"
	"onestop/cache/cachetest"
	"onestop/gateway"
	"onestop/gateway/policy"
)

var keyer = cache.NewKeyer("test-secret")

func idOf(i int) string { return fmt.Sprintf("32040219800101%04d", i) }

func cardOf(i int) string { return fmt.Sprintf("C%08d", i) }

// person is snapshot line i, with status marking which snapshot it came from.
func person(i int, status string) cache.Line {
	return cache.Line{IDNumber: idOf(i), Name: "王小明", Scheme: "resident", Status: status, InsuredRegion: "320400", County: "320402",
		Categories:     []cache.LineCategory{{Code: "dibao", From: policy.Date{Year: 2026, Month: 1, Day: 1}}},
		AccountBalance: decimal.RequireFromString("12.34"), SocialSecurityCard: cardOf(i)}
}

func writeSnapshot(t *testing.T, lines []cache.Line, extra ...string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		j, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(j, '\n'))
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	path := filepath.Join(t.TempDir(), "snapshot.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func persons(from, to int, status string) []cache.Line {
	var ls []cache.Line
	for i := from; i < to; i++ {
		ls = append(ls, person(i, status))
	}
	return ls
}

func load(t *testing.T, r *cache.Redis, path string, opt cache.LoadOptions) *cache.LoadSummary {
	t.Helper()
	f, err := cache.OpenSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum, err := r.Load(context.Background(), f, opt)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return sum
}

func lookup(t *testing.T, e gateway.Eligibility, typ gateway.CredentialType, value string) (*gateway.Person, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.Lookup(ctx, gateway.Credential{Type: typ, Value: value})
}

func TestLoadThenLookupByIDAndCard(t *testing.T) { onEachRedis(t, testLoadThenLookupByIDAndCard) }

func testLoadThenLookupByIDAndCard(t *testing.T, b backend) {
	r, _ := b.store(t)
	tier := cache.NewTier(r, cache.TierOptions{})
	if _, err := lookup(t, tier, gateway.CredentialIDCard, idOf(1)); !isReason(err, gateway.ReasonEligibilityUnavailable) {
		t.Fatalf("before any load: %v, want ELIGIBILITY_UNAVAILABLE", err)
	}
	asOf := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	lines := persons(0, 50, "a")
	lines[3].AsOf = &asOf
	lines[4].SocialSecurityCard = ""
	sum := load(t, r, writeSnapshot(t, lines, `{"id_number": "bad"}`, `not json`), cache.LoadOptions{})
	if sum.Persons != 50 || len(sum.Bad) != 2 || sum.Bad[0].Line != 51 || sum.Bad[1].Line != 52 || sum.Version == "" || sum.Previous != "" {
		t.Fatalf("summary %+v", sum)
	}

	p, err := lookup(t, tier, gateway.CredentialIDCard, idOf(3))
	if err != nil {
		t.Fatal(err)
	}
	want := &gateway.Person{Key: keyer.IDKey(idOf(3)), NameMasked: "王*明", IDMasked: "3204**********0003", Scheme: "resident", Status: "a",
		InsuredRegion: "320400", County: "320402", Categories: []policy.Category{{Code: "dibao", From: policy.Date{Year: 2026, Month: 1, Day: 1}}},
		AccountBalance: decimal.RequireFromString("12.34"), AsOf: asOf}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("person\n got %+v\nwant %+v", p, want)
	}
	byCard, err := lookup(t, tier, gateway.CredentialSocialCard, cardOf(7))
	if err != nil || byCard.Key != keyer.IDKey(idOf(7)) {
		t.Errorf("by card: %+v, %v", byCard, err)
	}
	for _, c := range []gateway.Credential{{Type: gateway.CredentialIDCard, Value: idOf(99)}, {Type: gateway.CredentialSocialCard, Value: cardOf(99)},
		{Type: gateway.CredentialSocialCard, Value: cardOf(4)}} {
		if _, err := lookup(t, tier, c.Type, c.Value); !errors.Is(err, gateway.ErrPersonNotFound) {
			t.Errorf("%v: %v, want PERSON_NOT_FOUND", c, err)
		}
	}
	st, err := r.Status(context.Background())
	if err != nil || st.Current != sum.Version || st.Persons != 50 || st.Buckets < 1 || st.LoadedAt.IsZero() || st.MemoryBytes == 0 {
		t.Errorf("status %+v, %v", st, err)
	}
}

// TestNoPlainIDNumberInRedis: the keys and values hold HMACs and masked names only.
func TestNoPlainIDNumberInRedis(t *testing.T) { onEachRedis(t, testNoPlainIDNumberInRedis) }

func testNoPlainIDNumberInRedis(t *testing.T, b backend) {
	r, rdb := b.store(t)
	load(t, r, writeSnapshot(t, persons(0, 20, "a")), cache.LoadOptions{})
	ctx := context.Background()
	keys := allKeys(t, rdb, "*")
	var dump strings.Builder
	for _, k := range keys {
		dump.WriteString(k)
		if typ, _ := rdb.Type(ctx, k).Result(); typ == "hash" {
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				dump.WriteString(f + v)
			}
		}
	}
	for i := range 20 {
		for _, secret := range []string{idOf(i), cardOf(i), "王小明"} {
			if strings.Contains(dump.String(), secret) {
				t.Fatalf("%q is stored in Redis in the clear", secret)
			}
		}
	}
}

func TestStrictLoadAbortsAndKeepsTheCurrentVersion(t *testing.T) {
	onEachRedis(t, testStrictLoadAbortsAndKeepsTheCurrentVersion)
}

func testStrictLoadAbortsAndKeepsTheCurrentVersion(t *testing.T, b backend) {
	r, rdb := b.store(t)
	first := load(t, r, writeSnapshot(t, persons(0, 10, "a")), cache.LoadOptions{})
	f, err := cache.OpenSnapshot(writeSnapshot(t, persons(0, 10, "b"), `{"id_number":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = r.Load(context.Background(), f, cache.LoadOptions{Strict: true})
	if err == nil || !strings.Contains(err.Error(), "line 11") {
		t.Fatalf("strict load: %v, want it to name line 11", err)
	}
	st, _ := r.Status(context.Background())
	if st.Current != first.Version || st.Loading != "" {
		t.Errorf("after an aborted load: %+v", st)
	}
	p, err := lookup(t, cache.NewTier(r, cache.TierOptions{}), gateway.CredentialIDCard, idOf(1))
	if err != nil || p.Status != "a" {
		t.Errorf("%+v, %v", p, err)
	}
	// The aborted version left no keys behind.
	if n := len(allKeys(t, rdb, strings.TrimSuffix(r.MetaKey(fmt.Sprint(mustInt(first.Version)+1)), "meta")+"*")); n != 0 {
		t.Errorf("%d keys of the aborted version remain", n)
	}
}

func mustInt(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// TestSwitchIsAtomicUnderConcurrentReaders: snapshot A has persons 0–399 with status "a";
// B has persons 200–599 with status "b". Readers look persons up straight from Redis (no
// in-process tier) while B loads; each reader classifies every answer as evidence of A or
// of B, and once a reader has seen B it must never see A again. The old version expires.
func TestSwitchIsAtomicUnderConcurrentReaders(t *testing.T) {
	onEachRedis(t, testSwitchIsAtomicUnderConcurrentReaders)
}

func testSwitchIsAtomicUnderConcurrentReaders(t *testing.T, be backend) {
	r, rdb := be.store(t)
	a := load(t, r, writeSnapshot(t, persons(0, 400, "a")), cache.LoadOptions{})
	pathB := writeSnapshot(t, persons(200, 600, "b"))

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads, sawB atomic.Int64
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A fresh tier per reader with a zero-length TTL: every lookup goes to Redis.
			tier := cache.NewTier(r, cache.TierOptions{TTL: time.Nanosecond})
			seenB := false
			for i := w; ctx.Err() == nil; i = (i + 37) % 600 {
				p, err := tier.Lookup(context.Background(), gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(i)})
				var isB bool
				switch {
				case err == nil:
					isB = p.Status == "b"
				case errors.Is(err, gateway.ErrPersonNotFound):
					isB = i < 200 // only A lacks persons 400–599; only B lacks 0–199
				default:
					errs <- err
					return
				}
				reads.Add(1)
				if seenB && !isB {
					errs <- fmt.Errorf("reader %d saw snapshot A (person %d) after B", w, i)
					return
				}
				if isB && !seenB {
					seenB = true
					sawB.Add(1)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	b := load(t, r, pathB, cache.LoadOptions{OldVersionTTL: 2 * time.Second})
	time.Sleep(20 * time.Millisecond)
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if sawB.Load() != 8 || reads.Load() < 100 {
		t.Errorf("%d of 8 readers saw B in %d reads", sawB.Load(), reads.Load())
	}
	if b.Previous != a.Version {
		t.Errorf("B replaced %q, want %q", b.Previous, a.Version)
	}
	ttl := rdb.TTL(context.Background(), r.MetaKey(a.Version)).Val()
	if ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("old version's TTL is %v, want it expiring within 2s", ttl)
	}
	if rdb.TTL(context.Background(), r.MetaKey(b.Version)).Val() != -1 {
		t.Error("the current version expires")
	}
}

func startTier(t *testing.T, r *cache.Redis, opt cache.TierOptions) *cache.Tier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tier := cache.NewTier(r, opt)
	if err := tier.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return tier
}

// eventually polls until check passes: pub/sub delivery is asynchronous.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for range 200 {
		if err = check(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// TestDeltaReachesACachedReaderAtOnce: with an hour-long TTL, only the pub/sub announcement
// can make the in-process tier drop its copy.
func TestDeltaReachesACachedReaderAtOnce(t *testing.T) {
	onEachRedis(t, testDeltaReachesACachedReaderAtOnce)
}

func testDeltaReachesACachedReaderAtOnce(t *testing.T, b backend) {
	r, _ := b.store(t)
	load(t, r, writeSnapshot(t, persons(0, 10, "a")), cache.LoadOptions{})
	tier := startTier(t, r, cache.TierOptions{TTL: time.Hour})
	for _, c := range []gateway.Credential{{Type: gateway.CredentialIDCard, Value: idOf(1)}, {Type: gateway.CredentialSocialCard, Value: cardOf(1)},
		{Type: gateway.CredentialIDCard, Value: idOf(2)}} {
		if _, err := tier.Lookup(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

	changed := person(1, "changed")
	changed.SocialSecurityCard = "NEWCARD1" // the old card was reported lost
	if err := r.ApplyDelta(context.Background(), &changed, now); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the change reaches the tier", func() error {
		p, err := lookup(t, tier, gateway.CredentialIDCard, idOf(1))
		if err != nil || p.Status != "changed" || !p.AsOf.Equal(now) {
			return fmt.Errorf("%+v, %v", p, err)
		}
		return nil
	})
	eventually(t, "the lost card stops working", func() error {
		if _, err := lookup(t, tier, gateway.CredentialSocialCard, cardOf(1)); !errors.Is(err, gateway.ErrPersonNotFound) {
			return fmt.Errorf("old card: %v", err)
		}
		return nil
	})
	if p, err := lookup(t, tier, gateway.CredentialSocialCard, "NEWCARD1"); err != nil || p.Status != "changed" {
		t.Errorf("new card: %+v, %v", p, err)
	}

	if err := r.ApplyDelta(context.Background(), &cache.Line{Op: cache.OpRemove, IDNumber: idOf(2)}, now); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removal reaches the tier", func() error {
		if _, err := lookup(t, tier, gateway.CredentialIDCard, idOf(2)); !errors.Is(err, gateway.ErrPersonNotFound) {
			return fmt.Errorf("removed person: %v", err)
		}
		return nil
	})
	added := person(42, "new")
	if err := r.ApplyDelta(context.Background(), &added, now); err != nil {
		t.Fatal(err)
	}
	if p, err := lookup(t, tier, gateway.CredentialIDCard, idOf(42)); err != nil || p.Status != "new" {
		t.Errorf("added person: %+v, %v", p, err)
	}
	if err := r.ApplyDelta(context.Background(), &cache.Line{Op: "rename", IDNumber: idOf(2)}, now); err == nil {
		t.Error("an unknown op was accepted")
	}
}

// TestDeltasDuringALoadSurviveTheSwitch: a delta that lands while a load is writing applies
// to the version being loaded too, and the load's older line does not overwrite it.
func TestDeltasDuringALoadSurviveTheSwitch(t *testing.T) {
	onEachRedis(t, testDeltasDuringALoadSurviveTheSwitch)
}

func testDeltasDuringALoadSurviveTheSwitch(t *testing.T, b backend) {
	r, _ := b.store(t)
	load(t, r, writeSnapshot(t, persons(0, 3000, "a")), cache.LoadOptions{})
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	applied := false
	sum := load(t, r, writeSnapshot(t, persons(0, 3000, "b")), cache.LoadOptions{Progress: func(lines int64) {
		if lines >= 1000 && !applied {
			applied = true
			changed := person(2500, "delta")
			if err := r.ApplyDelta(context.Background(), &changed, now); err != nil {
				t.Error(err)
			}
			if err := r.ApplyDelta(context.Background(), &cache.Line{Op: cache.OpRemove, IDNumber: idOf(2600)}, now); err != nil {
				t.Error(err)
			}
		}
	}})
	if !applied || sum.Superseded != 2 || sum.Persons != 2998 {
		t.Fatalf("applied %v, summary %+v", applied, sum)
	}
	tier := cache.NewTier(r, cache.TierOptions{})
	if p, err := lookup(t, tier, gateway.CredentialIDCard, idOf(2500)); err != nil || p.Status != "delta" {
		t.Errorf("changed during the load: %+v, %v", p, err)
	}
	if _, err := lookup(t, tier, gateway.CredentialIDCard, idOf(2600)); !errors.Is(err, gateway.ErrPersonNotFound) {
		t.Errorf("removed during the load: %v", err)
	}
	if p, err := lookup(t, tier, gateway.CredentialIDCard, idOf(2700)); err != nil || p.Status != "b" {
		t.Errorf("untouched: %+v, %v", p, err)
	}
}

// TestRedisStoppedAndRestarted: a private redis-server is killed mid-test. A person the
// tier holds still settles; one it does not is refused as ELIGIBILITY_UNAVAILABLE within the
// fetch deadline; once Redis is back (empty, as without persistence) and reloaded, lookups
// work again with no restart of the reader.
func TestRedisStoppedAndRestarted(t *testing.T) {
	srv := cachetest.StartServer(t)
	opt, err := cache.RedisOptions(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	r := cache.NewRedis(rdb, keyer, "")
	path := writeSnapshot(t, persons(0, 10, "a"))
	load(t, r, path, cache.LoadOptions{})
	tier := startTier(t, r, cache.TierOptions{TTL: time.Millisecond, FetchTimeout: 200 * time.Millisecond})
	if _, err := lookup(t, tier, gateway.CredentialIDCard, idOf(1)); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	time.Sleep(5 * time.Millisecond) // past the TTL: the tier must ask Redis, and fail
	if p, err := lookup(t, tier, gateway.CredentialIDCard, idOf(1)); err != nil || p.Status != "a" {
		t.Errorf("cached person with Redis down: %+v, %v", p, err)
	}
	start := time.Now()
	_, err = lookup(t, tier, gateway.CredentialIDCard, idOf(2))
	if !isReason(err, gateway.ReasonEligibilityUnavailable) {
		t.Errorf("uncached person with Redis down: %v, want ELIGIBILITY_UNAVAILABLE", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the refusal took %v: calls must have deadlines", d)
	}

	srv.Start()
	eventually(t, "the client reconnects", func() error { return rdb.Ping(context.Background()).Err() })
	load(t, r, path, cache.LoadOptions{})
	eventually(t, "lookups work again", func() error {
		_, err := lookup(t, tier, gateway.CredentialIDCard, idOf(2))
		return err
	})
}

func isReason(err error, reason string) bool {
	var e *gateway.Error
	return errors.As(err, &e) && e.Reason == reason
}

// TestTierAsksRedisOncePerMiss: fifty callers missing the same person at once cost one
// lookup in Redis (single-flight). Redis is paused while they arrive, so all of them do
// arrive before the one fetch can finish; a private server keeps the command count ours.
func TestTierAsksRedisOncePerMiss(t *testing.T) {
	srv := cachetest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	r := cache.NewRedis(rdb, keyer, "")
	load(t, r, writeSnapshot(t, persons(0, 10, "a")), cache.LoadOptions{})
	tier := cache.NewTier(r, cache.TierOptions{FetchTimeout: 5 * time.Second})
	lookups := func() int64 {
		var n int64
		for _, l := range strings.Split(rdb.Info(context.Background(), "commandstats").Val(), "\r\n") {
			for _, cmd := range []string{"cmdstat_evalsha:calls=", "cmdstat_eval:calls="} {
				if v, ok := strings.CutPrefix(l, cmd); ok {
					var c int64
					fmt.Sscan(strings.SplitN(v, ",", 2)[0], &c)
					n += c
				}
			}
		}
		return n
	}
	// Load the script once, so the count below is not doubled by EVALSHA's NOSCRIPT retry.
	if _, err := lookup(t, tier, gateway.CredentialIDCard, idOf(9)); err != nil {
		t.Fatal(err)
	}
	before := lookups()
	pauser := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer pauser.Close()
	if err := pauser.Do(context.Background(), "CLIENT", "PAUSE", "300", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := tier.Lookup(context.Background(), gateway.Credential{Type: gateway.CredentialIDCard, Value: idOf(3)}); err != nil || p.Status != "a" {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 50 lookups failed", failed.Load())
	}
	if n := lookups() - before; n != 1 {
		t.Errorf("50 concurrent misses made %d Redis lookups, want 1", n)
	}
}
