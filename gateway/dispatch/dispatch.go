package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"onestop/gateway"
)

// Config tunes a dispatcher; zero values take the defaults.
type Config struct {
	Workers     int           // deliveries in flight at once (default 8)
	Batch       int           // messages claimed at a time (default 64)
	Lease       time.Duration // how long a claimed message is ours (default 30 s): longer than an adapter's whole call
	Poll        time.Duration // pause when nothing is due (default 200 ms)
	MaxAttempts int           // attempts before a message is dead-lettered (default 50: hours of an agency's outage)
	BaseBackoff time.Duration // the first retry's delay (default 1 s), doubling…
	MaxBackoff  time.Duration // …up to this (default 60 s), with jitter
	StatsEvery  time.Duration // how often the queue gauges are refreshed (default 5 s)
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 50
	}
	set(&c.Lease, 30*time.Second)
	set(&c.Poll, 200*time.Millisecond)
	set(&c.BaseBackoff, time.Second)
	set(&c.MaxBackoff, time.Minute)
	set(&c.StatsEvery, 5*time.Second)
}

// Dispatcher delivers an outbox.
type Dispatcher struct {
	store    gateway.OutboxStore
	agencies map[string]gateway.Agency
	cfg      Config
	log      *slog.Logger
	m        *Metrics
}

// New returns a dispatcher of store's messages to agencies (by agency name). A message for
// an agency without an adapter stays pending, and is counted so.
func New(store gateway.OutboxStore, agencies map[string]gateway.Agency, cfg Config, log *slog.Logger, m *Metrics) *Dispatcher {
	cfg.defaults()
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Dispatcher{store: store, agencies: agencies, cfg: cfg, log: log, m: m}
}

// Run delivers until ctx ends. Store failures are logged and retried after a pause: the
// dispatcher outlives a Postgres restart.
func (d *Dispatcher) Run(ctx context.Context) {
	lastStats := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastStats) >= d.cfg.StatsEvery {
			d.refreshStats(ctx)
			lastStats = time.Now()
		}
		n, err := d.Once(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("outbox: claiming failed; retrying", "err", err)
		}
		if n == 0 || err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(d.cfg.Poll):
			}
		}
	}
}

// Once claims one batch and delivers it, returning how many messages it handled.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	rows, err := d.store.ClaimOutbox(ctx, d.cfg.Batch, d.cfg.Lease)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var delivered []int64
	for _, r := range rows {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if d.deliver(ctx, r) {
				mu.Lock()
				delivered = append(delivered, r.Seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(delivered) > 0 {
		// One write for the batch's deliveries. If it fails, the leases run out and the
		// messages are sent again, which the agencies receive idempotently.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.store.OutboxDelivered(rctx, delivered...); err != nil {
			d.log.Warn("outbox: could not record deliveries", "messages", len(delivered), "err", err)
		}
	}
	return len(rows), nil
}

// deliver posts one message and records a failure; it reports a success for Once to record.
func (d *Dispatcher) deliver(ctx context.Context, r gateway.OutboxRow) (ok bool) {
	agency := r.Message.Agency
	a, ok := d.agencies[agency]
	var err error
	if !ok {
		err = fmt.Errorf("no adapter is configured for agency %q", agency)
	} else {
		start := time.Now()
		err = a.Post(ctx, r.Message)
		d.m.latency.WithLabelValues(agency).Observe(time.Since(start).Seconds())
	}
	// The outcome is recorded even when ctx has ended (shutdown): on a context of its own,
	// briefly, so the message is not left leased for the whole lease.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var rejected *gateway.RejectedError
	switch {
	case err == nil:
		d.m.outcomes.WithLabelValues(agency, "delivered").Inc()
		return true
	case errors.As(err, &rejected):
		d.m.outcomes.WithLabelValues(agency, "rejected").Inc()
		d.log.Error("outbox: the agency rejected a message; dead-lettered for an operator", "agency", agency,
			"message", r.Message.ID, "status", rejected.Status, "reason", rejected.Reason)
		err = d.store.OutboxFailed(rctx, r.Seq, time.Now(), err.Error(), true)
	case ctx.Err() != nil:
		// Shutting down: not the agency's fault, and not an attempt to count against it.
		err = d.store.OutboxFailed(rctx, r.Seq, time.Now(), "dispatcher stopped", false)
	case r.Attempts >= d.cfg.MaxAttempts:
		d.m.outcomes.WithLabelValues(agency, "dead").Inc()
		d.log.Error("outbox: giving up on a message after its last attempt; dead-lettered", "agency", agency,
			"message", r.Message.ID, "attempts", r.Attempts, "err", err)
		err = d.store.OutboxFailed(rctx, r.Seq, time.Now(), err.Error(), true)
	default:
		d.m.outcomes.WithLabelValues(agency, "retry").Inc()
		err = d.store.OutboxFailed(rctx, r.Seq, time.Now().Add(d.backoff(r.Attempts)), err.Error(), false)
	}
	if err != nil {
		// The lease runs out and the message comes due again: delivered twice at worst,
		// which the agency's idempotent receipt absorbs.
		d.log.Warn("outbox: could not record a delivery outcome", "message", r.Message.ID, "err", err)
	}
	return false
}

// backoff doubles from BaseBackoff to MaxBackoff with full jitter, so a recovering agency
// is not hit by every gateway's retries in the same second.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.BaseBackoff << min(attempts-1, 30)
	if b <= 0 || b > d.cfg.MaxBackoff {
		b = d.cfg.MaxBackoff
	}
	return b/2 + time.Duration(rand.Int64N(int64(b/2)+1))
}

func (d *Dispatcher) refreshStats(ctx context.Context) {
	st, err := d.store.OutboxStats(ctx)
	if err != nil {
		return
	}
	d.m.pending.Set(float64(st.Pending))
	d.m.dead.Set(float64(st.Dead))
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = time.Since(st.OldestPending).Seconds()
	}
	d.m.oldest.Set(age)
}

// Metrics are the outbox's depth, age and delivery rate.
type Metrics struct {
	pending, dead, oldest prometheus.Gauge
	outcomes              *prometheus.CounterVec
	latency               *prometheus.HistogramVec
}

// NewMetrics registers the outbox metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "onestop_outbox_pending", Help: "Outbox messages not yet delivered nor dead."}),
		dead:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "onestop_outbox_dead", Help: "Dead-lettered outbox messages, waiting for an operator."}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "onestop_outbox_oldest_pending_seconds",
			Help: "Age of the oldest pending outbox message."}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onestop_outbox_deliveries_total",
			Help: "Delivery attempts by agency and outcome (delivered, retry, rejected, dead)."}, []string{"agency", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "onestop_outbox_delivery_seconds",
			Help: "Time to post one message, retries inside the adapter included."}, []string{"agency"}),
	}
	if reg != nil {
		reg.MustRegister(m.pending, m.dead, m.oldest, m.outcomes, m.latency)
	}
	return m
}
