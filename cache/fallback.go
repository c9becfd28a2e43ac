package cache

import (
	"context"
	"errors"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"onestop/gateway"
)

// PersonSource looks a person up at an agency, through its adapter: a Line, or (nil, nil)
// when the agency does not know the person. Errors mean the agency could not answer.
type PersonSource func(ctx context.Context, c gateway.Credential) (*Line, error)

// Fallback asks the agencies for a person the snapshot does not hold — registered this
// morning, moved here yesterday: the insurance bureau for the person, civil affairs for
// aid categories, both within Timeout. What they answer is cached for TTL. An agency that
// cannot answer (down, its breaker open) is ELIGIBILITY_UNAVAILABLE at once: never settle
// on unknown eligibility.
type Fallback struct {
	Primary gateway.Eligibility
	Bureau  PersonSource // required
	Aid     PersonSource // optional: categories held
	Keyer   Keyer
	Timeout time.Duration // default 800 ms, both agencies in parallel
	TTL     time.Duration // default 10 minutes
	Metrics *Metrics
	Now     func() time.Time

	once  sync.Once
	cache *lru.Cache[string, fallbackEntry]
	sf    singleflight.Group
}

type fallbackEntry struct {
	p  *gateway.Person
	at time.Time
}

var _ gateway.Eligibility = (*Fallback)(nil)

func (f *Fallback) init() {
	f.once.Do(func() {
		if f.Timeout <= 0 {
			f.Timeout = 800 * time.Millisecond
		}
		if f.TTL <= 0 {
			f.TTL = 10 * time.Minute
		}
		if f.Now == nil {
			f.Now = time.Now
		}
		if f.Metrics == nil {
			f.Metrics = NewMetrics(nil)
		}
		f.cache, _ = lru.New[string, fallbackEntry](10_000)
	})
}

func (f *Fallback) Lookup(ctx context.Context, c gateway.Credential) (*gateway.Person, error) {
	p, err := f.Primary.Lookup(ctx, c)
	if !errors.Is(err, gateway.ErrPersonNotFound) {
		return p, err
	}
	f.init()
	key := string(c.Type) + ":" + f.Keyer.mac(string(c.Type)+":"+c.Value)
	if e, ok := f.cache.Get(key); ok && f.Now().Sub(e.at) < f.TTL {
		f.Metrics.Lookups.WithLabelValues("agency_cached").Inc()
		return copyPerson(e.p), nil
	}
	v, err, _ := f.sf.Do(key, func() (any, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.Timeout)
		defer cancel()
		return f.ask(actx, c)
	})
	if err != nil {
		f.Metrics.Lookups.WithLabelValues("agency_unavailable").Inc()
		return nil, &gateway.Error{Kind: gateway.KindUnavailable, Reason: gateway.ReasonEligibilityUnavailable,
			Message: "the person is not in the snapshot and the insurance bureau cannot be asked just now; try again shortly", Err: err}
	}
	if v == nil {
		f.Metrics.Lookups.WithLabelValues("agency_not_found").Inc()
		return nil, gateway.Errorf(gateway.ErrPersonNotFound, "credential", "no insured person with this credential")
	}
	p = v.(*gateway.Person)
	f.cache.Add(key, fallbackEntry{p: p, at: f.Now()})
	f.Metrics.Lookups.WithLabelValues("agency").Inc()
	return copyPerson(p), nil
}

// ask queries the bureau and the aid system at once; the person is the bureau's record with
// the aid system's categories (the bureau does not keep them).
func (f *Fallback) ask(ctx context.Context, c gateway.Credential) (any, error) {
	var aid *Line
	var aidErr error
	var wg sync.WaitGroup
	if f.Aid != nil {
		wg.Add(1)
		go func() { defer wg.Done(); aid, aidErr = f.Aid(ctx, c) }()
	}
	line, err := f.Bureau(ctx, c)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if line == nil {
		return nil, nil
	}
	if (c.Type == gateway.CredentialIDCard && line.IDNumber != c.Value) || (c.Type == gateway.CredentialSocialCard && line.SocialSecurityCard != c.Value) {
		return nil, errors.New("the agency answered with another person's record")
	}
	if aidErr != nil {
		// Without the aid system the person's categories are unknown: settling would pay
		// them no aid they may be owed, or aid they lost. Refuse, as for any unknown.
		return nil, aidErr
	}
	if aid != nil {
		line.Categories = aid.Categories
	}
	p, err := line.Person(f.Keyer, f.Now())
	if err != nil {
		return nil, err
	}
	return p, nil
}
