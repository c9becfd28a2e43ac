// Package ledger implements gateway.Ledger twice: on Postgres (pgx), for serve, and as an
// embedded journal, for onestop dev. One conformance suite (conformance_test.go) runs
// against both, so they cannot drift apart.
package ledger
