package identity

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// NonceStore remembers used voucher nonces. Claim returns true exactly once per key while
// ttl lasts, even when gateway instances claim the same key at the same instant.
type NonceStore interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// MemoryNonces is a NonceStore for one process (onestop dev, tests): a second gateway
// instance would not see its claims. The zero value is ready to use.
type MemoryNonces struct {
	mu      sync.Mutex
	expiry  map[string]time.Time
	sweepAt int              // sweep expired keys when the map reaches this size
	now     func() time.Time // nil means time.Now; tests move the clock
}

var _ NonceStore = (*MemoryNonces)(nil)

func (m *MemoryNonces) Claim(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("identity: nonce ttl %v is not positive", ttl)
	}
	now := time.Now()
	if m.now != nil {
		now = m.now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.expiry == nil {
		m.expiry = map[string]time.Time{}
	}
	// Sweeping when the map has doubled since the last sweep keeps it within about twice
	// the live keys at a constant amortised cost per claim.
	if len(m.expiry) >= m.sweepAt {
		for k, exp := range m.expiry {
			if !now.Before(exp) {
				delete(m.expiry, k)
			}
		}
		m.sweepAt = max(2*len(m.expiry), 64)
	}
	if exp, ok := m.expiry[key]; ok && now.Before(exp) {
		return false, nil
	}
	m.expiry[key] = now.Add(ttl)
	return true, nil
}

// RedisNonces is a NonceStore shared by every gateway instance: SET key 1 NX PX ttl is
// atomic in Redis, so of two instances claiming one nonce exactly one succeeds.
type RedisNonces struct {
	Client redis.UniversalClient
	Prefix string // put before every key, e.g. "onestop:voucher-nonce:"
}

var _ NonceStore = RedisNonces{}

func (r RedisNonces) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("identity: nonce ttl %v is not positive", ttl)
	}
	// Rounded up: a key must never expire before the voucher it guards.
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	cmd := redis.NewBoolCmd(ctx, "set", r.Prefix+key, "1", "nx", "px", strconv.FormatInt(int64(ms), 10))
	if err := r.Client.Process(ctx, cmd); err != nil {
		return false, fmt.Errorf("redis: claiming a voucher nonce: %w", err)
	}
	return cmd.Val(), nil
}
