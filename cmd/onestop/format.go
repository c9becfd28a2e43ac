package main

import (
	"slices"

	"github.com/shopspring/decimal"

	"onestop/gateway/policy"
)

func money(d decimal.Decimal) string { return d.StringFixed(2) }

func sortedFunds(r *policy.Result) []string {
	funds := make([]string, 0, len(r.Funds))
	for f := range r.Funds {
		funds = append(funds, f)
	}
	slices.Sort(funds)
	return funds
}
