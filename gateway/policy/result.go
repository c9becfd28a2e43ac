package policy

import "github.com/shopspring/decimal"

// Result is one bill split: the figures of SPEC.md §5 plus what this bill adds to each
// accumulator and a trace that explains every figure. Every amount has two decimals.
type Result struct {
	Policy string // the ID of the policy that split the bill

	// Step 1 totals (SPEC.md §3).
	Total       decimal.Decimal // Σ line amounts
	Excluded    decimal.Decimal // class C within the ceiling (全自费)
	Overlimit   decimal.Decimal // above price ceilings (超限价自费)
	Preselfpay  decimal.Decimal // class B first self-pay (乙类先行自付)
	PolicyScope decimal.Decimal // within policy scope (符合政策范围金额)

	Funds    map[string]decimal.Decimal // fund id → what its pool stages paid; non-zero only
	Hospital decimal.Decimal            // borne by the institution (hospital_ceiling stages)
	Account  decimal.Decimal            // paid from the personal account
	Cash     decimal.Decimal            // what the patient pays at the counter

	AccumulatorsAfter Accumulators // the person's accumulators after this bill; non-zero only
	Deltas            Accumulators // what this bill added to each accumulator; non-zero only

	Trace []StageTrace // one entry per policy stage, in order, skipped stages included
}

// StageTrace explains what one stage did with the remaining burden. Its figures are Fen and
// Rate, not decimals: a trace has a dozen figures per stage, and a decimal each would be
// most of a split's allocations.
// SkippedFund is StageTrace.Skipped for a stage whose fund the visit may not draw on.
const SkippedFund = "fund not paid at this institution"

type StageTrace struct {
	Stage int // index in the policy's stages
	Fund  string
	Kind  StageKind
	// Skipped says why the stage paid nothing without running: "condition" (its when did not
	// match), "no pool" (none for the medical type), "no category" (no valid candidate),
	// SkippedFund (it matched, but its fund is in the visit's SkipFunds). Empty when it ran.
	Skipped string

	BurdenBefore Fen // R when the stage started
	Pay          Fen // what the stage paid (to its fund, the hospital or from the account)
	BurdenAfter  Fen // R when it ended

	// Pool stages.
	Pool             string
	Category         string        // the candidate category used ("" when the stage has none)
	Candidates       []Candidate   // every candidate evaluated, when the stage lists categories
	ThresholdKind    ThresholdKind // "" when the pool has no threshold
	Threshold        Fen           // the threshold at the visit's level
	ThresholdApplied Fen           // the part of R that went to the threshold on this bill
	Ratio            Rate          // after rules and clamping
	Capped           bool
	Cap              Fen // the annual cap when Capped
	CapRoom          Fen // what was left under the cap before this bill, when Capped
	Uncapped         Fen // round(eligible × ratio) before the cap

	// Hospital-ceiling stages.
	Limit Fen // round(max_share × policy_scope)

	// Account stages: what the account paid of each bucket, in cover order.
	Buckets []BucketPay
}

// Candidate is one medical-aid category a stage evaluated.
type Candidate struct {
	Category string
	Pay      Fen
}

// BucketPay is what an account stage paid of one bucket.
type BucketPay struct {
	Bucket Bucket
	Amount Fen
}

// FundTotal sums the pay of the funds in the result.
func (r *Result) FundTotal() decimal.Decimal {
	sum := decimal.Zero
	for _, v := range r.Funds {
		sum = sum.Add(v)
	}
	return sum
}
