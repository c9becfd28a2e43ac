package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Agencies are the upstream systems that must learn of settlements touching their funds.
const (
	AgencyInsuranceBureau    = "insurance_bureau"
	AgencyCivilAffairs       = "civil_affairs"
	AgencyTradeUnion         = "trade_union"
	AgencyRedCross           = "red_cross"
	AgencyCommercialInsurer  = "commercial_insurer"
	OutboxKindSettlement     = "settlement"
	OutboxKindCancellation   = "cancellation"
	OutboxKindHighCostAlert  = "high_cost_alert"
	fundRoutePersonalAccount = "personal_account"
)

// Agencies lists every agency kind, in a stable order.
var Agencies = []string{AgencyInsuranceBureau, AgencyCivilAffairs, AgencyTradeUnion, AgencyRedCross, AgencyCommercialInsurer}

// FundAgencies routes a fund to the agency that funds it. A settlement is told to every
// agency one of its payments routes to; the account and the hospital's share route to the
// insurance bureau, which keeps the personal accounts and settles with the hospitals.
var FundAgencies = map[string]string{
	"basic_employee":         AgencyInsuranceBureau,
	"basic_resident":         AgencyInsuranceBureau,
	"critical_illness":       AgencyInsuranceBureau,
	"large_supplement":       AgencyInsuranceBureau,
	"civil_servant":          AgencyInsuranceBureau,
	fundRoutePersonalAccount: AgencyInsuranceBureau,
	"medical_aid":            AgencyCivilAffairs,
	"tilted_aid":             AgencyCivilAffairs,
	"union_mutual":           AgencyTradeUnion,
	"child_mutual":           AgencyRedCross,
}

// OutboxMessage is one thing an agency must be told, written in the same transaction as
// the settlement or cancellation it reports and delivered at least once; ID makes the
// agency's receipt idempotent, so "at least once" is "once" in effect.
type OutboxMessage struct {
	ID            string // "<settlement id>/settlement", "<settlement id>/cancellation", "<person key>/<year>/high-cost/<threshold>"
	Agency        string
	Kind          string
	PersonKey     string // deliveries to one agency are in order per person
	SettlementID  string
	InstitutionID string
	CreatedAt     time.Time
	Payload       json.RawMessage
}

// AgencyNotice is the payload of a settlement or cancellation message: the agency's own
// payments, and the bill's totals for context. Amounts are decimal strings.
type AgencyNotice struct {
	SettlementID  string          `json:"settlement_id"`
	RequestID     string          `json:"request_id"`
	InstitutionID string          `json:"institution_id"`
	PersonKey     string          `json:"person_key"`
	Person        PersonSummary   `json:"person"`
	SettleDate    string          `json:"settle_date"`
	MedType       string          `json:"med_type"`
	SettledAt     time.Time       `json:"settled_at"`
	CancelledAt   *time.Time      `json:"cancelled_at,omitempty"`
	Total         decimal.Decimal `json:"total"`
	PolicyScope   decimal.Decimal `json:"policy_scope"`
	Cash          decimal.Decimal `json:"cash"`
	Account       decimal.Decimal `json:"account,omitzero"`
	Payments      []FundPayment   `json:"payments"`
}

// Notices returns the messages a settlement (kind OutboxKindSettlement) or its cancellation
// (OutboxKindCancellation) sends, one per agency concerned, in Agencies order.
func Notices(st *Settlement, kind string, at time.Time) []OutboxMessage {
	byAgency := map[string][]FundPayment{}
	for _, p := range st.Payments {
		if a, ok := FundAgencies[p.Fund]; ok {
			byAgency[a] = append(byAgency[a], p)
		}
	}
	if st.Account.IsPositive() {
		a := FundAgencies[fundRoutePersonalAccount]
		if _, ok := byAgency[a]; !ok {
			byAgency[a] = nil
		}
	}
	var out []OutboxMessage
	for _, agency := range Agencies {
		payments, ok := byAgency[agency]
		if !ok {
			continue
		}
		n := AgencyNotice{
			SettlementID: st.ID, RequestID: st.RequestID, InstitutionID: st.InstitutionID, PersonKey: st.PersonKey,
			Person: st.Receipt.Person, SettleDate: st.Receipt.SettleDate.String(), MedType: st.Receipt.MedType,
			SettledAt: st.SettledAt, Total: st.Total, PolicyScope: st.PolicyScope, Cash: st.Cash,
			Payments: slices.Clip(payments),
		}
		if agency == FundAgencies[fundRoutePersonalAccount] {
			n.Account = st.Account
		}
		if agency != AgencyCivilAffairs {
			// Aid status is civil affairs' own record; the other agencies need not learn it.
			n.Person.Categories = nil
		}
		if kind == OutboxKindCancellation {
			t := at
			n.CancelledAt = &t
		}
		payload, _ := json.Marshal(n) // plain data: cannot fail
		out = append(out, OutboxMessage{
			ID: st.ID + "/" + kind, Agency: agency, Kind: kind, PersonKey: st.PersonKey,
			SettlementID: st.ID, InstitutionID: st.InstitutionID, CreatedAt: at, Payload: payload,
		})
	}
	return out
}

// Agency is one upstream system, reached through its adapter (adapters package): deadlines,
// retries and a circuit breaker are the adapter's business.
type Agency interface {
	// Post delivers a message. nil: the agency has it (now or from an earlier attempt).
	// A *RejectedError: the agency refused it for its content; retrying will not help.
	// Any other error: not delivered, or possibly delivered (a timeout); retry later with
	// the same message, which the agency receives idempotently.
	Post(ctx context.Context, m OutboxMessage) error
}

// RejectedError is an agency's refusal of a message for its content (HTTP 4xx but 429).
type RejectedError struct {
	Agency string
	Status int
	Reason string
}

func (e *RejectedError) Error() string {
	return "agency " + e.Agency + " rejected the message: " + e.Reason
}

// AlertMessage is the outbox message of a high-cost alert.
func AlertMessage(st *Settlement, a HighCostAlert, at time.Time) OutboxMessage {
	payload, _ := json.Marshal(struct {
		PersonKey     string          `json:"person_key"`
		Person        PersonSummary   `json:"person"`
		Year          int             `json:"year"`
		Threshold     decimal.Decimal `json:"threshold"`
		OutOfPocket   decimal.Decimal `json:"out_of_pocket"`
		AidHolder     bool            `json:"aid_holder"`
		SettlementID  string          `json:"settlement_id"`
		InstitutionID string          `json:"institution_id"`
	}{st.PersonKey, st.Receipt.Person, a.Year, a.Threshold, a.OutOfPocket, a.AidHolder, st.ID, st.InstitutionID})
	return OutboxMessage{
		ID: fmt.Sprintf("%s/%d/high-cost/%s", st.PersonKey, a.Year, a.Threshold.StringFixed(2)), Agency: AgencyCivilAffairs,
		Kind: OutboxKindHighCostAlert, PersonKey: st.PersonKey, SettlementID: st.ID, InstitutionID: st.InstitutionID,
		CreatedAt: at, Payload: payload,
	}
}

// OutboxStore is the outbox side of a ledger: what the dispatcher claims and settles.
type OutboxStore interface {
	// ClaimOutbox leases up to n due messages for lease: none whose agency has an earlier
	// undelivered message for the same person (delivery is in order per person and agency),
	// none leased by another dispatcher. A lease that runs out makes the row due again.
	ClaimOutbox(ctx context.Context, n int, lease time.Duration) ([]OutboxRow, error)
	// OutboxDelivered marks rows delivered.
	OutboxDelivered(ctx context.Context, ids ...int64) error
	// OutboxFailed records a failed attempt: due again at next, or dead when dead is true.
	OutboxFailed(ctx context.Context, id int64, next time.Time, reason string, dead bool) error
	// OutboxStats describes the queue.
	OutboxStats(ctx context.Context) (OutboxStats, error)
	// RetryDead makes every dead row due again, with its attempts reset; it returns how many.
	RetryDead(ctx context.Context) (int, error)
}

// OutboxRow is a claimed message and its delivery history.
type OutboxRow struct {
	Seq      int64 // the store's id: increasing in writing order
	Message  OutboxMessage
	Attempts int // including this one
}

// OutboxStats: Pending counts rows not yet delivered nor dead; OldestPending is the
// creation time of the oldest of them (zero when none).
type OutboxStats struct {
	Pending         int
	Dead            int
	Delivered       int // an estimate on Postgres (the table's row estimate less the others)
	OldestPending   time.Time
	PendingByAgency map[string]int
}
