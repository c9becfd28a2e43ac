package cache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// LoadOptions tunes a snapshot load.
type LoadOptions struct {
	// Strict aborts the load at the first bad line, leaving the current version serving.
	// Otherwise bad lines are skipped and reported.
	Strict bool
	// PerBucket is the average number of persons a bucket hash holds (default 200): small
	// enough for Redis's compact hash encoding where its limits allow, large enough that the
	// per-key overhead is spread thin.
	PerBucket int
	// OldVersionTTL is how long the replaced version stays readable (default 10 minutes):
	// a reader that picked it up just before the switch still finds it.
	OldVersionTTL time.Duration
	// Progress, when set, is called with the lines read so far, from the reading goroutine.
	Progress func(lines int64)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// LoadSummary is what a load did.
type LoadSummary struct {
	Version    string
	Previous   string // the version it replaced ("" for the first load)
	Lines      int64  // lines read
	Persons    int64  // persons written
	Superseded int64  // persons already in the version: a duplicate line, or a delta that arrived during the load
	Bad        []LineError
	Elapsed    time.Duration
}

const (
	loadingTTL  = 30 * time.Second
	batchSize   = 500 // persons per pipeline round trip
	loadWriters = 4   // concurrent pipelines: Redis is single-threaded, but round trips overlap
)

// ErrLoadRunning: another load holds the loading mark.
var ErrLoadRunning = errors.New("another snapshot load is running")

// Load writes a snapshot file as a new version and switches readers to it in one step. A
// reader sees the old version until the switch and the new one after, never a mixture;
// deltas that arrive during the load are applied to both, and the load does not overwrite
// them. Only one load runs at a time.
func (r *Redis) Load(ctx context.Context, file *SnapshotFile, opt LoadOptions) (*LoadSummary, error) {
	if opt.PerBucket <= 0 {
		opt.PerBucket = 200
	}
	if opt.OldVersionTTL <= 0 {
		opt.OldVersionTTL = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if r.err != nil {
		return nil, r.err
	}
	start := opt.Now()
	lines, err := file.Lines()
	if err != nil {
		return nil, err
	}
	buckets := int(max(1, (lines+int64(opt.PerBucket)-1)/int64(opt.PerBucket)))

	seq, err := r.rdb.Incr(ctx, r.prefix+"seq").Result()
	if err != nil {
		return nil, err
	}
	v := strconv.FormatInt(seq, 10)
	// The version's metadata exists before the loading mark does, so a delta that sees the
	// mark always finds the bucket count it needs to apply itself to this version too.
	if err := r.rdb.HSet(ctx, r.versionKey(v, "meta"), "buckets", buckets, "state", "loading",
		"source", file.Path, "started_at", start.UTC().Format(time.RFC3339)).Err(); err != nil {
		return nil, err
	}
	ok, err := r.rdb.SetNX(ctx, r.prefix+"loading", v, loadingTTL).Result()
	if err != nil || !ok {
		r.rdb.Del(context.WithoutCancel(ctx), r.versionKey(v, "meta"))
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		other, _ := r.rdb.Get(ctx, r.prefix+"loading").Result()
		return nil, fmt.Errorf("%w (version %s); its mark expires within %s of it stopping", ErrLoadRunning, other, loadingTTL)
	}
	sum := &LoadSummary{Version: v}
	// From here on, a failure removes what this load wrote.
	done := false
	defer func() {
		if !done {
			r.abandon(context.WithoutCancel(ctx), v, buckets)
		}
	}()

	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go r.keepLoading(lctx, cancel, v)

	var persons, superseded atomic.Int64
	batches := make(chan []loadItem, loadWriters)
	var wg sync.WaitGroup
	var writeErr error
	var errOnce sync.Once
	for range loadWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				if lctx.Err() != nil {
					continue
				}
				n, dup, err := r.writeBatch(lctx, v, buckets, batch)
				if err != nil {
					errOnce.Do(func() { writeErr = err; cancel(err) })
					continue
				}
				persons.Add(n)
				superseded.Add(dup)
			}
		}()
	}

	batch := make([]loadItem, 0, batchSize)
	var read int64
	bad, readErr := file.Each(func(n int, l *Line) error {
		read = int64(n)
		if opt.Progress != nil && n%1000 == 0 {
			opt.Progress(read)
		}
		if lctx.Err() != nil {
			return nil
		}
		item, err := r.item(l, file.AsOf)
		if err != nil {
			if opt.Strict {
				cancel(fmt.Errorf("line %d: %w (--strict)", n, err))
			}
			return err
		}
		batch = append(batch, item)
		if len(batch) == batchSize {
			batches <- batch
			batch = make([]loadItem, 0, batchSize)
		}
		return nil
	})
	if len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	wg.Wait()
	if opt.Progress != nil {
		opt.Progress(read)
	}
	sum.Lines, sum.Bad = read, bad
	sum.Persons, sum.Superseded = persons.Load(), superseded.Load()
	switch {
	case readErr != nil:
		return sum, readErr
	case writeErr != nil:
		return sum, fmt.Errorf("writing to Redis: %w", writeErr)
	case context.Cause(lctx) != nil && ctx.Err() == nil:
		return sum, fmt.Errorf("load abandoned: %w", context.Cause(lctx))
	case ctx.Err() != nil:
		return sum, ctx.Err()
	}

	now := opt.Now().UTC().Format(time.RFC3339)
	if err := r.rdb.HSet(ctx, r.versionKey(v, "meta"), "persons", sum.Persons, "loaded_at", now).Err(); err != nil {
		return sum, err
	}
	prev, err := switchScript.Run(ctx, r.rdb, r.scriptKeys(), r.prefix, v, now).Text()
	if err != nil {
		return sum, err
	}
	done = true
	sum.Previous = prev
	if prev != "" {
		// The switch is made; failing to set the old version's expiry only wastes memory
		// until the next load, so it is reported, not undone.
		if err := r.expireVersion(ctx, prev, opt.OldVersionTTL); err != nil {
			return sum, fmt.Errorf("switched to version %s, but the old version %s could not be set to expire: %w", v, prev, err)
		}
	}
	sum.Elapsed = opt.Now().Sub(start)
	return sum, nil
}

// loadItem is one person ready to write.
type loadItem struct {
	field, card, key []byte
	record           []byte
}

func (r *Redis) item(l *Line, fileAsOf time.Time) (loadItem, error) {
	if l.Op != "" && l.Op != OpUpsert {
		return loadItem{}, fmt.Errorf("op: %q belongs in a delta file, not a snapshot", l.Op)
	}
	p, err := l.Person(r.keyer, fileAsOf)
	if err != nil {
		return loadItem{}, err
	}
	key, _ := hex.DecodeString(p.Key)
	it := loadItem{field: key[:fieldLen], key: key}
	if l.SocialSecurityCard != "" {
		card, _ := hex.DecodeString(r.keyer.CardKey(l.SocialSecurityCard))
		it.card = card[:fieldLen]
	}
	it.record = encodeRecord(p, it.card)
	return it, nil
}

// writeBatch writes persons that are not in the version yet (HSETNX: a delta that arrived
// during the load is newer than the file) and their card index entries.
func (r *Redis) writeBatch(ctx context.Context, v string, buckets int, batch []loadItem) (written, superseded int64, err error) {
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(batch))
	for i, it := range batch {
		cmds[i] = pipe.HSetNX(ctx, r.versionKey(v, "p:"+strconv.Itoa(bucketOf(it.field, buckets))), string(it.field), it.record)
		if it.card != nil {
			pipe.HSetNX(ctx, r.versionKey(v, "c:"+strconv.Itoa(bucketOf(it.card, buckets))), string(it.card), it.key)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, err
	}
	for _, c := range cmds {
		if c.Val() {
			written++
		} else {
			superseded++
		}
	}
	return written, superseded, nil
}

// keepLoading renews the loading mark until ctx ends; losing it cancels the load.
func (r *Redis) keepLoading(ctx context.Context, cancel context.CancelCauseFunc, v string) {
	t := time.NewTicker(loadingTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := keepLoadingScript.Run(ctx, r.rdb, r.scriptKeys(), r.prefix, v, loadingTTL.Milliseconds()).Int()
			if err == nil && n == 0 {
				cancel(errors.New("the loading mark was lost (Redis restarted, or the load stalled past its TTL)"))
				return
			}
		}
	}
}

// versionKeys lists every key of a version.
func (r *Redis) versionKeys(v string, buckets int) []string {
	keys := make([]string, 0, 2*buckets+1)
	for i := range buckets {
		keys = append(keys, r.versionKey(v, "p:"+strconv.Itoa(i)), r.versionKey(v, "c:"+strconv.Itoa(i)))
	}
	return append(keys, r.versionKey(v, "meta"))
}

func (r *Redis) expireVersion(ctx context.Context, v string, ttl time.Duration) error {
	buckets, err := r.rdb.HGet(ctx, r.versionKey(v, "meta"), "buckets").Int()
	if err != nil {
		return err
	}
	keys := r.versionKeys(v, buckets)
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		pipe := r.rdb.Pipeline()
		for _, k := range keys[:n] {
			pipe.Expire(ctx, k, ttl)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// abandon deletes a failed load's keys and releases the loading mark if still held.
func (r *Redis) abandon(ctx context.Context, v string, buckets int) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	keys := r.versionKeys(v, buckets)
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if r.rdb.Unlink(ctx, keys[:n]...).Err() != nil {
			break
		}
		keys = keys[n:]
	}
	releaseLoading.Run(ctx, r.rdb, r.scriptKeys(), r.prefix, v)
}

var releaseLoading = redis.NewScript(`
if redis.call('GET', ARGV[1] .. 'loading') == ARGV[2] then return redis.call('DEL', ARGV[1] .. 'loading') end
return 0
`)

// Delta ops: a line of a delta file adds or changes a person (upsert, the default) or
// removes one (remove: only id_number is read).
const (
	OpUpsert = "upsert"
	OpRemove = "remove"
)

// ErrInvalidLine marks a delta line that was refused for its content, not for Redis.
var ErrInvalidLine = errors.New("invalid line")

// ApplyDelta applies one delta line on top of the current version (and of a load in
// progress) and announces it, so every gateway drops its cached copy. Records without
// as_of are as of now.
func (r *Redis) ApplyDelta(ctx context.Context, l *Line, now time.Time) error {
	if r.err != nil {
		return r.err
	}
	var op string
	var key, card, record []byte
	switch l.Op {
	case "", OpUpsert:
		p, err := l.Person(r.keyer, now)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidLine, err)
		}
		key, _ = hex.DecodeString(p.Key)
		if l.SocialSecurityCard != "" {
			c, _ := hex.DecodeString(r.keyer.CardKey(l.SocialSecurityCard))
			card = c[:fieldLen]
		}
		op, record = "put", encodeRecord(p, card)
	case OpRemove:
		if !validIDNumber(l.IDNumber) {
			return fmt.Errorf("%w: id_number: not an 18-character ID number", ErrInvalidLine)
		}
		key, _ = hex.DecodeString(r.keyer.IDKey(l.IDNumber))
		op = "del"
	default:
		return fmt.Errorf("%w: op: %q is not %s or %s", ErrInvalidLine, l.Op, OpUpsert, OpRemove)
	}
	f := key[:fieldLen]
	old, err := deltaScript.Run(ctx, r.rdb, r.scriptKeys(), r.prefix, op, string(f), string(key), string(record), string(card)).Text()
	if err != nil {
		return err
	}
	hexOr := func(b []byte) string {
		if len(b) == 0 {
			return "-"
		}
		return hex.EncodeToString(b)
	}
	return r.rdb.Publish(ctx, r.prefix+"events", "person "+hex.EncodeToString(f)+" "+hexOr([]byte(old))+" "+hexOr(card)).Err()
}
