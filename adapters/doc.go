// Package adapters holds one HTTP/JSON client per upstream agency (the insurance bureau,
// civil affairs, the trade union, the Red Cross, the commercial insurer) behind the
// gateway.Agency port. A Client owns what talking to an unreliable system needs and the
// gateway must not care about: a deadline per attempt, a few retries with jittered
// backoff, and a circuit breaker so that an agency that is down costs a fast error
// instead of a pile of goroutines and connections waiting on it.
//
// Wire protocol, relative to the agency's base URL:
//
//	POST /v1/messages        {"id", "agency", "kind", "person_key", "settlement_id",
//	                          "institution_id", "created_at", "payload"}, Idempotency-Key: id
//	                         200/201 {"status": "accepted"|"duplicate"}: delivered
//	POST /v1/persons/lookup  {"id_number"} or {"social_security_card"}
//	                         200 one cache.Line; 404: ErrPersonNotFound
//
// Any other 4xx but 408 and 429 is the agency refusing the request for its content: a
// *gateway.RejectedError, neither retried nor held against the agency. 408, 429, 5xx,
// connection failures and timeouts mean the agency is unavailable: retried within the
// call, and counted by the breaker.
//
// Nothing here logs ID numbers, card numbers, payloads or rejection reasons (an agency
// may echo the request in them).
package adapters
