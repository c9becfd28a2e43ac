package cache

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"onestop/gateway"
)

// DefaultPrefix is where onestop keeps eligibility in Redis (see scripts.go for the layout).
const DefaultPrefix = "onestop:elig:"

// ClusterDefaultPrefix is the default in a Redis Cluster: the hash tag puts every key of the
// store in one slot, which the scripts need (see scripts.go).
const ClusterDefaultPrefix = "{onestop:elig}:"

// Redis is the eligibility snapshot in Redis: versioned loads switched atomically, deltas
// on top of the current version, change announcements over pub/sub. Readers normally go
// through a Tier, which caches in process.
type Redis struct {
	rdb    redis.UniversalClient
	keyer  Keyer
	prefix string
	// err refuses every call: the prefix cannot work on this client (see NewRedisStore).
	err error
}

// NewRedis uses rdb (see OpenRedis for the deadlines a gateway should set) with persons
// keyed by keyer; prefix "" means DefaultPrefix, or ClusterDefaultPrefix on a cluster
// client. A prefix a cluster cannot serve makes every call fail: prefer NewRedisStore,
// which says so at once.
func NewRedis(rdb redis.UniversalClient, keyer Keyer, prefix string) *Redis {
	prefix, err := storePrefix(rdb, prefix)
	return &Redis{rdb: rdb, keyer: keyer, prefix: prefix, err: err}
}

// NewRedisStore is NewRedis refusing, on a Redis Cluster client, a prefix without a hash
// tag.
func NewRedisStore(rdb redis.UniversalClient, keyer Keyer, prefix string) (*Redis, error) {
	r := NewRedis(rdb, keyer, prefix)
	if r.err != nil {
		return nil, r.err
	}
	return r, nil
}

// storePrefix applies the default and, on a cluster client, requires a hash tag: the
// scripts touch several keys, and Redis Cluster runs a script only when all of them live in
// the slot of its KEYS. A single Redis keeps its prefix as it is, so existing keys stay put.
func storePrefix(rdb redis.UniversalClient, prefix string) (string, error) {
	_, cluster := rdb.(*redis.ClusterClient)
	switch {
	case prefix == "" && cluster:
		return ClusterDefaultPrefix, nil
	case prefix == "":
		return DefaultPrefix, nil
	case cluster && !hasHashTag(prefix):
		return prefix, fmt.Errorf("--redis-prefix %q has no hash tag: in a Redis Cluster every eligibility key must share one hash slot, "+
			"so the prefix needs a non-empty {…} part, e.g. %q (the default there)", prefix, "{"+strings.TrimSuffix(prefix, ":")+"}:")
	}
	return prefix, nil
}

// hasHashTag reports whether every key starting with prefix hashes by a tag inside the
// prefix: Redis hashes the part between the first '{' and the first '}' after it, when that
// part is not empty.
func hasHashTag(prefix string) bool {
	open := strings.IndexByte(prefix, '{')
	if open < 0 {
		return false
	}
	end := strings.IndexByte(prefix[open+1:], '}')
	return end > 0
}

// Redis deadlines a counter can afford: every call is bounded by its context and by short
// socket timeouts, so a hung Redis costs a cashier a fraction of a second, not a minute.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = 300 * time.Millisecond
)

// RedisOptions parses a redis:// URL of one server with the gateway's deadlines.
func RedisOptions(url string) (*redis.Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	o.ContextTimeoutEnabled = true
	o.DialTimeout = redisDialTimeout
	o.ReadTimeout = redisIOTimeout
	o.WriteTimeout = redisIOTimeout
	o.PoolTimeout = redisIOTimeout
	o.MaxRetries = 1
	return o, nil
}

// Cluster URL schemes: a URL names one Redis or a Redis Cluster, so one setting (--redis,
// ONESTOP_REDIS) carries the choice with the addresses and cannot contradict them.
const (
	clusterScheme    = "redis+cluster://"
	clusterTLSScheme = "rediss+cluster://"
)

// IsClusterURL reports whether url names a Redis Cluster (redis+cluster:// or
// rediss+cluster://).
func IsClusterURL(url string) bool {
	return strings.HasPrefix(url, clusterScheme) || strings.HasPrefix(url, clusterTLSScheme)
}

// ClusterOptions parses a redis+cluster://host:port?addr=host2:port&addr=host3:port URL
// (rediss+cluster:// for TLS; further query parameters as go-redis's ParseClusterURL) with
// the gateway's deadlines. The addresses are seeds: the client learns the other nodes and
// the slot map from any of them.
func ClusterOptions(url string) (*redis.ClusterOptions, error) {
	var plain string
	switch {
	case strings.HasPrefix(url, clusterScheme):
		plain = "redis://" + url[len(clusterScheme):]
	case strings.HasPrefix(url, clusterTLSScheme):
		plain = "rediss://" + url[len(clusterTLSScheme):]
	default:
		return nil, fmt.Errorf("redis cluster url: want redis+cluster:// or rediss+cluster://")
	}
	o, err := redis.ParseClusterURL(plain)
	if err != nil {
		return nil, fmt.Errorf("redis cluster url: %w", err)
	}
	o.ContextTimeoutEnabled = true
	o.DialTimeout = redisDialTimeout
	o.ReadTimeout = redisIOTimeout
	o.WriteTimeout = redisIOTimeout
	o.PoolTimeout = redisIOTimeout
	o.MaxRetries = 1
	return o, nil
}

// OpenRedis is how every onestop command connects: redis://host:port/db (or rediss://) is
// one server (a primary, with or without replicas); redis+cluster://host:port?addr=… is a
// Redis Cluster. Calls get the gateway's deadlines; ioTimeout, when not 0, replaces the
// 300 ms socket read and write deadline (bulk loads and status need longer).
func OpenRedis(url string, ioTimeout time.Duration) (redis.UniversalClient, error) {
	if IsClusterURL(url) {
		o, err := ClusterOptions(url)
		if err != nil {
			return nil, err
		}
		if ioTimeout != 0 {
			o.ReadTimeout, o.WriteTimeout = ioTimeout, ioTimeout
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := RedisOptions(url)
	if err != nil {
		return nil, err
	}
	if ioTimeout != 0 {
		o.ReadTimeout, o.WriteTimeout = ioTimeout, ioTimeout
	}
	return redis.NewClient(o), nil
}

// field is the first fieldLen bytes of a hex HMAC key.
func field(hexKey string) ([]byte, error) {
	b, err := hex.DecodeString(hexKey)
	if err != nil || len(b) < fieldLen {
		return nil, fmt.Errorf("not a person key")
	}
	return b[:fieldLen], nil
}

func bucketOf(f []byte, n int) int { return int(binary.BigEndian.Uint32(f[:4]) % uint32(n)) }

func (r *Redis) versionKey(v string, rest string) string { return r.prefix + "v" + v + ":" + rest }

// scriptKeys are the KEYS every script is run with. The scripts build their key names from
// the prefix in ARGV (the layout predates clusters and must not move), but a cluster client
// routes a script by its first key: the version pointer puts it on the node of the store's
// slot. A single Redis ignores it.
func (r *Redis) scriptKeys() []string { return []string{r.prefix + "current"} }

// errNoSnapshot: Redis answered, but no snapshot was ever switched in.
var errNoSnapshot = errors.New("no eligibility snapshot is loaded in Redis")

// fetch reads the record a person key (kind 'p') or card key (kind 'c') leads to, from the
// current version. It returns gateway.ErrPersonNotFound when there is none.
func (r *Redis) fetch(ctx context.Context, kind byte, hexKey string) (*gateway.Person, error) {
	if r.err != nil {
		return nil, r.err
	}
	f, err := field(hexKey)
	if err != nil {
		return nil, gateway.Internal(err)
	}
	res, err := lookupScript.Run(ctx, r.rdb, r.scriptKeys(), r.prefix, string(kind), string(f)).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, errNoSnapshot
	}
	rec, _ := res[1].(string)
	if rec == "" {
		return nil, gateway.Errorf(gateway.ErrPersonNotFound, "credential", "no insured person with this credential")
	}
	personKey := hexKey
	if kind == 'c' {
		full, _ := res[2].(string)
		personKey = hex.EncodeToString([]byte(full))
	}
	p, card, live, err := decodeRecord(personKey, []byte(rec))
	if err != nil {
		return nil, gateway.Internal(fmt.Errorf("version %v: %w", res[0], err))
	}
	// A card index entry left pointing at a person whose card has since changed is not a
	// match: a reported-lost card stops working the moment the delta lands.
	if !live || (kind == 'c' && string(card) != string(f)) {
		return nil, gateway.Errorf(gateway.ErrPersonNotFound, "credential", "no insured person with this credential")
	}
	return p, nil
}

// Status describes the snapshot in Redis.
type Status struct {
	Current    string    // version readers use; "" when none
	Persons    int64     // persons written by the load (deltas not counted)
	Buckets    int       // hashes per index
	Source     string    // the file it was loaded from
	LoadedAt   time.Time // when the load finished
	SwitchedAt time.Time
	Loading    string // a version being loaded now, if any
	// MemoryBytes is Redis's used_memory: the whole server (in a cluster, the node holding
	// the snapshot), not only this snapshot.
	MemoryBytes int64
}

// Status reads the current version's metadata.
func (r *Redis) Status(ctx context.Context) (Status, error) {
	var s Status
	if r.err != nil {
		return s, r.err
	}
	cur, err := r.rdb.Get(ctx, r.prefix+"current").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return s, err
	}
	s.Current = cur
	ld, err := r.rdb.Get(ctx, r.prefix+"loading").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return s, err
	}
	s.Loading = ld
	if cur != "" {
		meta, err := r.rdb.HGetAll(ctx, r.versionKey(cur, "meta")).Result()
		if err != nil {
			return s, err
		}
		s.Persons, _ = strconv.ParseInt(meta["persons"], 10, 64)
		s.Buckets, _ = strconv.Atoi(meta["buckets"])
		s.Source = meta["source"]
		s.LoadedAt, _ = time.Parse(time.RFC3339, meta["loaded_at"])
		s.SwitchedAt, _ = time.Parse(time.RFC3339, meta["switched_at"])
	}
	// INFO names no key: a cluster client would ask any node, not the one the snapshot
	// fills.
	var node redis.Cmdable = r.rdb
	if c, ok := r.rdb.(*redis.ClusterClient); ok {
		m, err := c.MasterForKey(ctx, r.prefix+"current")
		if err != nil {
			return s, err
		}
		node = m
	}
	info, err := node.Info(ctx, "memory").Result()
	if err != nil {
		return s, err
	}
	s.MemoryBytes = usedMemory(info)
	return s, nil
}

func usedMemory(info string) int64 {
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// Event is a change announced on the events channel.
type Event struct {
	Switch  string // a new version became current: every cached person may be out of date
	Person  string // tier key of a changed person ("p:" + field hex)
	Cards   []string
	Resync  bool // the subscription was (re)established: announcements may have been missed
	Invalid string
}

// Subscribe calls on for every announcement until ctx ends. It returns once subscribed;
// go-redis reconnects a broken subscription by itself, and each (re)subscription is
// reported as a Resync event, since announcements sent meanwhile were lost.
//
// In a cluster the subscription is on the node of the channel's slot and PUBLISH reaches
// every node, so announcements arrive wherever they are published from.
func (r *Redis) Subscribe(ctx context.Context, on func(Event)) error {
	if r.err != nil {
		return r.err
	}
	ps := r.rdb.Subscribe(ctx, r.prefix+"events")
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return err
	}
	go func() {
		defer ps.Close()
		for ctx.Err() == nil {
			msg, err := ps.Receive(ctx)
			if err != nil {
				// The connection broke; go-redis redials on the next Receive. A short pause
				// keeps a dead Redis from spinning this loop.
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				on(Event{Resync: true})
			case *redis.Message:
				on(parseEvent(m.Payload))
			}
		}
	}()
	return nil
}

func parseEvent(payload string) Event {
	parts := strings.Fields(payload)
	switch {
	case len(parts) == 2 && parts[0] == "switch":
		return Event{Switch: parts[1]}
	case len(parts) == 4 && parts[0] == "person":
		e := Event{Person: "p:" + parts[1]}
		for _, c := range parts[2:] {
			if c != "-" {
				e.Cards = append(e.Cards, "c:"+c)
			}
		}
		return e
	}
	return Event{Invalid: payload}
}

// MetaKey is the key of a version's metadata hash.
func (r *Redis) MetaKey(version string) string { return r.versionKey(version, "meta") }
