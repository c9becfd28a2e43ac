package adapters

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// Request outcomes, the values of the "outcome" label.
const (
	OutcomeOK          = "ok"
	OutcomeRejected    = "rejected"
	OutcomeNotFound    = "not_found"
	OutcomeRetryable   = "retryable"
	OutcomeBreakerOpen = "breaker_open"
	// OutcomeCancelled: the caller gave up (its context ended) before the agency answered;
	// kept apart from retryable so that a caller's impatience does not read as an outage.
	OutcomeCancelled = "cancelled"
)

// Metrics are shared by the clients of all agencies, told apart by the "agency" label.
type Metrics struct {
	// BreakerState is 0 closed, 1 half-open, 2 open (gobreaker's State values).
	BreakerState *prometheus.GaugeVec
	// Requests counts attempts (each HTTP request, and each attempt the breaker refused),
	// by agency, op ("post", "lookup") and outcome; a call that is retried counts more than
	// once, so that the retryable rate shows how often agencies fail, not how often they
	// eventually succeed.
	Requests *prometheus.CounterVec
	// RequestSeconds is the duration of each HTTP attempt, by agency and op.
	RequestSeconds *prometheus.HistogramVec
}

// NewMetrics registers the agency metrics on reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		BreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "onestop_agency_breaker_state", Help: "Circuit breaker state per agency: 0 closed, 1 half-open, 2 open.",
		}, []string{"agency"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onestop_agency_requests_total", Help: "Agency request attempts by operation and outcome.",
		}, []string{"agency", "op", "outcome"}),
		RequestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "onestop_agency_request_seconds", Help: "Duration of agency request attempts.",
			// Lookups are bounded at 300ms and posts at 2s by default: resolve both.
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, 1, 2, 5},
		}, []string{"agency", "op"}),
	}
	if reg != nil {
		reg.MustRegister(m.BreakerState, m.Requests, m.RequestSeconds)
	}
	return m
}

func (m *Metrics) setState(agency string, s gobreaker.State) {
	m.BreakerState.WithLabelValues(agency).Set(float64(s))
}
