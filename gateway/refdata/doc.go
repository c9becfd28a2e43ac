// Package refdata loads the reference data a gateway reads at start-up — institutions with
// their terminals (YAML) and the item catalogs of the treatment regions (CSV) — into the
// in-memory gateway.Directory and gateway.Catalog.
package refdata
