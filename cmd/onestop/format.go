package main

import "github.com/shopspring/decimal"

func money(d decimal.Decimal) string { return d.StringFixed(2) }
