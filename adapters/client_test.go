package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"onestop/gateway"
)

// recorder is a fake agency: it counts requests, keeps their idempotency keys and bodies,
// and answers with whatever answer returns for the n-th request (1-based).
type recorder struct {
	mu     sync.Mutex
	n      atomic.Int64
	keys   []string
	bodies [][]byte
	answer func(n int64, w http.ResponseWriter, r *http.Request)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := rec.n.Add(1)
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.keys = append(rec.keys, r.Header.Get("Idempotency-Key"))
	rec.bodies = append(rec.bodies, body)
	rec.mu.Unlock()
	rec.answer(n, w, r)
}

func (rec *recorder) Keys() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.keys...)
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// hang answers only when the client gives up.
func hang(_ int64, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func fakeAgency(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{answer: answer}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

// testConfig is quick to fail and to back off, so tests do not wait on defaults.
func testConfig(base string) Config {
	return Config{
		Agency: gateway.AgencyCivilAffairs, BaseURL: base + "/agencies/civil_affairs",
		PostTimeout: 200 * time.Millisecond, LookupTimeout: 200 * time.Millisecond,
		MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		BreakerFailures: 5, BreakerOpenFor: 100 * time.Millisecond, BreakerProbes: 2,
	}
}

func newTestClient(t *testing.T, cfg Config) (*Client, *Metrics, *logSink) {
	t.Helper()
	m := NewMetrics(nil)
	sink := &logSink{}
	c := New(cfg, nil, slog.New(sink), m)
	t.Cleanup(c.CloseIdleConnections)
	return c, m, sink
}

func message() gateway.OutboxMessage {
	return gateway.OutboxMessage{
		ID: "s-1/settlement", Agency: gateway.AgencyCivilAffairs, Kind: gateway.OutboxKindSettlement,
		PersonKey: "pk-1", SettlementID: "s-1", InstitutionID: "H001",
		CreatedAt: time.Date(2025, 3, 1, 8, 30, 0, 123456789, time.UTC),
		Payload:   json.RawMessage(`{"settlement_id":"s-1","total":"100.00"}`),
	}
}

func TestPostAccepted(t *testing.T) {
	for _, status := range []string{"accepted", "duplicate"} {
		t.Run(status, func(t *testing.T) {
			rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/agencies/civil_affairs/v1/messages" {
					reply(w, http.StatusNotFound, `{"error":"no such route"}`)
					return
				}
				reply(w, http.StatusCreated, `{"status":"`+status+`"}`)
			})
			c, _, _ := newTestClient(t, testConfig(srv.URL))
			if err := c.Post(context.Background(), message()); err != nil {
				t.Fatalf("Post: %v", err)
			}
			if got := rec.Keys(); len(got) != 1 || got[0] != "s-1/settlement" {
				t.Fatalf("idempotency keys %q, want one s-1/settlement", got)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.bodies[0], &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"id": "s-1/settlement", "agency": "civil_affairs", "kind": "settlement", "person_key": "pk-1",
				"settlement_id": "s-1", "institution_id": "H001", "created_at": "2025-03-01T08:30:00.123456789Z",
				"payload": map[string]any{"settlement_id": "s-1", "total": "100.00"},
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Fatalf("body\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestPostUnconfirmedIsRetried(t *testing.T) {
	rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, `{"status":"maybe"}`)
	})
	c, _, _ := newTestClient(t, testConfig(srv.URL))
	if err := c.Post(context.Background(), message()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Post: %v, want ErrUnavailable", err)
	}
	if n := rec.n.Load(); n != 3 {
		t.Fatalf("agency saw %d requests, want 3", n)
	}
}

func TestPostRejected(t *testing.T) {
	for _, status := range []int{400, 404, 409, 422} {
		rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
			reply(w, status, `{"error":"unknown institution H001"}`)
		})
		c, m, _ := newTestClient(t, testConfig(srv.URL))
		const calls = 20 // four times what trips the breaker
		for range calls {
			err := c.Post(context.Background(), message())
			var rej *gateway.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("HTTP %d: Post: %v, want a *gateway.RejectedError", status, err)
			}
			if rej.Status != status || rej.Reason != "unknown institution H001" || rej.Agency != gateway.AgencyCivilAffairs {
				t.Fatalf("HTTP %d: rejection %+v", status, rej)
			}
		}
		if n := rec.n.Load(); n != calls {
			t.Fatalf("HTTP %d: agency saw %d requests, want %d (rejections are not retried)", status, n, calls)
		}
		if s := c.cb.State(); s != gobreaker.StateClosed {
			t.Fatalf("HTTP %d: breaker %s after rejections, want closed", status, s)
		}
		if got := counter(t, m, "post", OutcomeRejected); got != calls {
			t.Fatalf("HTTP %d: rejected count %v, want %d", status, got, calls)
		}
	}
}

func TestPostRejectionReasonFromPlainBody(t *testing.T) {
	_, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, strings.Repeat("x", 1000))
	})
	c, _, _ := newTestClient(t, testConfig(srv.URL))
	var rej *gateway.RejectedError
	if err := c.Post(context.Background(), message()); !errors.As(err, &rej) || len(rej.Reason) != maxReason {
		t.Fatalf("Post: %v, want a rejection with a reason of %d bytes", err, maxReason)
	}
}

func TestPostRetriesUnavailable(t *testing.T) {
	for _, status := range []int{408, 429, 500, 502, 503, 504} {
		rec, srv := fakeAgency(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				reply(w, status, `{"error":"busy"}`)
				return
			}
			reply(w, http.StatusOK, `{"status":"accepted"}`)
		})
		c, m, _ := newTestClient(t, testConfig(srv.URL))
		if err := c.Post(context.Background(), message()); err != nil {
			t.Fatalf("HTTP %d then 200: Post: %v", status, err)
		}
		if n := rec.n.Load(); n != 2 {
			t.Fatalf("HTTP %d then 200: agency saw %d requests, want 2", status, n)
		}
		if keys := rec.Keys(); keys[0] != keys[1] {
			t.Fatalf("retry changed the idempotency key: %q", keys)
		}
		if counter(t, m, "post", OutcomeRetryable) != 1 || counter(t, m, "post", OutcomeOK) != 1 {
			t.Fatalf("HTTP %d then 200: want one retryable and one ok attempt counted", status)
		}
	}
}

func TestPostGivesUpAfterMaxAttempts(t *testing.T) {
	rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusServiceUnavailable, `{"error":"down"}`)
	})
	c, _, _ := newTestClient(t, testConfig(srv.URL))
	err := c.Post(context.Background(), message())
	var rej *gateway.RejectedError
	if !errors.Is(err, ErrUnavailable) || errors.As(err, &rej) {
		t.Fatalf("Post: %v, want ErrUnavailable", err)
	}
	if n := rec.n.Load(); n != 3 {
		t.Fatalf("agency saw %d requests, want MaxAttempts = 3", n)
	}
}

func TestPostSlowerThanTimeout(t *testing.T) {
	rec, srv := fakeAgency(t, hang)
	c, m, _ := newTestClient(t, testConfig(srv.URL))
	err := c.Post(context.Background(), message())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Post: %v, want ErrUnavailable", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Post: %v: an attempt's timeout must not look like the caller's deadline", err)
	}
	keys := rec.Keys()
	if len(keys) != 3 {
		t.Fatalf("agency saw %d requests, want 3", len(keys))
	}
	for _, k := range keys {
		if k != "s-1/settlement" {
			t.Fatalf("idempotency keys %q, want s-1/settlement every time", keys)
		}
	}
	if got := counter(t, m, "post", OutcomeRetryable); got != 3 {
		t.Fatalf("retryable attempts %v, want 3", got)
	}
}

func TestPostInvalidPayload(t *testing.T) {
	rec, srv := fakeAgency(t, hang)
	c, _, _ := newTestClient(t, testConfig(srv.URL))
	msg := message()
	msg.Payload = json.RawMessage(`{not json`)
	err := c.Post(context.Background(), msg)
	var rejected *gateway.RejectedError
	if !errors.Is(err, ErrInvalidRequest) || !errors.As(err, &rejected) {
		t.Fatalf("Post: %v, want ErrInvalidRequest and a RejectedError (so the outbox dead-letters it)", err)
	}
	if n := rec.n.Load(); n != 0 {
		t.Fatalf("agency saw %d requests, want none", n)
	}
}

func TestCallerCancelledStopsRetrying(t *testing.T) {
	rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusServiceUnavailable, `{}`)
	})
	cfg := testConfig(srv.URL)
	cfg.BaseBackoff, cfg.MaxBackoff = time.Hour, time.Hour // the wait would outlast the test
	c, _, _ := newTestClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Post(ctx, message())
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Post: %v, want the caller's deadline after an unavailable attempt", err)
	}
	if n := rec.n.Load(); n != 1 {
		t.Fatalf("agency saw %d requests, want 1", n)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{
		{BaseURL: "http://x"},
		{Agency: "a", BaseURL: ""},
		{Agency: "a", BaseURL: "ftp://x"},
		{Agency: "a", BaseURL: "://x"},
	} {
		if cfg.Validate() == nil {
			t.Errorf("%+v: valid, want an error", cfg)
		}
	}
	c := New(Config{Agency: "a", BaseURL: "http://x/"}, nil, nil, nil)
	want := Config{
		Agency: "a", BaseURL: "http://x", PostTimeout: 2 * time.Second, LookupTimeout: 300 * time.Millisecond,
		MaxAttempts: 3, BaseBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		BreakerFailures: 5, BreakerOpenFor: 10 * time.Second, BreakerProbes: 2, MaxConns: 32,
	}
	if c.cfg != want {
		t.Fatalf("defaults\n got %+v\nwant %+v", c.cfg, want)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	c := New(Config{Agency: "a", BaseURL: "http://x", BaseBackoff: 10 * time.Millisecond, MaxBackoff: 35 * time.Millisecond}, nil, nil, nil)
	for n, ceiling := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 35 * time.Millisecond, 64: 35 * time.Millisecond} {
		for range 200 {
			if d := c.backoff(n); d < 0 || d >= ceiling {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", n, d, ceiling)
			}
		}
	}
}
