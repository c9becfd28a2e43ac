// Package floor is the least a settlement can cost on this hardware: a gRPC server of the
// same onestop.v1.SettlementService whose Settle does one gRPC round trip, one Redis GET of
// a snapshot-sized value, and one durable Postgres commit of what the gateway's Settle
// writes — the same tables, statements and row sizes as gateway/ledger's insertBatch, sent
// as a single pipelined batch with begin and commit inside. There is no policy, no
// validation beyond what the statements need, no idempotency lookup, no authentication and
// no interceptor. PreSettle is the Redis GET alone; the other RPCs are Unimplemented.
//
// The gateway's figures (loadtest.BenchmarkSettle) are read against this one's
// (BenchmarkFloor): what the gateway spends above the floor is what its own work costs;
// what the floor itself spends is the machine's.
//
// The settlement written is the loadtest bench's bill as the gateway stores it (4 lines
// under the Changzhou-like demo policy for a dibao recipient): a ~1.6 KB JSON receipt,
// 2 fund payments, 3 deltas and accumulator upserts, and 2 outbox rows of ~640-byte JSON
// payloads, measured from a real settlement rather than guessed.
//
//	go run ./loadtest/floor/cmd --grpc-addr 127.0.0.1:9190 \
//	  --postgres-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=floor' \
//	  --redis redis://127.0.0.1:6379/0
package floor
