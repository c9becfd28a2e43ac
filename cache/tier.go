package cache

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"onestop/gateway"
)

// TierOptions sizes the in-process tier.
type TierOptions struct {
	Size         int           // entries kept (default 100,000: a big hospital's day of patients)
	TTL          time.Duration // how long an entry answers without asking Redis (default 10 s)
	FetchTimeout time.Duration // the deadline of one Redis lookup (default 250 ms)
	Metrics      *Metrics      // nil: not counted
	Now          func() time.Time
}

// Tier is the eligibility port for a gateway: an in-process LRU in front of Redis. A fresh
// entry answers without a round trip; a miss asks Redis once however many callers want the
// same person (single-flight); a change announced over pub/sub drops the entry at once, so
// the TTL only bounds what a lost announcement can cost. When Redis fails, an entry of any
// age still answers (the person was eligible moments ago and the counter keeps working);
// a person never seen is refused as UNAVAILABLE: onestop never settles on unknown eligibility.
type Tier struct {
	redis *Redis
	opt   TierOptions
	lru   *lru.Cache[string, tierEntry]
	sf    singleflight.Group
	// gen counts invalidations: a fetch that overlapped one does not cache what it read,
	// which may be the state from before the change.
	gen atomic.Uint64
}

type tierEntry struct {
	p  *gateway.Person
	at time.Time
}

var _ gateway.Eligibility = (*Tier)(nil)

func NewTier(r *Redis, opt TierOptions) *Tier {
	if opt.Size <= 0 {
		opt.Size = 100_000
	}
	if opt.TTL <= 0 {
		opt.TTL = 10 * time.Second
	}
	if opt.FetchTimeout <= 0 {
		opt.FetchTimeout = 250 * time.Millisecond
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics(nil)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c, _ := lru.New[string, tierEntry](opt.Size) // only fails for a size <= 0
	return &Tier{redis: r, opt: opt, lru: c}
}

// Start subscribes to change announcements until ctx ends.
func (t *Tier) Start(ctx context.Context) error {
	return t.redis.Subscribe(ctx, t.invalidate)
}

func (t *Tier) invalidate(e Event) {
	t.gen.Add(1)
	switch {
	case e.Switch != "" || e.Resync:
		t.lru.Purge()
		cause := "switch"
		if e.Resync {
			cause = "resync"
		}
		t.opt.Metrics.Invalidations.WithLabelValues(cause).Inc()
	case e.Person != "":
		t.lru.Remove(e.Person)
		for _, c := range e.Cards {
			t.lru.Remove(c)
		}
		t.opt.Metrics.Invalidations.WithLabelValues("person").Inc()
	}
}

// Lookup finds the person of an ID card or social-security card. E-vouchers are verified
// by the gateway and arrive here as the ID card they name.
func (t *Tier) Lookup(ctx context.Context, c gateway.Credential) (*gateway.Person, error) {
	var kind byte
	var full string
	switch c.Type {
	case gateway.CredentialIDCard:
		kind, full = 'p', t.redis.keyer.IDKey(c.Value)
	case gateway.CredentialSocialCard:
		kind, full = 'c', t.redis.keyer.CardKey(c.Value)
	default:
		return nil, &gateway.Error{Kind: gateway.KindInvalidArgument, Reason: gateway.ReasonInvalidCredential, Field: "credential.type",
			Message: fmt.Sprintf("%s is not looked up in the eligibility cache", c.Type)}
	}
	key := string(kind) + ":" + full[:2*fieldLen]
	cached, ok := t.lru.Peek(key)
	if ok && t.opt.Now().Sub(cached.at) < t.opt.TTL {
		t.lru.Get(key) // mark as recently used
		t.opt.Metrics.Lookups.WithLabelValues("tier").Inc()
		return copyPerson(cached.p), nil
	}
	v, err, _ := t.sf.Do(key, func() (any, error) {
		gen := t.gen.Load()
		// The fetch serves every caller waiting on this key: it runs on its own deadline,
		// not on the first caller's context.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.opt.FetchTimeout)
		defer cancel()
		p, err := t.redis.fetch(fctx, kind, full)
		if err == nil && t.gen.Load() == gen {
			t.lru.Add(key, tierEntry{p: p, at: t.opt.Now()})
		}
		return p, err
	})
	switch {
	case err == nil:
		t.opt.Metrics.Lookups.WithLabelValues("redis").Inc()
		return copyPerson(v.(*gateway.Person)), nil
	case errors.Is(err, gateway.ErrPersonNotFound):
		t.lru.Remove(key)
		t.opt.Metrics.Lookups.WithLabelValues("redis").Inc()
		return nil, err
	}
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.Kind == gateway.KindInternal {
		return nil, err
	}
	// Redis is down, slow, or lost its data: an older copy beats refusing a known patient.
	if cached, ok := t.lru.Get(key); ok {
		t.opt.Metrics.Lookups.WithLabelValues("fallback").Inc()
		return copyPerson(cached.p), nil
	}
	t.opt.Metrics.Lookups.WithLabelValues("unavailable").Inc()
	return nil, &gateway.Error{Kind: gateway.KindUnavailable, Reason: gateway.ReasonEligibilityUnavailable,
		Message: "eligibility cannot be read just now; try again shortly", Err: err}
}

func copyPerson(p *gateway.Person) *gateway.Person {
	cp := *p
	return &cp
}
