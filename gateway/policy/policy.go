package policy

// Policy is one insured region's rules for one year, loaded from a policy file (SPEC.md §4)
// and validated. It is immutable after Load and safe to share between goroutines.
type Policy struct {
	Region          string // the insured region's code, e.g. "320400"
	Name            string
	Year            int
	PreselfpayRatio ratio // share of a class-B line the patient pays first (乙类先行自付)
	Stages          []Stage
	File            string // where it was loaded from
	ID              string // the file name without ".yaml": what case files call it
	Version         string // of the file's content (sha256, 16 hex digits): which text a settlement used

	keys []string // every accumulator key a stage touches; slot i of a split's state is keys[i]
}

// StageKind says how a stage pays (SPEC.md §4.2, §4.4, §4.5).
type StageKind string

const (
	KindPool            StageKind = "pool"
	KindHospitalCeiling StageKind = "hospital_ceiling"
	KindAccount         StageKind = "account"
)

// Stage is one step of the split, run in policy order.
type Stage struct {
	Fund       string
	Kind       StageKind
	When       Condition
	Pools      []Pool   // KindPool
	Categories []string // KindPool, optional: evaluate once per held category, take the best (就高)
	MaxShare   ratio    // KindHospitalCeiling
	Covers     []Bucket // KindAccount, in the order the account pays them
}

// Bucket is what a personal-account stage may pay (SPEC.md §4.5).
type Bucket string

const (
	BucketBurden     Bucket = "burden"
	BucketPreselfpay Bucket = "preselfpay"
	BucketOverlimit  Bucket = "overlimit"
	BucketExcluded   Bucket = "excluded"
)

// Pool is one of a pool stage's parameter sets, chosen by medical type.
type Pool struct {
	Name      string
	MedTypes  []string
	Threshold Threshold
	Ratio     byLevel[ratio]
	Cap       Cap
	Rules     []Rule

	paidSlot, thresholdSlot int // indexes into Policy.keys
}

// ThresholdKind is how a threshold counts (SPEC.md §4.2).
type ThresholdKind string

const (
	Annual   ThresholdKind = "annual"    // cumulative over the year, credited to an accumulator
	PerVisit ThresholdKind = "per_visit" // paid again on every visit
)

// Threshold is the deductible (起付线) of a pool.
type Threshold struct {
	Kind   ThresholdKind
	Amount byLevel[fen]
}

// Cap is a pool's annual maximum (最高支付限额); a zero Cap is uncapped.
type Cap struct {
	Set    bool
	Amount fen
}

// Rule adjusts a pool's parameters when its condition matches (SPEC.md §4.2).
type Rule struct {
	When       Condition
	Threshold  *Threshold
	Ratio      *byLevel[ratio]
	RatioDelta *ratio
	Cap        *Cap // &Cap{} means "cap: none"
}

// byLevel is a value that is either one figure or one per institution level.
type byLevel[T any] struct {
	ByLevel bool
	Value   T    // when !ByLevel
	Levels  [3]T // levels 1, 2, 3 when ByLevel
}

func flat[T any](v T) byLevel[T] { return byLevel[T]{Value: v} }

// at reads the value for an institution level.
func (b byLevel[T]) at(level int) (T, bool) {
	if !b.ByLevel {
		return b.Value, true
	}
	if level < 1 || level > 3 {
		var zero T
		return zero, false
	}
	return b.Levels[level-1], true
}

// Condition is a stage's or rule's `when` (SPEC.md §4.1): every part that is set must match.
type Condition struct {
	Schemes     []string
	Statuses    []string
	MedTypes    []string
	Levels      []int
	Referred    *bool
	CrossRegion *bool
	Filed       *bool
	InCounty    *bool
	Flags       []string
	Categories  []string
}
