package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sony/gobreaker/v2"

	"onestop/gateway"
)

const idNumber = "110101199003070011"

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func TestLookupFound(t *testing.T) {
	rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/agencies/civil_affairs/v1/persons/lookup" {
			reply(w, http.StatusNotFound, `{"error":"no such route"}`)
			return
		}
		reply(w, http.StatusOK, `{"id_number":"`+idNumber+`","name":"张三","scheme":"resident","status":"active",
			"insured_region":"110101","county":"110101","categories":[{"code":"low_income","from":"2025-01-01","to":"2025-12-31"}],
			"flags":[],"account_balance":"12.50","chronic":[],"filings":[],"social_security_card":"C123",
			"as_of":"2025-03-01T00:00:00Z","extra_field_from_a_newer_agency":1}`)
	})
	c, m, sink := newTestClient(t, testConfig(srv.URL))
	for _, q := range []struct{ id, card, body string }{
		{idNumber, "", `{"id_number":"` + idNumber + `"}`},
		{idNumber, "C123", `{"id_number":"` + idNumber + `"}`},
		{"", "C123", `{"social_security_card":"C123"}`},
	} {
		l, err := c.Lookup(context.Background(), q.id, q.card)
		if err != nil {
			t.Fatalf("Lookup(%q, %q): %v", q.id, q.card, err)
		}
		if l.IDNumber != idNumber || l.Name != "张三" || l.AccountBalance.String() != "12.5" ||
			len(l.Categories) != 1 || l.Categories[0].Code != "low_income" || l.AsOf == nil {
			t.Fatalf("Lookup: %+v", l)
		}
		if got := string(rec.bodies[len(rec.bodies)-1]); got != q.body {
			t.Fatalf("Lookup(%q, %q) sent %s, want %s", q.id, q.card, got, q.body)
		}
	}
	if got := counter(t, m, "lookup", OutcomeOK); got != 3 {
		t.Fatalf("ok lookups %v, want 3", got)
	}
	if rec.keys[0] != "" {
		t.Fatalf("lookup sent Idempotency-Key %q", rec.keys[0])
	}
	if _, err := c.Lookup(context.Background(), "", ""); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("Lookup with neither: %v, want ErrInvalidRequest", err)
	}
	if n := rec.n.Load(); n != 3 {
		t.Fatalf("agency saw %d requests, want 3", n)
	}
	assertNoIDNumbers(t, sink)
}

func TestLookupNotFound(t *testing.T) {
	rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusNotFound, `{"error":"no such person"}`)
	})
	cfg := testConfig(srv.URL)
	c, m, _ := newTestClient(t, cfg)
	for range 3 * cfg.BreakerFailures {
		l, err := c.Lookup(context.Background(), idNumber, "")
		if !errors.Is(err, ErrPersonNotFound) || l != nil {
			t.Fatalf("Lookup: %v, %v, want ErrPersonNotFound", l, err)
		}
	}
	if n := rec.n.Load(); n != int64(3*cfg.BreakerFailures) {
		t.Fatalf("agency saw %d requests, want one a call", n)
	}
	if s, n := c.cb.State(), c.cb.Counts(); s != gobreaker.StateClosed || n.ConsecutiveFailures != 0 {
		t.Fatalf("breaker %s, counts %+v after not-found answers: want closed, no failures", s, n)
	}
	if got := counter(t, m, "lookup", OutcomeNotFound); got != float64(3*cfg.BreakerFailures) {
		t.Fatalf("not_found count %v", got)
	}
}

func TestLookupRejected(t *testing.T) {
	_, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusBadRequest, `{"error":"malformed id number"}`)
	})
	c, _, _ := newTestClient(t, testConfig(srv.URL))
	var rej *gateway.RejectedError
	if _, err := c.Lookup(context.Background(), "123", ""); !errors.As(err, &rej) || rej.Status != 400 {
		t.Fatalf("Lookup: %v, want a 400 rejection", err)
	}
}

func TestLookupUnavailable(t *testing.T) {
	for name, answer := range map[string]func(int64, http.ResponseWriter, *http.Request){
		"500":       func(_ int64, w http.ResponseWriter, _ *http.Request) { reply(w, 500, `{"error":"db down"}`) },
		"slow":      hang,
		"malformed": func(_ int64, w http.ResponseWriter, _ *http.Request) { reply(w, 200, `{"id_number":"`+idNumber+`",`) },
	} {
		rec, srv := fakeAgency(t, answer)
		c, m, sink := newTestClient(t, testConfig(srv.URL))
		l, err := c.Lookup(context.Background(), idNumber, "")
		if !errors.Is(err, ErrUnavailable) || l != nil {
			t.Fatalf("%s: Lookup: %v, %v, want ErrUnavailable", name, l, err)
		}
		if strings.Contains(err.Error(), idNumber) {
			t.Fatalf("%s: the error quotes the ID number: %v", name, err)
		}
		if n := rec.n.Load(); n != 3 {
			t.Fatalf("%s: agency saw %d requests, want 3", name, n)
		}
		if got := counter(t, m, "lookup", OutcomeRetryable); got != 3 {
			t.Fatalf("%s: retryable count %v, want 3", name, got)
		}
		assertNoIDNumbers(t, sink)
	}
}

func assertNoIDNumbers(t *testing.T, sink *logSink) {
	t.Helper()
	for _, l := range sink.lines() {
		if strings.Contains(l, idNumber) || strings.Contains(l, "C123") {
			t.Fatalf("log line carries an ID or card number: %s", l)
		}
	}
}

// The body the client sends is a JSON object with exactly one key.
func TestLookupBodyShape(t *testing.T) {
	rec, srv := fakeAgency(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { reply(w, 404, `{}`) })
	c, _, _ := newTestClient(t, testConfig(srv.URL))
	_, _ = c.Lookup(context.Background(), "", "C9")
	var got map[string]string
	if err := json.Unmarshal(rec.bodies[0], &got); err != nil || len(got) != 1 || got["social_security_card"] != "C9" {
		t.Fatalf("body %s (%v)", rec.bodies[0], err)
	}
}
