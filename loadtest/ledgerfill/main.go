// Command ledgerfill gives a ledger a history: N past settlements (with a 400-byte receipt,
// two fund payments and two delivered outbox rows each, over 100,000 persons), written by
// Postgres itself with generate_series — millions in minutes, where settling them through
// the gateway would take hours. It is how the ledger-size figures of loadtest/REPORT.md
// were made: measure Settle on an empty ledger, fill, measure again.
//
//	go run ./loadtest/ledgerfill --postgres-url 'postgres://…/loadtest?sslmode=disable' --settlements 5000000
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"onestop/gateway/ledger"
)

//go:embed fill.sql
var fillSQL string

func main() {
	url := flag.String("postgres-url", os.Getenv("ONESTOP_POSTGRES_URL"), "Postgres URL of the ledger (migrated here if needed)")
	n := flag.Int("settlements", 1_000_000, "settlements to add")
	start := flag.Int("start", 1, "first bulk sequence number (use a new range to add more)")
	chunk := flag.Int("chunk", 500_000, "settlements per transaction")
	flag.Parse()
	if *url == "" {
		log.Fatal("--postgres-url is required")
	}
	ctx := context.Background()
	pool, err := ledger.Connect(ctx, *url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := ledger.Migrate(ctx, pool); err != nil {
		log.Fatal(err)
	}
	// fill.sql is written for psql (:start, :n); the same text runs here with the values in.
	body := fillSQL[strings.Index(fillSQL, "insert into settlement_requests"):]
	// The history's months get their partitions; without them it would all land in the
	// default partition.
	if _, err := pool.Exec(ctx, `select onestop_settlement_partitions('2026-01-01', 3)`); err != nil {
		log.Fatal(err)
	}
	t0 := time.Now()
	for done := 0; done < *n; done += *chunk {
		k := min(*chunk, *n-done)
		sql := strings.NewReplacer(":start", fmt.Sprint(*start+done), ":n", fmt.Sprint(k)).Replace(body)
		if _, err := pool.Exec(ctx, "begin; "+sql+" commit;"); err != nil {
			log.Fatalf("after %d settlements: %v", done, err)
		}
		fmt.Fprintf(os.Stderr, "%d/%d settlements (%s)\n", done+k, *n, time.Since(t0).Round(time.Second))
	}
	if _, err := pool.Exec(ctx, "analyze settlements; analyze fund_payments; analyze outbox; checkpoint"); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("added %d settlements in %s; analyzed and checkpointed\n", *n, time.Since(t0).Round(time.Second))
}
