// Package cache holds the eligibility snapshot: who is insured, under which scheme, with
// which aid categories, flags, account balance, chronic registrations and cross-region
// filings. It reads the snapshot's JSON Lines format and serves gateway.Eligibility from
// memory; persons are keyed by a keyed hash (HMAC) of their ID number, and names and ID
// numbers are kept only masked.
package cache
