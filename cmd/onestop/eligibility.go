package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"onestop/cache"
	"onestop/gateway"
	"onestop/gateway/identity"
	"onestop/gateway/metrics"
)

// eligibility builds the gateway's eligibility and identity ports: Redis behind the
// in-process tier when --redis is given (serve always), otherwise the snapshot held in
// process (onestop dev). persons describes the source for the start-up log; done releases
// what was opened. The Redis client's pool is collected on reg.
func (c *config) eligibility(ctx context.Context, log *slog.Logger, eligMetrics *cache.Metrics, reg prometheus.Registerer) (elig gateway.Eligibility, idn gateway.Identity, persons string, done func(), err error) {
	keyer := cache.NewKeyer(c.PersonKeySecret)
	var nonces identity.NonceStore
	done = func() {}
	if c.RedisURL == "" {
		mem, err := cache.LoadSnapshotFile(c.Snapshot, keyer)
		if err != nil {
			return nil, nil, "", done, err
		}
		elig, persons, nonces = mem, fmt.Sprintf("%d persons in process", mem.Len()), &identity.MemoryNonces{}
	} else {
		rdb, err := cache.OpenRedis(c.RedisURL, 0)
		if err != nil {
			return nil, nil, "", done, err
		}
		store, err := cache.NewRedisStore(rdb, keyer, c.RedisPrefix)
		if err != nil {
			rdb.Close()
			return nil, nil, "", done, err
		}
		reg.MustRegister(metrics.RedisPool(rdb))
		ctx, cancel := context.WithCancel(ctx)
		done = func() { cancel(); rdb.Close() }
		if c.Snapshot != "" {
			if err := loadIfEmpty(ctx, store, c.Snapshot, log); err != nil {
				done()
				return nil, nil, "", func() {}, err
			}
		}
		tier := cache.NewTier(store, cache.TierOptions{Metrics: eligMetrics})
		if err := tier.Start(ctx); err != nil {
			done()
			return nil, nil, "", func() {}, fmt.Errorf("redis: subscribing to eligibility changes: %w", err)
		}
		st, err := store.Status(ctx)
		if err != nil {
			done()
			return nil, nil, "", func() {}, fmt.Errorf("redis: %w", err)
		}
		if st.Current == "" {
			log.Warn("Redis holds no eligibility snapshot: every person is refused as ELIGIBILITY_UNAVAILABLE until `onestop snapshot load` runs")
		}
		elig, persons = tier, fmt.Sprintf("Redis version %q, %d persons", st.Current, st.Persons)
		// One key a nonce and only SET NX: in a cluster the nonces spread over every shard.
		nonces = identity.RedisNonces{Client: rdb, Prefix: "onestop:voucher-nonce:"}
	}
	resolver := identity.Resolver{}
	if c.VoucherIssuers != "" {
		issuers, err := identity.LoadIssuers(c.VoucherIssuers)
		if err != nil {
			done()
			return nil, nil, "", func() {}, err
		}
		resolver.Vouchers = &identity.Verifier{Issuers: issuers, Nonces: nonces}
	}
	return elig, resolver, persons, done, nil
}

// loadIfEmpty loads the snapshot file into Redis unless a version is current already (the
// agencies' loader keeps it fresh; a gateway restarting must not roll it back), or another
// gateway is loading it at this moment.
func loadIfEmpty(ctx context.Context, store *cache.Redis, path string, log *slog.Logger) error {
	st, err := store.Status(ctx)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if st.Current != "" || st.Loading != "" {
		log.Info("eligibility snapshot already in Redis; --snapshot not loaded", "version", st.Current, "loading", st.Loading)
		return nil
	}
	f, err := cache.OpenSnapshot(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := store.Load(ctx, f, cache.LoadOptions{})
	if errors.Is(err, cache.ErrLoadRunning) {
		log.Info("another gateway is loading the eligibility snapshot; serving what it switches in")
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading %s into Redis: %w", path, err)
	}
	log.Info("eligibility snapshot loaded into Redis", "file", path, "version", sum.Version, "persons", sum.Persons, "bad lines", len(sum.Bad))
	for _, b := range sum.Bad[:min(len(sum.Bad), 10)] {
		log.Warn("snapshot line skipped", "line", b.Line, "err", b.Err)
	}
	return nil
}
