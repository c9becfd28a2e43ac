// Package gateway is onestop's domain: the settle pipeline (settle.go, to be read top to
// bottom), the types a settlement is made of, the ports the pipeline needs (Ledger,
// Eligibility, Catalog, Directory) and the one error vocabulary (errors.go).
//
// Technology lives elsewhere: gateway/ledger stores settlements, cache holds eligibility,
// api speaks gRPC, cmd wires them together.
package gateway
