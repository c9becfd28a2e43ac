package ledger_test

import (
	"context"
	"reflect"
	"testing"

	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/ledger/ledgertest"
)

// TestPartitionMigrationKeepsAnExistingLedger: migration 006 moves an existing ledger's
// settlements into monthly partitions (down to 5 and up again moves them out and back in),
// and afterwards every settlement reads the same, its cancellation included, a retried
// request is still a replay, new settlements land in a month's partition and the default
// partition stays empty.
func TestPartitionMigrationKeepsAnExistingLedger(t *testing.T) {
	ctx := context.Background()
	pool := ledgertest.Pool(t, 0)
	l := ledger.NewPostgres(pool)
	a := mustSettle(t, l, "H1", "r1", "p1", "30.00")
	b := mustSettle(t, l, "H1", "r2", "p2", "45.50")
	if _, _, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c1", SettlementID: b.ID, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	before := map[string]*gateway.Settlement{}
	for _, id := range []string{a.ID, b.ID} {
		st, err := l.Get(ctx, "H1", id)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = st
	}

	if err := ledger.MigrateTo(ctx, pool, 5); err != nil {
		t.Fatalf("down to 5: %v", err)
	}
	var partitioned bool
	if err := pool.QueryRow(ctx, `select relkind = 'p' from pg_class where oid = 'settlements'::regclass`).Scan(&partitioned); err != nil || partitioned {
		t.Fatalf("after the down migration settlements is partitioned: %v %v", partitioned, err)
	}
	if err := ledger.Migrate(ctx, pool); err != nil {
		t.Fatalf("up again: %v", err)
	}
	var parts, inDefault, requests int
	if err := pool.QueryRow(ctx, `select (select count(*) from pg_inherits where inhparent = 'settlements'::regclass),
		(select count(*) from settlements_default), (select count(*) from settlement_requests)`).Scan(&parts, &inDefault, &requests); err != nil {
		t.Fatal(err)
	}
	if parts < 5 || inDefault != 0 || requests != 2 {
		t.Fatalf("partitions %d (want this month, 3 ahead and the default), rows in the default %d, requests %d", parts, inDefault, requests)
	}
	for id, want := range before {
		got, err := l.Get(ctx, "H1", id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("settlement %s after the migrations:\n got  %+v\n want %+v", id, got, want)
		}
	}
	key, split := capSplit("H1", "r1", "p1", "30.00")
	if _, replayed, err := l.Settle(ctx, key, split); err != nil || !replayed {
		t.Fatalf("a retried request after the migration: replayed %v, %v", replayed, err)
	}
	c := mustSettle(t, l, "H1", "r3", "p1", "12.00")
	var partition string
	if err := pool.QueryRow(ctx, `select tableoid::regclass::text from settlements where id = $1`, c.ID).Scan(&partition); err != nil {
		t.Fatal(err)
	}
	if want := "settlements_" + c.SettledAt.UTC().Format("2006_01"); partition != want {
		t.Errorf("a new settlement is in %s, want %s", partition, want)
	}
	if _, _, err := l.Cancel(ctx, gateway.CancelKey{InstitutionID: "H1", RequestID: "c3", SettlementID: c.ID}); err != nil {
		t.Fatalf("cancel in a partition: %v", err)
	}
}
