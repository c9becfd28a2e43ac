package adapters

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sony/gobreaker/v2"
)

// attemptError carries what became of one attempt through the breaker, whose IsSuccessful
// and IsExcluded see only the error: the class decides, not the error's text or type.
type attemptError struct {
	outcome string // one of the Outcome constants but OutcomeOK and OutcomeBreakerOpen
	err     error
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

func outcomeOf(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var ae *attemptError
	if errors.As(err, &ae) {
		return ae.outcome
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return OutcomeBreakerOpen
	}
	return OutcomeRetryable
}

// newBreaker builds the breaker of one agency endpoint. Post and Lookup share it: they
// reach the same host, and an agency that cannot take a lookup cannot take a message
// either; one breaker also means one state to watch per agency.
//
// Counted as failures: only "agency unavailable" attempts. A rejection or a person not
// found is the agency answering, so a success. A caller that gave up (its context ended)
// says nothing about the agency and is excluded (gobreaker v2's IsExcluded), which also
// gives its half-open probe slot back.
func newBreaker(cfg Config, log *slog.Logger, m *Metrics) *gobreaker.CircuitBreaker[struct{}] {
	m.setState(cfg.Agency, gobreaker.StateClosed)
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        cfg.Agency,
		MaxRequests: cfg.BreakerProbes,
		Timeout:     cfg.BreakerOpenFor,
		// Interval 0: consecutive failures are never reset by the clock, only by a success.
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.BreakerFailures },
		IsSuccessful: func(err error) bool {
			o := outcomeOf(err)
			return o == OutcomeOK || o == OutcomeRejected || o == OutcomeNotFound
		},
		IsExcluded: func(err error) bool { return outcomeOf(err) == OutcomeCancelled },
		// Called with the breaker's lock held: must not call back into the breaker.
		OnStateChange: func(name string, from, to gobreaker.State) {
			m.setState(name, to)
			lvl := slog.LevelInfo
			if to == gobreaker.StateOpen {
				lvl = slog.LevelWarn
			}
			log.Log(context.Background(), lvl, "agency circuit breaker state changed",
				"agency", name, "from", from.String(), "to", to.String())
		},
	})
}
