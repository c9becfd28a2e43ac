package ledger

import (
	"cmp"
	"slices"
	"time"

	"onestop/gateway"
)

// now is the time a settlement or cancellation is stored: UTC, truncated to the microsecond
// Postgres keeps, so a stored record reads back equal to the one returned.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// clock is the time a ledger stores settlements and cancellations at: the wall clock unless
// set, as tests set it to write a history of past months for the statements.
type clock struct{ f func() time.Time }

func (c *clock) now() time.Time {
	if c.f == nil {
		return now()
	}
	return c.f().UTC().Truncate(time.Microsecond)
}

func notFound(id string) error {
	return gateway.Errorf(gateway.ErrSettlementNotFound, "settlement_id", "no settlement %q", id)
}

func wrongInstitution() error {
	return &gateway.Error{Kind: gateway.KindPermissionDenied, Reason: gateway.ReasonWrongInstitution, Field: "institution_id",
		Message: "the settlement belongs to another institution"}
}

func sortRows(rows []gateway.OutboxRow) {
	slices.SortFunc(rows, func(a, b gateway.OutboxRow) int { return cmp.Compare(a.Seq, b.Seq) })
}
