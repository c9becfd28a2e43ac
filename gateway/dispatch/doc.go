// Package dispatch delivers the ledger's outbox to the agencies: it claims due messages
// (any number of gateways may run it on one outbox), posts each through its agency's
// adapter, and records the outcome — delivered, due again after a backoff, or dead-lettered
// after too many attempts or an agency's rejection. Nothing here blocks a settlement: the
// outbox row was committed with it, and delivery happens after.
package dispatch
