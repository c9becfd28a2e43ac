// Package loadgen makes the data a load test runs on and, in run*.go, drives it. Generate
// writes one self-consistent world — a region-320400 snapshot, three institutions with
// plain terminal tokens, a catalog, the demo policies — and a file of bill templates that
// all settle against it, so a load test measures the gateway rather than its refusals.
// The k6 scripts under loadtest/k6 and the Go runner send the same bills.json.
package loadgen
