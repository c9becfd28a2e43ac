// Package metrics holds the Prometheus side of the gateway: the settlement flows (a
// gateway.Observer) and the connection pools of the ledger and the eligibility cache, so that
// the gateway itself stays free of Prometheus.
package metrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"onestop/gateway"
)

// Settlements counts the settlement flows. They are flows: a cancellation is counted as
// one, and takes nothing off the settlements or amounts counted before.
type Settlements struct {
	settled    *prometheus.CounterVec
	amount     *prometheus.CounterVec
	billed     prometheus.Counter
	cash       prometheus.Counter
	presettled *prometheus.CounterVec
	replayed   prometheus.Counter
	cancelled  prometheus.Counter
	flagged    *prometheus.CounterVec
}

var _ gateway.Observer = (*Settlements)(nil)

// NewSettlements registers the settlement metrics on reg (nil: not registered, for tests).
func NewSettlements(reg prometheus.Registerer) *Settlements {
	m := &Settlements{
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onestop_settlements_total", Help: "Settlements stored, by institution level and med_type (replays not included).",
		}, []string{"level", "med_type"}),
		amount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onestop_settlement_amount_yuan_total",
			Help: "Yuan paid by each fund in the settlements stored; personal_account is the personal account, hospital the share the institution bears.",
		}, []string{"fund"}),
		billed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "onestop_settlement_billed_yuan_total", Help: "Yuan billed in the settlements stored.",
		}),
		cash: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "onestop_settlement_cash_yuan_total", Help: "Yuan the patients paid in cash in the settlements stored.",
		}),
		presettled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onestop_presettlements_total", Help: "PreSettle answers, by institution level and med_type.",
		}, []string{"level", "med_type"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "onestop_settlements_replayed_total", Help: "Settle calls answered with the settlement an identical earlier request stored.",
		}),
		cancelled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "onestop_cancellations_total", Help: "Settlements cancelled (replayed cancellations not included).",
		}),
		flagged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onestop_fraud_flags_total", Help: "Settle calls held by a fraud check, by reason (POSSIBLE_DUPLICATE_BILL, CONCURRENT_ADMISSION) and institution level.",
		}, []string{"reason", "level"}),
	}
	for _, r := range []string{gateway.ReasonPossibleDuplicateBill, gateway.ReasonConcurrentAdmission} {
		m.flagged.WithLabelValues(r, "") // both series from the start: a rate reads 0, not "no data"
	}
	if reg != nil {
		reg.MustRegister(m.settled, m.amount, m.billed, m.cash, m.presettled, m.replayed, m.cancelled, m.flagged)
	}
	return m
}

// Settled counts a stored settlement and its money.
func (m *Settlements) Settled(st *gateway.Settlement, inst *gateway.Institution) {
	m.settled.WithLabelValues(level(inst), medType(st)).Inc()
	for _, p := range st.Payments {
		add(m.amount.WithLabelValues(p.Fund), p.Amount)
	}
	// Only when paid: a fund series appears once it has paid something, like the pools'.
	if st.Account.IsPositive() {
		add(m.amount.WithLabelValues("personal_account"), st.Account)
	}
	if st.Hospital.IsPositive() {
		add(m.amount.WithLabelValues("hospital"), st.Hospital)
	}
	add(m.billed, st.Total)
	add(m.cash, st.Cash)
}

// Replayed counts a replay; its settlement was counted when it was stored.
func (m *Settlements) Replayed(*gateway.Settlement) { m.replayed.Inc() }

// PreSettled counts a PreSettle answer.
func (m *Settlements) PreSettled(st *gateway.Settlement, inst *gateway.Institution) {
	m.presettled.WithLabelValues(level(inst), medType(st)).Inc()
}

// Cancelled counts a cancellation.
func (m *Settlements) Cancelled(*gateway.Settlement) { m.cancelled.Inc() }

// Flagged counts a Settle held by a fraud check.
func (m *Settlements) Flagged(reason string, inst *gateway.Institution) {
	m.flagged.WithLabelValues(reason, level(inst)).Inc()
}

// medType is the API's name of the med type (OUTPATIENT, …), the one terminals send and the
// access log shows, rather than the policy engine's lower case.
func medType(st *gateway.Settlement) string { return strings.ToUpper(st.Receipt.MedType) }

func level(inst *gateway.Institution) string {
	if inst == nil {
		return ""
	}
	return strconv.Itoa(inst.Level)
}

// add adds yuan to a counter: a float is precise enough for a rate on a dashboard; the
// ledger keeps the exact amounts. A negative amount (none should reach here) is skipped,
// since a counter that went down would panic.
func add(c prometheus.Counter, yuan decimal.Decimal) {
	if yuan.IsPositive() {
		c.Add(yuan.InexactFloat64())
	}
}
