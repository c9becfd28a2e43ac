// Package loadtest measures the gateway as a terminal sees it: gRPC over loopback TCP to a
// real server on Postgres. BenchmarkSettle and BenchmarkPreSettle report throughput and
// latency percentiles at several concurrencies; REPORT.md records a run.
package loadtest
