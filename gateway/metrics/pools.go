package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// stat is one metric a pool collector reads from a snapshot of the pool's statistics.
type stat[S any] struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(S) float64
}

// poolCollector reads the pool's statistics once per scrape, so the metrics are as fresh
// as the scrape and nothing runs between scrapes.
type poolCollector[S any] struct {
	read  func() S
	stats []stat[S]
}

func (c *poolCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.stats {
		ch <- s.desc
	}
}

func (c *poolCollector[S]) Collect(ch chan<- prometheus.Metric) {
	snap := c.read()
	for _, s := range c.stats {
		ch <- prometheus.MustNewConstMetric(s.desc, s.typ, s.value(snap))
	}
}

func gauge[S any](name, help string, v func(S) float64) stat[S] {
	return stat[S]{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, v}
}

func counter[S any](name, help string, v func(S) float64) stat[S] {
	return stat[S]{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, v}
}

// PostgresPool collects the ledger's connection pool (onestop_postgres_pool_*). A pool
// near its max with empty acquires climbing is where settle latency goes when Postgres is
// slow: every Settle holds a connection for its transaction.
func PostgresPool(pool *pgxpool.Pool) prometheus.Collector {
	const p = "onestop_postgres_pool_"
	type st = *pgxpool.Stat
	return &poolCollector[st]{read: pool.Stat, stats: []stat[st]{
		gauge(p+"acquired_conns", "Connections in use.", func(x st) float64 { return float64(x.AcquiredConns()) }),
		gauge(p+"idle_conns", "Idle connections.", func(x st) float64 { return float64(x.IdleConns()) }),
		gauge(p+"constructing_conns", "Connections being opened.", func(x st) float64 { return float64(x.ConstructingConns()) }),
		gauge(p+"total_conns", "Connections open or being opened.", func(x st) float64 { return float64(x.TotalConns()) }),
		gauge(p+"max_conns", "The pool's maximum size.", func(x st) float64 { return float64(x.MaxConns()) }),
		counter(p+"acquires_total", "Connections acquired.", func(x st) float64 { return float64(x.AcquireCount()) }),
		counter(p+"acquire_seconds_total", "Time spent acquiring connections.", func(x st) float64 { return x.AcquireDuration().Seconds() }),
		counter(p+"empty_acquires_total", "Acquires that had to wait for a connection: none was idle.", func(x st) float64 { return float64(x.EmptyAcquireCount()) }),
		counter(p+"empty_acquire_wait_seconds_total", "Time spent by acquires waiting for a connection.", func(x st) float64 { return x.EmptyAcquireWaitTime().Seconds() }),
		counter(p+"canceled_acquires_total", "Acquires given up because their context ended.", func(x st) float64 { return float64(x.CanceledAcquireCount()) }),
	}}
}

// RedisPool collects the eligibility cache's connection pool (onestop_redis_pool_*), of one
// Redis or of a Redis Cluster client (its pools summed over the nodes). Timeouts are the
// alarming one: OpenRedis bounds the wait for a connection at 300ms, so each is a lookup
// that went to the fallback or failed.
func RedisPool(rdb redis.UniversalClient) prometheus.Collector {
	const p = "onestop_redis_pool_"
	type st = *redis.PoolStats
	var size float64
	switch c := rdb.(type) {
	case *redis.Client:
		size = float64(c.Options().PoolSize)
	case *redis.ClusterClient:
		// Each node has a pool of this size; how many nodes varies with the cluster.
		size = float64(c.Options().PoolSize)
	}
	return &poolCollector[st]{read: rdb.PoolStats, stats: []stat[st]{
		counter(p+"hits_total", "Times an idle connection was found in the pool.", func(x st) float64 { return float64(x.Hits) }),
		counter(p+"misses_total", "Times no idle connection was found in the pool.", func(x st) float64 { return float64(x.Misses) }),
		counter(p+"timeouts_total", "Times waiting for a connection timed out.", func(x st) float64 { return float64(x.Timeouts) }),
		counter(p+"waits_total", "Times a connection was waited for.", func(x st) float64 { return float64(x.WaitCount) }),
		counter(p+"wait_seconds_total", "Time spent waiting for connections.", func(x st) float64 { return float64(x.WaitDurationNs) / 1e9 }),
		counter(p+"stale_conns_total", "Stale connections removed from the pool.", func(x st) float64 { return float64(x.StaleConns) }),
		gauge(p+"total_conns", "Connections in the pool.", func(x st) float64 { return float64(x.TotalConns) }),
		gauge(p+"idle_conns", "Idle connections in the pool.", func(x st) float64 { return float64(x.IdleConns) }),
		gauge(p+"max_conns", "The pool's maximum size (PoolSize; in a Redis Cluster, of each node's pool).", func(st) float64 { return size }),
	}}
}
