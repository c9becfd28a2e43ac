package api

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// LatencyBuckets of grpc_server_handling_seconds: a settle served from the in-process
// eligibility tier takes about a millisecond, one that waits on Redis, Postgres or an
// agency's fallback lookup up to seconds; both ends must resolve for the p50 and p99.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// metricsOption carries the gRPC server metrics to NewServer, which must place their
// interceptor inside its own chain (see WithMetrics); embedding EmptyServerOption is gRPC's
// documented way of making a custom ServerOption, so the option does nothing to the server.
type metricsOption struct {
	grpc.EmptyServerOption
	m *grpcprom.ServerMetrics
}

// WithMetrics counts every call by method and code, with its latency
// (grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds),
// registered on reg. Pass it to NewServer: its interceptor runs right inside the access log,
// outside recovery and status conversion, so it sees the code the terminal sees, panics
// and refused credentials included.
func WithMetrics(reg prometheus.Registerer) grpc.ServerOption {
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(LatencyBuckets)))
	reg.MustRegister(m)
	return metricsOption{m: m}
}
