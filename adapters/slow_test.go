package adapters

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A slow agency must cost bounded connections and no lasting goroutines: 200 posts to an
// agency that never answers in time all fail by their deadlines, at most MaxConns
// requests reach it at once, and the goroutines go away afterwards.
func TestSlowAgencyBoundsResources(t *testing.T) {
	var inFlight, peak atomic.Int64
	rec, srv := fakeAgency(t, func(_ int64, _ http.ResponseWriter, r *http.Request) {
		raise(&peak, inFlight.Add(1))
		defer inFlight.Add(-1)
		<-r.Context().Done() // never answers: only the client's giving up ends this
	})
	cfg := testConfig(srv.URL)
	cfg.PostTimeout, cfg.MaxAttempts = 1500*time.Millisecond, 2
	cfg.BreakerFailures = 1 << 30 // keep every call going to the agency: the load is the point
	c, _, _ := newTestClient(t, cfg)

	start := runtime.NumGoroutine()
	began := time.Now()
	const calls = 200
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() { errs <- c.Post(context.Background(), message()) })
	}

	// Before the first deadline no connection closes, so the agency's count of requests
	// in progress is the client's count of connections. (Later, when a timed-out
	// connection's slot passes to a waiting call, the agency may still be counting the old
	// one for a moment: a count taken then would not be the client's.)
	for inFlight.Load() < int64(c.cfg.MaxConns) {
		if time.Since(began) > cfg.PostTimeout/2 {
			t.Fatalf("%d requests reached the agency, want %d", inFlight.Load(), c.cfg.MaxConns)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // room for a 33rd connection, were there no bound
	switch p, took := peak.Load(), time.Since(began); {
	case took >= cfg.PostTimeout:
		t.Logf("the machine is too slow to count connections before the first deadline (%v)", took)
	case p != int64(c.cfg.MaxConns):
		t.Fatalf("agency saw %d requests at once, want MaxConns = %d", p, c.cfg.MaxConns)
	}

	wg.Wait()
	close(errs)
	// A bound on correctness, not speed: 2 attempts of 1.5s and a few ms of backoff, some
	// waiting for a connection; calls waiting without a deadline would never return.
	if took := time.Since(began); took > 30*time.Second {
		t.Fatalf("200 calls took %v", took)
	}
	for err := range errs {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Post: %v, want ErrUnavailable", err)
		}
	}
	t.Logf("agency saw %d requests, at most %d at once over the whole run (closes it had yet to notice included)", rec.n.Load(), peak.Load())

	// Connections dialed for calls that gave up wait in the idle pool for the next call
	// (three goroutines each: the client's read and write loops, the agency's side): a
	// bounded number, which closing them must take back to where we started.
	settle := func(bound int) int {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= bound || time.Now().After(deadline) {
				return n
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if n, bound := settle(start+3*c.cfg.MaxConns+10), start+3*c.cfg.MaxConns+10; n > bound {
		dumpGoroutines(t, "%d goroutines after the calls, %d before, want at most %d", n, start, bound)
	}
	c.CloseIdleConnections()
	if n := settle(start + 10); n > start+10 {
		dumpGoroutines(t, "%d goroutines with idle connections closed, %d before the calls", n, start)
	}
}

func dumpGoroutines(t *testing.T, format string, args ...any) {
	t.Helper()
	buf := make([]byte, 1<<20)
	t.Fatalf(format+"\n%s", append(args, buf[:runtime.Stack(buf, true)])...)
}

func raise(peak *atomic.Int64, n int64) {
	for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
	}
}
