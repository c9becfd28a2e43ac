// Package ledgertest gives tests a migrated Postgres ledger of their own: a fresh schema on
// the server ONESTOP_TEST_POSTGRES_URL names, dropped when the test ends. Without the
// variable the test is skipped, except under CI=true, where it fails: integration tests
// never skip silently in CI.
package ledgertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"onestop/gateway/ledger"
)

// PostgresURL returns the test server's URL, skipping or failing the test without one.
func PostgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("ONESTOP_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("ONESTOP_TEST_POSTGRES_URL is not set, and CI=true: integration tests must run")
		}
		t.Skip("ONESTOP_TEST_POSTGRES_URL is not set")
	}
	return url
}

// Pool creates a schema of the test's own, migrates it, and returns a pool whose
// connections use it. maxConns 0 keeps pgx's default.
func Pool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	url := PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := ledger.Connect(ctx, url, nil)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		if os.Getenv("CI") != "true" {
			t.Skipf("postgres at ONESTOP_TEST_POSTGRES_URL is unreachable: %v", err)
		}
		t.Fatalf("postgres at ONESTOP_TEST_POSTGRES_URL is unreachable (CI=true): %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "create schema "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "drop schema "+schema+" cascade"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	pool := connect(t, ctx, url, schema, maxConns)
	if err := ledger.Migrate(ctx, pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// SamePool opens another pool on the schema of a pool from Pool: a second gateway instance
// on the same database.
func SamePool(t testing.TB, first *pgxpool.Pool, maxConns int32) *pgxpool.Pool {
	t.Helper()
	schema := first.Config().ConnConfig.RuntimeParams["search_path"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return connect(t, ctx, PostgresURL(t), schema, maxConns)
}

// connect opens a pool whose connections use schema, closed when the test ends.
func connect(t testing.TB, ctx context.Context, url, schema string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pool, err := ledger.Connect(ctx, url, func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["search_path"] = schema
		if maxConns > 0 {
			c.MaxConns = maxConns
		}
	})
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// SchemaURL is the test server's URL with its search_path set to schema: for code under test
// that connects by URL (onestop serve, migrate, the floor) to a test's own schema.
func SchemaURL(t testing.TB, schema string) string {
	t.Helper()
	u, err := url.Parse(PostgresURL(t))
	if err != nil {
		t.Fatalf("ONESTOP_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
