package adapters

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sony/gobreaker/v2"

	"onestop/gateway"
)

// logSink keeps every record, Debug included.
type logSink struct {
	mu      sync.Mutex
	records []slog.Record
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r.Clone())
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

// lines renders every record as "LEVEL message key=value ...".
func (s *logSink) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.records {
		line := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			line += " " + a.String()
			return true
		})
		out = append(out, line)
	}
	return out
}

func counter(t *testing.T, m *Metrics, op, outcome string) float64 {
	t.Helper()
	return testutil.ToFloat64(m.Requests.WithLabelValues(gateway.AgencyCivilAffairs, op, outcome))
}

func waitState(t *testing.T, c *Client, want gobreaker.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.cb.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("breaker still %s, want %s", c.cb.State(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// switchable is an agency whose behaviour the test changes: down (503), up (200), or held
// (the request waits until released, announcing itself on entered).
type switchable struct {
	mode    atomic.Int32
	entered chan struct{}
	release chan struct{}
}

const (
	modeDown int32 = iota
	modeUp
	modeHeld
)

func (s *switchable) answer(_ int64, w http.ResponseWriter, r *http.Request) {
	switch s.mode.Load() {
	case modeDown:
		reply(w, http.StatusServiceUnavailable, `{"error":"down"}`)
	case modeUp:
		reply(w, http.StatusOK, `{"status":"accepted"}`)
	case modeHeld:
		s.entered <- struct{}{}
		select {
		case <-s.release:
			reply(w, http.StatusOK, `{"status":"accepted"}`)
		case <-r.Context().Done():
		}
	}
}

func newSwitchable() *switchable {
	return &switchable{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func TestBreakerTripsThenFailsFast(t *testing.T) {
	sw := newSwitchable()
	rec, srv := fakeAgency(t, sw.answer)
	cfg := testConfig(srv.URL)
	cfg.MaxAttempts, cfg.BreakerFailures, cfg.BreakerOpenFor = 1, 5, time.Hour
	c, m, _ := newTestClient(t, cfg)
	for i := range 5 {
		if err := c.Post(context.Background(), message()); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("call %d: %v, want ErrUnavailable from the agency", i+1, err)
		}
	}
	if s := c.cb.State(); s != gobreaker.StateOpen {
		t.Fatalf("breaker %s after 5 failures, want open", s)
	}
	for range 10 {
		err := c.Post(context.Background(), message())
		if !errors.Is(err, ErrBreakerOpen) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("Post with the breaker open: %v, want ErrBreakerOpen", err)
		}
		if _, err := c.Lookup(context.Background(), "110101199003070011", ""); !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("Lookup with the breaker open: %v, want ErrBreakerOpen (one breaker per agency)", err)
		}
	}
	if n := rec.n.Load(); n != 5 {
		t.Fatalf("agency saw %d requests, want 5: an open breaker must not call it", n)
	}
	if got := counter(t, m, "post", OutcomeBreakerOpen); got != 10 {
		t.Fatalf("breaker_open count %v, want 10", got)
	}
}

// Each attempt goes through the breaker: an outage trips it within a call, and the call
// stops retrying there.
func TestBreakerCountsAttempts(t *testing.T) {
	sw := newSwitchable()
	rec, srv := fakeAgency(t, sw.answer)
	cfg := testConfig(srv.URL)
	cfg.MaxAttempts, cfg.BreakerFailures, cfg.BreakerOpenFor = 3, 5, time.Hour
	c, _, _ := newTestClient(t, cfg)
	if err := c.Post(context.Background(), message()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first call: %v", err)
	}
	err := c.Post(context.Background(), message())
	if !errors.Is(err, ErrBreakerOpen) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second call: %v, want ErrBreakerOpen after ErrUnavailable", err)
	}
	if n := rec.n.Load(); n != 5 {
		t.Fatalf("agency saw %d requests, want 5 (3 + 2, then the breaker opened)", n)
	}
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	sw := newSwitchable()
	rec, srv := fakeAgency(t, sw.answer)
	cfg := testConfig(srv.URL)
	cfg.MaxAttempts, cfg.BreakerFailures, cfg.BreakerProbes = 1, 3, 2
	cfg.PostTimeout = 5 * time.Second // the held probes must outlive the checks below
	c, _, sink := newTestClient(t, cfg)
	for range 3 {
		_ = c.Post(context.Background(), message())
	}
	if s := c.cb.State(); s != gobreaker.StateOpen {
		t.Fatalf("breaker %s, want open", s)
	}

	// A failed probe opens it again.
	waitState(t, c, gobreaker.StateHalfOpen)
	if err := c.Post(context.Background(), message()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("failing probe: %v", err)
	}
	if s := c.cb.State(); s != gobreaker.StateOpen {
		t.Fatalf("breaker %s after a failed probe, want open", s)
	}

	waitState(t, c, gobreaker.StateHalfOpen)
	sw.mode.Store(modeHeld)
	before := rec.n.Load()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- c.Post(context.Background(), message()) }()
	}
	for range 2 {
		<-sw.entered
	}
	// Both probe slots are taken: a third call is refused without reaching the agency.
	err := c.Post(context.Background(), message())
	if !errors.Is(err, ErrBreakerOpen) || !errors.Is(err, gobreaker.ErrTooManyRequests) {
		t.Fatalf("third call half-open: %v, want ErrBreakerOpen (too many requests)", err)
	}
	if n := rec.n.Load() - before; n != 2 {
		t.Fatalf("agency saw %d requests half-open, want exactly BreakerProbes = 2", n)
	}
	close(sw.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("probe: %v", err)
		}
	}
	if s := c.cb.State(); s != gobreaker.StateClosed {
		t.Fatalf("breaker %s after %d successful probes, want closed", s, cfg.BreakerProbes)
	}
	sw.mode.Store(modeUp)
	if err := c.Post(context.Background(), message()); err != nil {
		t.Fatalf("Post after closing: %v", err)
	}

	want := []string{
		"WARN agency circuit breaker state changed agency=civil_affairs from=closed to=open",
		"INFO agency circuit breaker state changed agency=civil_affairs from=open to=half-open",
		"WARN agency circuit breaker state changed agency=civil_affairs from=half-open to=open",
		"INFO agency circuit breaker state changed agency=civil_affairs from=open to=half-open",
		"INFO agency circuit breaker state changed agency=civil_affairs from=half-open to=closed",
	}
	var got []string
	for _, l := range sink.lines() {
		if !strings.HasPrefix(l, "DEBUG") {
			got = append(got, l)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("state change log\n got %q\nwant %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("state change log\n got %q\nwant %q", got, want)
		}
	}
}

func TestCallerCancellationNeverTrips(t *testing.T) {
	sw := newSwitchable()
	sw.mode.Store(modeHeld)
	_, srv := fakeAgency(t, sw.answer)
	cfg := testConfig(srv.URL)
	cfg.BreakerFailures = 2
	cfg.PostTimeout = 5 * time.Second // only the caller gives up
	c, m, _ := newTestClient(t, cfg)

	for range 10 { // cancelled while the agency holds the request
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Post(ctx, message()) }()
		<-sw.entered
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("cancelled Post: %v, want context.Canceled", err)
		}
	}
	for range 10 { // the caller's deadline, shorter than the attempt's
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := c.Post(ctx, message())
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("Post past the caller's deadline: %v, want context.DeadlineExceeded", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Post(ctx, message()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Post with a done context: %v", err)
	}
	// Whether or not each of the later ten reached the agency, it was excluded.
	if s, n := c.cb.State(), c.cb.Counts(); s != gobreaker.StateClosed || n.ConsecutiveFailures != 0 || n.TotalExclusions != 20 {
		t.Fatalf("breaker %s, counts %+v: want closed, no failures, 20 exclusions", s, n)
	}
	if got := counter(t, m, "post", OutcomeCancelled); got != 20 {
		t.Fatalf("cancelled count %v, want 20", got)
	}
}

func TestMetricsBreakerState(t *testing.T) {
	sw := newSwitchable()
	_, srv := fakeAgency(t, sw.answer)
	cfg := testConfig(srv.URL)
	cfg.MaxAttempts, cfg.BreakerFailures, cfg.BreakerProbes = 1, 2, 1
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c := New(cfg, nil, slog.New(&logSink{}), m)
	t.Cleanup(c.CloseIdleConnections)
	gauge := m.BreakerState.WithLabelValues(gateway.AgencyCivilAffairs)
	if v := testutil.ToFloat64(gauge); v != 0 {
		t.Fatalf("state gauge %v before any call, want 0 (closed)", v)
	}
	for range 2 {
		_ = c.Post(context.Background(), message())
	}
	if v := testutil.ToFloat64(gauge); v != 2 {
		t.Fatalf("state gauge %v after tripping, want 2 (open)", v)
	}
	waitState(t, c, gobreaker.StateHalfOpen)
	if v := testutil.ToFloat64(gauge); v != 1 {
		t.Fatalf("state gauge %v, want 1 (half-open)", v)
	}
	sw.mode.Store(modeUp)
	if err := c.Post(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(gauge); v != 0 {
		t.Fatalf("state gauge %v after a successful probe, want 0 (closed)", v)
	}
	for name, want := range map[string]int{
		"onestop_agency_breaker_state": 1, "onestop_agency_requests_total": 2, "onestop_agency_request_seconds": 1,
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Fatalf("%s: %d series (%v), want %d", name, n, err, want)
		}
	}
	if err := testutil.GatherAndCompare(reg, stringsReader(`
# HELP onestop_agency_requests_total Agency request attempts by operation and outcome.
# TYPE onestop_agency_requests_total counter
onestop_agency_requests_total{agency="civil_affairs",op="post",outcome="ok"} 1
onestop_agency_requests_total{agency="civil_affairs",op="post",outcome="retryable"} 2
`), "onestop_agency_requests_total"); err != nil {
		t.Fatal(err)
	}
}
