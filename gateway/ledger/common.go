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
