package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"

	"onestop/cache"
	"onestop/gateway"
)

var (
	// ErrPersonNotFound: the agency does not know the person looked up (HTTP 404).
	ErrPersonNotFound = errors.New("person not found at the agency")
	// ErrUnavailable: the agency did not answer usefully (408, 429, 5xx, a connection
	// failure, a timeout, a malformed answer) in any attempt. A post may still have been
	// delivered; retry later with the same message.
	ErrUnavailable = errors.New("agency unavailable")
	// ErrBreakerOpen: the agency's circuit breaker refused the call without trying it,
	// because recent attempts failed. Retry later.
	ErrBreakerOpen = errors.New("agency circuit breaker open")
	// ErrInvalidRequest: the call could not be sent as asked (no ID number nor card number,
	// a payload that is not JSON). Retrying will not help; nothing reached the agency.
	ErrInvalidRequest = errors.New("invalid agency request")
)

// Config is one agency endpoint. Zero durations and counts take the defaults.
type Config struct {
	Agency  string // gateway.Agency* name: the label in logs and metrics
	BaseURL string // e.g. http://127.0.0.1:7070/agencies/civil_affairs

	PostTimeout   time.Duration // per attempt; default 2s
	LookupTimeout time.Duration // per attempt; default 300ms: a terminal is waiting
	MaxAttempts   int           // per call, the first included; default 3
	BaseBackoff   time.Duration // default 50ms
	MaxBackoff    time.Duration // default 1s

	BreakerFailures uint32        // consecutive failed attempts that open the breaker; default 5
	BreakerOpenFor  time.Duration // how long it stays open before probing; default 10s
	BreakerProbes   uint32        // attempts admitted half-open, all of which must succeed to close; default 2

	// MaxConns bounds the connections to the agency when New builds the HTTP client
	// (ignored for a caller's client); default 32. Calls beyond it wait for a connection
	// within their deadline instead of opening more.
	MaxConns int
}

const (
	defaultPostTimeout     = 2 * time.Second
	defaultLookupTimeout   = 300 * time.Millisecond
	defaultMaxAttempts     = 3
	defaultBaseBackoff     = 50 * time.Millisecond
	defaultMaxBackoff      = time.Second
	defaultBreakerFailures = 5
	defaultBreakerOpenFor  = 10 * time.Second
	defaultBreakerProbes   = 2
	defaultMaxConns        = 32

	// maxBody bounds what is read of an answer: a person record or a status is small, and
	// a misbehaving agency must not make the gateway buffer without limit.
	maxBody = 1 << 20
	// maxReason bounds a rejection reason kept from a body that is not the JSON expected.
	maxReason = 256
)

// Validate reports whether the configuration can make a client.
func (c Config) Validate() error {
	if c.Agency == "" {
		return errors.New("adapters: agency name required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("adapters: agency %s: base URL: %w", c.Agency, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("adapters: agency %s: base URL %q is not an http(s) URL", c.Agency, c.BaseURL)
	}
	return nil
}

func (c Config) withDefaults() Config {
	orDuration := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	orDuration(&c.PostTimeout, defaultPostTimeout)
	orDuration(&c.LookupTimeout, defaultLookupTimeout)
	orDuration(&c.BaseBackoff, defaultBaseBackoff)
	orDuration(&c.MaxBackoff, defaultMaxBackoff)
	orDuration(&c.BreakerOpenFor, defaultBreakerOpenFor)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = defaultMaxAttempts
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = defaultBreakerFailures
	}
	if c.BreakerProbes == 0 {
		c.BreakerProbes = defaultBreakerProbes
	}
	if c.MaxConns <= 0 {
		c.MaxConns = defaultMaxConns
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return c
}

// Client talks to one agency endpoint. It is safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client
	log *slog.Logger
	m   *Metrics
	cb  *gobreaker.CircuitBreaker[struct{}]
}

var _ gateway.Agency = (*Client)(nil)

// New makes the client of one agency endpoint. hc nil: a dedicated client whose
// connections to the agency are bounded by cfg.MaxConns. log nil: slog.Default(); m nil:
// unregistered metrics. New panics on a configuration Validate refuses, a programming or
// deployment error to be caught at start-up.
func New(cfg Config, hc *http.Client, log *slog.Logger, m *Metrics) *Client {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	if hc == nil {
		hc = newHTTPClient(cfg.MaxConns)
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Client{cfg: cfg, hc: hc, log: log, m: m, cb: newBreaker(cfg, log, m)}
}

// newHTTPClient bounds what a slow agency can hold: at most maxConns connections (calls
// beyond wait for one, within their deadline), idle ones closed after a while. No
// client-wide Timeout: each attempt's context is the deadline.
func newHTTPClient(maxConns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxConnsPerHost:        maxConns,
		MaxIdleConns:           maxConns,
		MaxIdleConnsPerHost:    maxConns,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    2 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}}
}

// CloseIdleConnections closes the client's idle connections to the agency, for shutdown.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// wireMessage is an OutboxMessage as the agencies receive it.
type wireMessage struct {
	ID            string          `json:"id"`
	Agency        string          `json:"agency"`
	Kind          string          `json:"kind"`
	PersonKey     string          `json:"person_key"`
	SettlementID  string          `json:"settlement_id"`
	InstitutionID string          `json:"institution_id"`
	CreatedAt     string          `json:"created_at"`
	Payload       json.RawMessage `json:"payload"`
}

// Post delivers a message (gateway.Agency). nil: accepted now or earlier (a duplicate).
// *gateway.RejectedError: refused for its content. An error wrapping ErrUnavailable or
// ErrBreakerOpen, or the caller's context error: not delivered or possibly delivered;
// every attempt, and so every later retry, carries the same Idempotency-Key.
func (c *Client) Post(ctx context.Context, m gateway.OutboxMessage) error {
	body, err := json.Marshal(wireMessage{
		ID: m.ID, Agency: m.Agency, Kind: m.Kind, PersonKey: m.PersonKey, SettlementID: m.SettlementID,
		InstitutionID: m.InstitutionID, CreatedAt: m.CreatedAt.UTC().Format(time.RFC3339Nano), Payload: m.Payload,
	})
	if err != nil {
		// A message that cannot be encoded never will be: a rejection, so the outbox
		// dead-letters it for an operator instead of retrying it forever.
		return fmt.Errorf("%w: %w", ErrInvalidRequest, &gateway.RejectedError{Agency: c.cfg.Agency, Reason: "the message's payload is not valid JSON: " + err.Error()})
	}
	return c.call(ctx, "post", "/v1/messages", m.ID, body, c.cfg.PostTimeout, func(status int, data []byte) error {
		if status != http.StatusOK && status != http.StatusCreated {
			return c.classify(status, data, false)
		}
		var ans struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(data, &ans); err != nil || (ans.Status != "accepted" && ans.Status != "duplicate") {
			// Possibly delivered, but not confirmed: the retry is idempotent.
			return &attemptError{OutcomeRetryable, fmt.Errorf("%w: HTTP %d without an accepted or duplicate status", ErrUnavailable, status)}
		}
		return nil
	})
}

// Lookup asks the agency for a person by ID number or, when idNumber is empty, by
// social-security card number. Errors: ErrPersonNotFound, ErrInvalidRequest, a
// *gateway.RejectedError, or as Post's.
func (c *Client) Lookup(ctx context.Context, idNumber, ssc string) (*cache.Line, error) {
	var q struct {
		IDNumber string `json:"id_number,omitempty"`
		Card     string `json:"social_security_card,omitempty"`
	}
	switch {
	case idNumber != "":
		q.IDNumber = idNumber
	case ssc != "":
		q.Card = ssc
	default:
		return nil, fmt.Errorf("agency %s lookup: %w: neither an ID number nor a card number", c.cfg.Agency, ErrInvalidRequest)
	}
	body, _ := json.Marshal(q) // two strings: cannot fail
	var line *cache.Line
	err := c.call(ctx, "lookup", "/v1/persons/lookup", "", body, c.cfg.LookupTimeout, func(status int, data []byte) error {
		if status != http.StatusOK {
			return c.classify(status, data, true)
		}
		var l cache.Line
		if err := json.Unmarshal(data, &l); err != nil {
			// The decoder's message may quote the record: keep only that it was malformed.
			return &attemptError{OutcomeRetryable, fmt.Errorf("%w: HTTP 200 with a malformed person record", ErrUnavailable)}
		}
		line = &l
		return nil
	})
	if err != nil {
		return nil, err
	}
	return line, nil
}

// classify turns an answer that is not a success into an attempt error.
func (c *Client) classify(status int, data []byte, lookup bool) error {
	switch {
	case lookup && status == http.StatusNotFound:
		return &attemptError{OutcomeNotFound, ErrPersonNotFound}
	case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		return &attemptError{OutcomeRejected, &gateway.RejectedError{Agency: c.cfg.Agency, Status: status, Reason: reason(status, data)}}
	default:
		return &attemptError{OutcomeRetryable, fmt.Errorf("%w: HTTP %d", ErrUnavailable, status)}
	}
}

// reason is the agency's {"error": ...}, else the start of the body, else the status text.
func reason(status int, data []byte) string {
	var ans struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &ans) == nil && ans.Error != "" {
		return ans.Error
	}
	if s := strings.ToValidUTF8(strings.TrimSpace(string(data)), ""); s != "" {
		if len(s) > maxReason {
			s = strings.ToValidUTF8(s[:maxReason], "")
		}
		return s
	}
	return fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
}

// call runs up to MaxAttempts attempts of one request, with backoff between them, for as
// long as the outcome is retryable and ctx lasts. interpret reads a complete answer.
//
// Each attempt, not each call, goes through the breaker: an outage then trips it after
// BreakerFailures attempts rather than BreakerFailures×MaxAttempts, and a call that is
// mid-retry when the breaker opens stops at once instead of adding to the load.
func (c *Client) call(ctx context.Context, op, path, idemKey string, body []byte, timeout time.Duration, interpret func(int, []byte) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("agency %s %s: %w", c.cfg.Agency, op, err)
	}
	var last error
	for attempt := 1; ; attempt++ {
		_, err := c.cb.Execute(func() (struct{}, error) {
			return struct{}{}, c.attempt(ctx, op, path, idemKey, body, timeout, interpret)
		})
		outcome := outcomeOf(err)
		if outcome == OutcomeBreakerOpen {
			c.m.Requests.WithLabelValues(c.cfg.Agency, op, outcome).Inc()
			if last != nil {
				return fmt.Errorf("agency %s %s: %w (%w) after: %w", c.cfg.Agency, op, ErrBreakerOpen, err, last)
			}
			return fmt.Errorf("agency %s %s: %w (%w)", c.cfg.Agency, op, ErrBreakerOpen, err)
		}
		switch outcome {
		case OutcomeOK:
			return nil
		case OutcomeRejected, OutcomeNotFound:
			return errors.Unwrap(err) // the *gateway.RejectedError or ErrPersonNotFound itself
		case OutcomeCancelled:
			return fmt.Errorf("agency %s %s: %w", c.cfg.Agency, op, errors.Unwrap(err))
		}
		last = errors.Unwrap(err)
		c.log.LogAttrs(ctx, slog.LevelDebug, "agency attempt failed", slog.String("agency", c.cfg.Agency),
			slog.String("op", op), slog.Int("attempt", attempt), slog.String("err", last.Error()))
		if attempt >= c.cfg.MaxAttempts {
			return fmt.Errorf("agency %s %s: %d attempts: %w", c.cfg.Agency, op, attempt, last)
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("agency %s %s: %w after: %w", c.cfg.Agency, op, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// backoff before attempt n+1: full jitter, uniform in [0, min(MaxBackoff, BaseBackoff·2^(n-1))),
// so that calls failing together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.MaxBackoff
	if shift := n - 1; shift < 30 {
		d = min(d, c.cfg.BaseBackoff<<shift)
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// attempt sends the request once, under its own deadline inside ctx's, and reads the
// answer completely before the deadline's context is released.
func (c *Client) attempt(ctx context.Context, op, path, idemKey string, body []byte, timeout time.Duration, interpret func(int, []byte) error) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := func() error {
		req, err := http.NewRequestWithContext(actx, http.MethodPost, c.cfg.BaseURL+path, bytes.NewReader(body))
		if err != nil {
			return &attemptError{OutcomeRetryable, fmt.Errorf("%w: %v", ErrUnavailable, err)}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if idemKey != "" {
			req.Header.Set("Idempotency-Key", idemKey)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return c.failed(ctx, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err != nil {
			return c.failed(ctx, err)
		}
		if len(data) > maxBody {
			return &attemptError{OutcomeRetryable, fmt.Errorf("%w: HTTP %d with an answer over %d bytes", ErrUnavailable, resp.StatusCode, maxBody)}
		}
		return interpret(resp.StatusCode, data)
	}()
	outcome := outcomeOf(err)
	c.m.Requests.WithLabelValues(c.cfg.Agency, op, outcome).Inc()
	c.m.RequestSeconds.WithLabelValues(c.cfg.Agency, op).Observe(time.Since(start).Seconds())
	return err
}

// failed classifies a transport failure: the caller's context ending is the caller's
// business; anything else, the attempt's own deadline included, is the agency's.
func (c *Client) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &attemptError{OutcomeCancelled, ctx.Err()}
	}
	// Not wrapped: a timed-out attempt's context.DeadlineExceeded must not pass for the
	// caller's own deadline in errors.Is.
	return &attemptError{OutcomeRetryable, fmt.Errorf("%w: %v", ErrUnavailable, err)}
}
