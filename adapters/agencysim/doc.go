// Package agencysim is an HTTP server standing in for every upstream agency at once
// (gateway.Agencies), so that tests, load runs and onestop dev have somewhere to deliver
// outbox messages to, and something that can prove none was lost or doubled.
//
// Each agency is reached at {sim}/agencies/{agency}:
//
//	POST /v1/messages        an outbox message, received idempotently by its id:
//	                         201 {"status":"accepted"} the first time, 200 {"status":"duplicate"} after
//	POST /v1/persons/lookup  {"id_number"} or {"social_security_card"} → a cache.Line, or 404
//
// and the simulator itself at
//
//	GET  /report             per agency: received, accepted, duplicates, by_kind, rejected_faults
//	POST /report/missing     {"agency", "ids"} → {"missing", "unexpected"}
//	GET  /messages?agency=X  the accepted messages in arrival order (payload=true adds payloads)
//	POST /control            change an agency's faults at run time
//	GET  /healthz
//
// Faults are what make the simulator worth delivering to: latency (fixed, or log-normal
// given its p50 and p99), a random error rate, outage windows and flapping on the
// simulator's clock, a manual "down" switch, and "blackhole" to make every down period hang
// until the client gives up instead of answering 503. A request meeting a fault has no
// effect. A request that passes them takes effect first and waits out its latency after,
// as a slow agency that commits and then answers late does: a client whose deadline is
// shorter than the latency sees a timeout for a message that was delivered, and its retry
// must come back as a duplicate. That is the case the outbox's idempotency exists for.
//
// Randomness comes from Config.Seed, one stream per agency, and time from Config.Now, so
// a test can replay the same faults and walk through outage windows without sleeping.
package agencysim
