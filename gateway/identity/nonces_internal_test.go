package identity

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMemoryNoncesExpireAndPrune(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	m := &MemoryNonces{now: func() time.Time { return now }}
	ctx := context.Background()
	claim := func(key string) bool {
		ok, err := m.Claim(ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("a") || claim("a") {
		t.Fatal("want the first claim only")
	}
	now = now.Add(59 * time.Second)
	if claim("a") {
		t.Fatal("claimed again before the ttl ended")
	}
	now = now.Add(time.Second)
	if !claim("a") {
		t.Fatal("not claimable once the ttl ended")
	}

	// A steady stream of one-minute claims, one a second for an hour, leaves about a
	// minute's worth in the map, not an hour's.
	for i := range 3600 {
		now = now.Add(time.Second)
		if !claim(fmt.Sprint(i)) {
			t.Fatalf("claim %d refused", i)
		}
	}
	if n := len(m.expiry); n > 2*60+64 {
		t.Errorf("%d keys held, want at most about twice the live ones", n)
	}
}
