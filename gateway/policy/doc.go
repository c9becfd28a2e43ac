// Package policy splits one bill across the funds a person is entitled to, exactly as
// SPEC.md (testdata/policy/SPEC.md in this repository) states: step 1 classifies each line,
// step 2 runs the policy's stages in order — pools with thresholds, ratios and caps,
// medical-aid categories chosen "就高", the hospital's ceiling and the personal account.
//
// The package is pure: Split reads only its arguments and never mutates them, and the only
// I/O is reading policy files (Load, LoadDir). Amounts cross the API as decimal.Decimal;
// inside, the engine counts whole fen in int64 with overflow checks, which is exact for
// every figure SPEC.md defines (see money.go for why and how).
package policy
