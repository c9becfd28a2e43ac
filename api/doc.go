// Package api serves the onestop.v1 gRPC services (api/onestop/v1) on top of
// gateway.Service: it turns protos into gateway requests and back, authenticates terminals
// from their bearer token, and turns every *gateway.Error into a gRPC status carrying a
// google.rpc.ErrorInfo (reason, field) — the one place where errors become wire errors.
package api
