package cache

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts eligibility lookups by where the answer came from.
type Metrics struct {
	// Lookups by source: "tier" (in process, fresh), "redis", "fallback" (Redis failed, an
	// older in-process copy answered), "unavailable" (Redis failed, nothing cached).
	Lookups *prometheus.CounterVec
	// Invalidations by cause: "person" (a delta), "switch" (a new version), "resync" (the
	// subscription was re-established).
	Invalidations *prometheus.CounterVec
}

// NewMetrics registers the eligibility metrics on reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onestop_eligibility_lookups_total", Help: "Eligibility lookups by the source that answered.",
		}, []string{"source"}),
		Invalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onestop_eligibility_invalidations_total", Help: "In-process eligibility cache invalidations by cause.",
		}, []string{"cause"}),
	}
	if reg != nil {
		reg.MustRegister(m.Lookups, m.Invalidations)
	}
	return m
}
