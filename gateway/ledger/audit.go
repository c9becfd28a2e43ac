package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

// The audit (onestop audit) re-checks a ledger's invariants from its stored facts. Each rule
// has a stable check name, which operators and scripts match on:
const (
	// CheckSum: Σ fund payments = fund_total, and fund_total + hospital + account + cash = total.
	CheckSum = "sum"
	// CheckNegative: an amount below zero: a settlement's parts, a payment (or the threshold it
	// applied), a delta, an accumulator. Split never produces one.
	CheckNegative = "negative"
	// CheckDelta: a settlement's "<fund>.<pool>.paid" deltas differ from its payments to that
	// pool, or its personal.out_of_pocket delta from its cash + account: the accumulators are
	// sums of deltas, so a delta that disagrees with the money makes every accumulator built on
	// it (and the caps and high-cost alerts read from them) wrong.
	CheckDelta = "delta"
	// CheckCancellation: a settlement marked cancelled without its cancellation record, or the
	// other way round, or the two disagreeing on the time or the institution.
	CheckCancellation = "cancellation"
	// CheckAccumulator: an accumulator differs from the sum of the deltas of the person-year's
	// settlements that are not cancelled (a missing row on either side counts as 0).
	CheckAccumulator = "accumulator"
	// CheckCap: a "<fund>.<pool>.paid" accumulator above the pool's cap (see capBound).
	CheckCap = "cap"
	// CheckOutboxMissing: a settlement, cancellation or high-cost alert without the outbox row
	// of an agency it must tell.
	CheckOutboxMissing = "outbox_missing"
	// CheckOutboxUnexpected: an outbox row nothing in the ledger calls for.
	CheckOutboxUnexpected = "outbox_unexpected"
	// CheckOutboxMismatch: an outbox row (delivered or not) whose message differs from what was
	// settled: ids, amounts, the payments routed to its agency, times.
	CheckOutboxMismatch = "outbox_mismatch"
)

// Violation is one broken invariant. Subject names what is broken: a settlement id;
// "<person key>/<year>/<accumulator key>"; or "<agency>:<message id>" for the outbox.
type Violation struct {
	Check   string `json:"check"`
	Subject string `json:"subject"`
	Detail  string `json:"detail"`
}

// AuditStats says how much an audit read, and what it found.
type AuditStats struct {
	Settlements   int `json:"settlements"`
	Cancellations int `json:"cancellations"`
	PersonYears   int `json:"person_years"`
	Accumulators  int `json:"accumulators"`
	OutboxRows    int `json:"outbox_rows"`
	// CapsUnchecked counts paid accumulators whose cap could not be known because a settlement
	// that paid into them names a policy (or a pool) the policy set does not hold: they are
	// not reported as violations, but they were not checked either.
	CapsUnchecked int            `json:"caps_unchecked"`
	Violations    map[string]int `json:"violations"` // by check
}

func (s *AuditStats) report(fn func(Violation) error, v Violation) error {
	s.Violations[v.Check]++
	return fn(v)
}

func pyk(person string, year int, key string) string {
	return fmt.Sprintf("%s/%d/%s", person, year, key)
}

func outboxSubject(agency, messageID string) string { return agency + ":" + messageID }

const paidSuffix = ".paid"

// ---- Caps ----
//
// A pool's cap for one bill is its base cap changed by the pool's rules that match the bill
// (policy.Split: the last matching rule that sets a cap wins; "cap: none" uncaps). Split pays
// at most the room left under that bill's cap, so after any bill the accumulator is at most
// the cap of the latest live settlement that paid into it, hence at most the largest cap among
// the live settlements that paid into it: that largest cap is the bound the audit holds a
// "<fund>.<pool>.paid" accumulator to. (Bills of one year may see different caps, e.g. when a
// category's validity ends mid-year, so no single cap is right for every person-year.)
//
// The ledger does not keep everything a rule may test. Known: the policy (receipt), the
// medical type, the person's scheme and status, the aid categories valid for the visit
// (receipt, when recorded) and the category a category stage paid under (the payment). Not
// kept: the institution's level, referral, cross-region, filing, in-county, flags; and an
// empty category list is read as not recorded, since receipts stored before categories were
// recorded have none, and so does a person holding no category. A rule
// testing something unknown may or may not have matched, and the audit then takes the most
// generous of the caps it could have produced, so it never reports a bill that was right;
// it may miss an overpayment only where a rule that could have raised (or lifted) the cap
// depends on what was not kept.

// capBound is a cap; Capped false means no cap.
type capBound struct {
	Capped bool
	Amount decimal.Decimal
}

func (c capBound) String() string {
	if !c.Capped {
		return "none"
	}
	return c.Amount.StringFixed(2)
}

// moreGenerous reports whether a allows more than b.
func moreGenerous(a, b capBound) bool {
	switch {
	case !b.Capped:
		return false
	case !a.Capped:
		return true
	}
	return a.Amount.GreaterThan(b.Amount)
}

// capFacts is what the ledger knows of one settlement for resolving a pool's cap.
type capFacts struct {
	Policy     string
	MedType    string   // "": unknown
	Scheme     string   // "": unknown
	Status     string   // "": unknown
	Categories []string // aid categories valid for the visit; empty: not recorded (unknown)
	Chosen     []string // the categories the pool paid under (category stages); empty: unknown
}

type tri int8

const (
	no tri = iota
	maybe
	yes
)

func among(v string, set []string) tri {
	if v == "" {
		return maybe
	}
	if slices.Contains(set, v) {
		return yes
	}
	return no
}

// anyOf: yes when every known value is in set, no when none is, maybe otherwise.
func anyOf(values, set []string) tri {
	if len(values) == 0 {
		return maybe
	}
	in := 0
	for _, v := range values {
		if slices.Contains(set, v) {
			in++
		}
	}
	switch in {
	case len(values):
		return yes
	case 0:
		return no
	}
	return maybe
}

// matches evaluates a rule's condition on what is known, as policy.Split's matcher does.
func (f *capFacts) matches(c *policy.Condition, hasCandidate bool) tri {
	out := yes
	and := func(t tri) { out = min(out, t) }
	if c.Schemes != nil {
		and(among(f.Scheme, c.Schemes))
	}
	if c.Statuses != nil {
		and(among(f.Status, c.Statuses))
	}
	if c.MedTypes != nil {
		and(among(f.MedType, c.MedTypes))
	}
	if c.Levels != nil || c.Referred != nil || c.CrossRegion != nil || c.Filed != nil || c.InCounty != nil || c.Flags != nil {
		and(maybe) // not kept in the ledger
	}
	if c.Categories != nil {
		if hasCandidate {
			and(anyOf(f.Chosen, c.Categories))
		} else if len(f.Categories) == 0 {
			and(maybe)
		} else if slices.ContainsFunc(f.Categories, func(code string) bool { return slices.Contains(c.Categories, code) }) {
			and(yes)
		} else {
			and(no)
		}
	}
	return out
}

// poolCaps lists every cap the pool's rules could give a bill with these facts.
func poolCaps(pool *policy.Pool, hasCandidate bool, f *capFacts) []capBound {
	toBound := func(c policy.Cap) capBound { return capBound{Capped: c.Set, Amount: c.Amount.Decimal()} }
	possible := []capBound{toBound(pool.Cap)}
	for i := range pool.Rules {
		r := &pool.Rules[i]
		if r.Cap == nil {
			continue
		}
		switch f.matches(&r.When, hasCandidate) {
		case yes:
			possible = []capBound{toBound(*r.Cap)}
		case maybe:
			possible = append(possible, toBound(*r.Cap))
		}
	}
	return possible
}

// pools calls fn with every pool of p whose paid accumulator is key and that serves medType
// ("" = any); when none serves medType, with every pool of key.
func pools(p *policy.Policy, key, medType string, fn func(*policy.Pool, bool)) {
	found := false
	for pass := 0; pass < 2 && !found; pass++ {
		for si := range p.Stages {
			st := &p.Stages[si]
			if st.Kind != policy.KindPool {
				continue
			}
			for pi := range st.Pools {
				pool := &st.Pools[pi]
				if st.Fund+"."+pool.Name+paidSuffix != key {
					continue
				}
				if pass == 0 && medType != "" && !slices.Contains(pool.MedTypes, medType) {
					continue
				}
				found = true
				fn(pool, len(st.Categories) > 0)
			}
		}
	}
}

// settlementCap is the most generous cap key could have had for one settlement; ok is false
// when the policy set does not hold its policy or pool.
func settlementCap(set *policy.Set, key string, f *capFacts) (capBound, bool) {
	if set == nil {
		return capBound{}, false
	}
	p, ok := set.ByID(f.Policy)
	if !ok {
		return capBound{}, false
	}
	var best capBound
	found := false
	pools(p, key, f.MedType, func(pool *policy.Pool, hasCandidate bool) {
		for _, c := range poolCaps(pool, hasCandidate, f) {
			if !found || moreGenerous(c, best) {
				best, found = c, true
			}
		}
	})
	return best, found
}

// leastCaps is, for every policy of the set and every paid key, the least generous cap any bill
// could have had ("" when every bill is uncapped): an accumulator at most this is within its
// cap whatever the bill, which spares the Postgres audit reading the settlements of almost
// every accumulator.
func leastCaps(set *policy.Set) (ids, keys, caps []string) {
	if set == nil {
		return nil, nil, nil
	}
	for _, p := range set.All() {
		least := map[string]capBound{}
		for si := range p.Stages {
			st := &p.Stages[si]
			if st.Kind != policy.KindPool {
				continue
			}
			for pi := range st.Pools {
				pool := &st.Pools[pi]
				key := st.Fund + "." + pool.Name + paidSuffix
				for _, c := range poolCaps(pool, len(st.Categories) > 0, &capFacts{}) {
					if prev, ok := least[key]; !ok || moreGenerous(prev, c) {
						least[key] = c
					}
				}
			}
		}
		for _, key := range slices.Sorted(maps.Keys(least)) {
			c := least[key]
			ids, keys = append(ids, p.ID), append(keys, key)
			if c.Capped {
				caps = append(caps, c.Amount.StringFixed(2))
			} else {
				caps = append(caps, "")
			}
		}
	}
	return ids, keys, caps
}

// capCheck bounds one accumulator by the caps of the live settlements that paid into it.
type capCheck struct {
	set      *policy.Set
	bound    capBound
	found    bool
	unknown  bool
	policies []string
}

func (c *capCheck) add(key string, f *capFacts) {
	b, ok := settlementCap(c.set, key, f)
	if !ok {
		c.unknown = true
		return
	}
	if !slices.Contains(c.policies, f.Policy) {
		c.policies = append(c.policies, f.Policy)
	}
	if !c.found || moreGenerous(b, c.bound) {
		c.bound, c.found = b, true
	}
}

// finish reports the accumulator when it is over its bound; an accumulator that a settlement
// of an unknown policy paid into counts as unchecked instead.
func (c *capCheck) finish(stats *AuditStats, fn func(Violation) error, subject string, amount decimal.Decimal) error {
	switch {
	case c.found && (!c.bound.Capped || !amount.GreaterThan(c.bound.Amount)):
		return nil
	case c.unknown:
		stats.CapsUnchecked++
		return nil
	case c.found:
		return stats.report(fn, Violation{CheckCap, subject, fmt.Sprintf("paid %s is over the cap %s (policy %s)",
			amount.StringFixed(2), c.bound, strings.Join(c.policies, ", "))})
	}
	return nil
}

// ---- Outbox routing ----

// routes asks gateway.Notices where a payment of each fund, and the personal account, are
// reported, so the Postgres audit routes exactly as settling does rather than by a copy of
// its rules.
func routes() (funds, agencies []string, account string) {
	for _, fund := range slices.Sorted(maps.Keys(gateway.FundAgencies)) {
		msgs := gateway.Notices(&gateway.Settlement{Payments: []gateway.FundPayment{{Fund: fund}}}, gateway.OutboxKindSettlement, time.Time{})
		for _, m := range msgs {
			funds, agencies = append(funds, fund), append(agencies, m.Agency)
		}
	}
	if msgs := gateway.Notices(&gateway.Settlement{Account: decimal.New(1, 0)}, gateway.OutboxKindSettlement, time.Time{}); len(msgs) > 0 {
		account = msgs[0].Agency
	}
	return funds, agencies, account
}

// ---- Postgres ----

// Audit checks the whole ledger in one read-only REPEATABLE READ transaction, so every
// check sees one snapshot while gateways keep settling. The checks run in SQL over whole
// tables (hash joins and aggregates, no per-settlement round trips) and only violations,
// and the few accumulators whose cap needs a closer look, come back; fn is called with each
// violation as it arrives, and an error from it stops the audit. policies resolve the caps
// (nil: caps are not checked, and counted in CapsUnchecked).
//
// The snapshot is held for the whole audit, and Postgres keeps every row version it might
// need until then: on a busy ledger, run it off-peak or on a replica (read-only is enough).
func (l *Postgres) Audit(ctx context.Context, policies *policy.Set, fn func(Violation) error) (AuditStats, error) {
	stats := AuditStats{Violations: map[string]int{}}
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return stats, unavailable(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only: nothing to keep

	err = tx.QueryRow(ctx, `select
			(select count(*) from settlements),
			(select count(*) from cancellations),
			(select count(*) from (select person_key, year from settlements union select person_key, year from accumulators) py),
			(select count(*) from accumulators),
			(select count(*) from outbox)`).
		Scan(&stats.Settlements, &stats.Cancellations, &stats.PersonYears, &stats.Accumulators, &stats.OutboxRows)
	if err != nil {
		return stats, unavailable(err)
	}
	a := &pgAudit{tx: tx, stats: &stats, fn: fn}
	for _, check := range []func(context.Context) error{
		a.negative, a.sum, a.delta, a.cancellation, a.accumulator,
		func(ctx context.Context) error { return a.caps(ctx, policies) },
		a.outbox, a.alerts,
	} {
		if err := check(ctx); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

type pgAudit struct {
	tx    pgx.Tx
	stats *AuditStats
	fn    func(Violation) error
}

// violations runs a query whose rows are (check, subject, detail).
func (a *pgAudit) violations(ctx context.Context, sql string, args ...any) error {
	rows, err := a.tx.Query(ctx, sql, args...)
	if err != nil {
		return unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v Violation
		if err := rows.Scan(&v.Check, &v.Subject, &v.Detail); err != nil {
			return unavailable(err)
		}
		if err := a.stats.report(a.fn, v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (a *pgAudit) negative(ctx context.Context) error {
	return a.violations(ctx, `
		select 'negative', s.id::text, v.col || ' ' || v.amount
		from settlements s cross join lateral (values ('total', s.total), ('policy_scope', s.policy_scope),
			('fund_total', s.fund_total), ('hospital', s.hospital), ('account', s.account), ('cash', s.cash)) as v(col, amount)
		where least(s.total, s.policy_scope, s.fund_total, s.hospital, s.account, s.cash) < 0 and v.amount < 0
		union all
		select 'negative', p.settlement_id::text, format('payment %s (%s.%s) %s %s', p.seq, p.fund, p.pool, v.col, v.amount)
		from fund_payments p cross join lateral (values ('amount', p.amount), ('threshold_applied', p.threshold_applied)) as v(col, amount)
		where least(p.amount, p.threshold_applied) < 0 and v.amount < 0
		union all
		select 'negative', d.settlement_id::text, format('delta %s %s', d.key, d.amount)
		from settlement_deltas d where d.amount < 0
		union all
		select 'negative', a.person_key || '/' || a.year || '/' || a.key, format('accumulator %s', a.amount)
		from accumulators a where a.amount < 0
		order by 2, 3`)
}

func (a *pgAudit) sum(ctx context.Context) error {
	return a.violations(ctx, `
		select 'sum', s.id::text, concat_ws('; ',
			case when coalesce(p.amount, 0) <> s.fund_total then format('fund payments %s, fund_total %s', coalesce(p.amount, 0), s.fund_total) end,
			case when s.fund_total + s.hospital + s.account + s.cash <> s.total then
				format('fund_total %s + hospital %s + account %s + cash %s = %s, total %s',
					s.fund_total, s.hospital, s.account, s.cash, s.fund_total + s.hospital + s.account + s.cash, s.total) end)
		from settlements s
		left join (select settlement_id, sum(amount) as amount from fund_payments group by settlement_id) p on p.settlement_id = s.id
		where coalesce(p.amount, 0) <> s.fund_total or s.fund_total + s.hospital + s.account + s.cash <> s.total
		order by 2`)
}

func (a *pgAudit) delta(ctx context.Context) error {
	return a.violations(ctx, `
		with paid as (
			select settlement_id, fund || '.' || pool || '.paid' as key, sum(amount) as amount
			from fund_payments group by 1, 2),
		d as (select settlement_id, key, amount from settlement_deltas where key like '%.paid')
		select 'delta', coalesce(p.settlement_id, d.settlement_id)::text,
			format('delta %s %s, payments %s', coalesce(p.key, d.key), coalesce(d.amount, 0), coalesce(p.amount, 0))
		from paid p full join d on d.settlement_id = p.settlement_id and d.key = p.key
		where coalesce(p.amount, 0) <> coalesce(d.amount, 0)
		union all
		select 'delta', s.id::text, format('delta %s %s, cash + account %s', $1::text, coalesce(d.amount, 0), s.cash + s.account)
		from settlements s left join settlement_deltas d on d.settlement_id = s.id and d.key = $1
		where coalesce(d.amount, 0) <> s.cash + s.account
		order by 2, 3`, gateway.OutOfPocketKey)
}

func (a *pgAudit) cancellation(ctx context.Context) error {
	return a.violations(ctx, `
		select 'cancellation', s.id::text, case
			when c.settlement_id is null then format('marked cancelled at %s without a cancellation record', s.cancelled_at)
			when s.cancelled_at is null then format('cancellation record of %s, but the settlement is not marked cancelled', c.cancelled_at)
			when c.institution_id <> s.institution_id then format('cancelled by institution %s, settled by %s', c.institution_id, s.institution_id)
			else format('marked cancelled at %s, cancellation record of %s', s.cancelled_at, c.cancelled_at) end
		from settlements s left join cancellations c on c.settlement_id = s.id
		where s.cancelled_at is distinct from c.cancelled_at or c.institution_id <> s.institution_id
		order by 2`)
}

func (a *pgAudit) accumulator(ctx context.Context) error {
	return a.violations(ctx, `
		with d as (
			select s.person_key, s.year, d.key, sum(d.amount) as amount
			from settlement_deltas d join settlements s on s.id = d.settlement_id
			where s.cancelled_at is null
			group by 1, 2, 3)
		select 'accumulator', coalesce(a.person_key, d.person_key) || '/' || coalesce(a.year, d.year) || '/' || coalesce(a.key, d.key),
			format('accumulator %s, deltas of live settlements %s', coalesce(a.amount, 0), coalesce(d.amount, 0))
		from accumulators a full join d on d.person_key = a.person_key and d.year = a.year and d.key = a.key
		where coalesce(a.amount, 0) <> coalesce(d.amount, 0)
		order by 2`)
}

// caps finds, in SQL, the paid accumulators no live settlement's least generous cap already
// covers (few: only where rules can move a cap, or where something is wrong), and resolves
// each of their settlements' caps in Go.
func (a *pgAudit) caps(ctx context.Context, set *policy.Set) error {
	ids, keys, least := leastCaps(set)
	rows, err := a.tx.Query(ctx, `
		with caps as (
			select u.policy, u.key, nullif(u.cap, '')::numeric as cap
			from unnest($1::text[], $2::text[], $3::text[]) as u(policy, key, cap)),
		contrib as (
			select a.person_key, a.year, a.key, a.amount, c.key is not null as known, c.cap
			from accumulators a
			join settlements s on s.person_key = a.person_key and s.year = a.year and s.cancelled_at is null
			join settlement_deltas d on d.settlement_id = s.id and d.key = a.key and d.amount > 0
			left join caps c on c.policy = s.receipt->'Policy'->>'ID' and c.key = a.key
			where a.key like '%.paid' and a.amount > 0),
		candidates as (
			select person_key, year, key, amount from contrib group by 1, 2, 3, 4
			having not bool_or(known and (cap is null or cap >= amount)))
		select c.person_key, c.year, c.key, c.amount, coalesce(s.receipt->'Policy'->>'ID', ''), s.med_type,
			coalesce(s.receipt->'Person'->>'Scheme', ''), coalesce(s.receipt->'Person'->>'Status', ''),
			coalesce(array(select jsonb_array_elements_text(case jsonb_typeof(s.receipt->'Person'->'Categories')
				when 'array' then s.receipt->'Person'->'Categories' else '[]' end)), '{}'),
			coalesce(array(select p.category from fund_payments p
				where p.settlement_id = s.id and p.fund || '.' || p.pool || '.paid' = c.key and p.category <> ''), '{}')
		from candidates c
		join settlements s on s.person_key = c.person_key and s.year = c.year and s.cancelled_at is null
		join settlement_deltas d on d.settlement_id = s.id and d.key = c.key and d.amount > 0
		order by 1, 2, 3`, ids, keys, least)
	if err != nil {
		return unavailable(err)
	}
	defer rows.Close()
	var (
		cur    string
		amount decimal.Decimal
		check  *capCheck
	)
	for rows.Next() {
		var person, key string
		var year int
		var f capFacts
		var amt decimal.Decimal
		if err := rows.Scan(&person, &year, &key, &amt, &f.Policy, &f.MedType, &f.Scheme, &f.Status, &f.Categories, &f.Chosen); err != nil {
			return unavailable(err)
		}
		subject := pyk(person, year, key)
		if subject != cur {
			if check != nil {
				if err := check.finish(a.stats, a.fn, cur, amount); err != nil {
					return err
				}
			}
			cur, amount, check = subject, amt, &capCheck{set: set}
		}
		check.add(key, &f)
	}
	if err := rows.Err(); err != nil {
		return unavailable(err)
	}
	if check != nil {
		return check.finish(a.stats, a.fn, cur, amount)
	}
	return nil
}

// num and ts read a payload field as a number or a time, and as NULL when it is not one, so
// a damaged payload is reported rather than failing the audit's query.
func num(expr string) string {
	return fmt.Sprintf(`(case when %[1]s ~ '^-?[0-9]+(\.[0-9]+)?$' then (%[1]s)::numeric end)`, expr)
}

func ts(expr string) string {
	return fmt.Sprintf(`(case when %[1]s ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$' then (%[1]s)::timestamptz end)`, expr)
}

// outbox matches the settlement and cancellation rows against what the ledger calls for:
// per settlement, one row for each agency a payment routes to (and the account's agency when
// the account paid), and as many cancellation rows when it is cancelled; and compares each
// matched row's message with the settlement.
func (a *pgAudit) outbox(ctx context.Context) error {
	funds, agencies, account := routes()
	field := func(name, got, want string) string {
		return fmt.Sprintf(`case when %[2]s is distinct from %[3]s then format('%[1]s %%s, settled %%s', coalesce((%[2]s)::text, 'none'), %[3]s) end`, name, got, want)
	}
	payload := func(key string) string { return `o.payload->>'` + key + `'` }
	mismatch := strings.Join([]string{
		field("message_id", "o.message_id", "s.id::text || '/' || o.kind"),
		field("person_key column", "o.person_key", "s.person_key"),
		field("institution_id column", "o.institution_id", "s.institution_id"),
		field("settlement_id", payload("settlement_id"), "s.id::text"),
		field("request_id", payload("request_id"), "s.request_id"),
		field("institution_id", payload("institution_id"), "s.institution_id"),
		field("person_key", payload("person_key"), "s.person_key"),
		field("med_type", payload("med_type"), "s.med_type"),
		field("settle_date", payload("settle_date"), "to_char(s.settle_date, 'YYYY-MM-DD')"), // not ::text: DateStyle
		field("settled_at", ts(payload("settled_at")), "s.settled_at"),
		field("total", num(payload("total")), "s.total"),
		field("policy_scope", num(payload("policy_scope")), "s.policy_scope"),
		field("cash", num(payload("cash")), "s.cash"),
		field("account", `(case when o.payload ? 'account' then `+num(payload("account"))+` else 0 end)`,
			`(case when o.agency = $3 then s.account else 0 end)`),
		field("payments", "coalesce(g.pays, '[]')", "coalesce(p.pays, '[]')"),
		field("cancelled_at", `(case when o.kind = 'cancellation' then `+ts(payload("cancelled_at"))+` end)`,
			`(case when o.kind = 'cancellation' then s.cancelled_at end)`),
		`case when o.kind = 'settlement' and ` + payload("cancelled_at") + ` is not null then format('cancelled_at %s, on a settlement message', ` + payload("cancelled_at") + `) end`,
	}, ",\n")
	return a.violations(ctx, `
		with route as (select * from unnest($1::text[], $2::text[]) as r(fund, agency)),
		told as (
			select distinct p.settlement_id as id, r.agency from fund_payments p join route r on r.fund = p.fund
			union
			select id, $3::text from settlements where account > 0),
		expected as (
			select t.id, t.agency, k.kind from told t join settlements s on s.id = t.id
			cross join lateral (values ('settlement'), ('cancellation')) as k(kind)
			where k.kind = 'settlement' or s.cancelled_at is not null),
		actual as (select * from outbox where kind in ('settlement', 'cancellation')),
		pays as (
			select p.settlement_id, r.agency, jsonb_agg(jsonb_build_array(p.fund, p.pool, p.amount) order by p.seq) as pays
			from fund_payments p join route r on r.fund = p.fund group by 1, 2),
		matched as (
			select e.id as eid, e.agency as eagency, e.kind as ekind, o.*, s.id as sid, s.cancelled_at as s_cancelled_at,
				case when o.delivered_at is not null then 'delivered' when o.dead_at is not null then 'dead' else 'pending' end as state,
				concat_ws('; ', `+mismatch+`) as diff
			from expected e full join actual o on o.settlement_id = e.id and o.agency = e.agency and o.kind = e.kind
			left join settlements s on s.id = coalesce(e.id, o.settlement_id)
			left join pays p on p.settlement_id = s.id and p.agency = o.agency
			left join lateral (
				select jsonb_agg(jsonb_build_array(x.e->>'Fund', x.e->>'Pool', `+num("x.e->>'Amount'")+`) order by x.n) as pays
				from jsonb_array_elements(case jsonb_typeof(o.payload->'payments') when 'array' then o.payload->'payments' else '[]' end)
					with ordinality as x(e, n)) g on o.id is not null)
		select case when id is null then 'outbox_missing' when eid is null then 'outbox_unexpected' else 'outbox_mismatch' end,
			coalesce(agency, eagency) || ':' || coalesce(message_id, eid::text || '/' || ekind),
			case
				when id is null and ekind = 'settlement' then 'no settlement message: a payment of the settlement routes to ' || eagency
				when id is null then 'no cancellation message, the settlement was cancelled at ' || s_cancelled_at
				when eid is null and sid is null then state || ', of no settlement'
				when eid is null and kind = 'cancellation' and s_cancelled_at is null then state || ', the settlement is not cancelled'
				when eid is null then state || ', no payment of the settlement routes to ' || agency
				else state || ': ' || diff end
		from matched
		where id is null or eid is null or diff <> ''
		order by 2`, funds, agencies, account)
}

// alerts matches high-cost alerts (once per person, year and threshold) with their messages.
// The message id is gateway.AlertMessage's.
func (a *pgAudit) alerts(ctx context.Context) error {
	alert := gateway.AlertMessage(&gateway.Settlement{}, gateway.HighCostAlert{}, time.Time{})
	return a.violations(ctx, `
		with h as (
			select *, person_key || '/' || year || '/high-cost/' || threshold::text as message_id from high_cost_alerts),
		m as (
			select h.message_id as hid, o.message_id, o.agency, o.id, concat_ws('; ',
				case when o.agency <> $1 then format('agency %s, alerts go to %s', o.agency, $1) end,
				case when o.settlement_id is distinct from h.settlement_id then format('settlement_id column %s, alert raised by %s', o.settlement_id, h.settlement_id) end,
				case when o.payload->>'settlement_id' is distinct from h.settlement_id::text then format('settlement_id %s, alert raised by %s', o.payload->>'settlement_id', h.settlement_id) end,
				case when o.payload->>'person_key' is distinct from h.person_key or o.person_key <> h.person_key then 'person_key differs' end,
				case when `+num("o.payload->>'year'")+` is distinct from h.year then format('year %s, alert of %s', o.payload->>'year', h.year) end,
				case when `+num("o.payload->>'threshold'")+` is distinct from h.threshold then format('threshold %s, alert of %s', o.payload->>'threshold', h.threshold) end
				) as diff,
				case when o.delivered_at is not null then 'delivered' when o.dead_at is not null then 'dead' else 'pending' end as state
			from h full join (select * from outbox where kind = $2) o on o.message_id = h.message_id)
		select case when id is null then 'outbox_missing' when hid is null then 'outbox_unexpected' else 'outbox_mismatch' end,
			coalesce(agency, $1) || ':' || coalesce(message_id, hid),
			case when id is null then 'no message for the high-cost alert'
				when hid is null then state || ', no high-cost alert was raised'
				else state || ': ' || diff end
		from m where id is null or hid is null or diff <> ''
		order by 2`, alert.Agency, gateway.OutboxKindHighCostAlert)
}

// ---- Journal ----

// Audit runs the Postgres audit's checks on the journal's memory, holding the journal's lock
// throughout (one snapshot; settles wait): fn must not call the journal. The journal rebuilds
// its accumulators and outbox from the settle and cancel records when it opens, so on a
// journal those checks guard the rebuilding code more than the file; the others read the
// records as written.
func (j *Journal) Audit(ctx context.Context, policies *policy.Set, fn func(Violation) error) (AuditStats, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	stats := AuditStats{Violations: map[string]int{}}
	// Violations are gathered (a journal is small) and given in the order the Postgres audit
	// gives them: by check, then by subject.
	var found []Violation
	collect := func(v Violation) error { found = append(found, v); return nil }
	report := func(check, subject, format string, args ...any) error {
		return stats.report(collect, Violation{check, subject, fmt.Sprintf(format, args...)})
	}
	ids := slices.Sorted(maps.Keys(j.settlements))
	stats.Settlements = len(ids)
	stats.OutboxRows = len(j.outbox)

	// Per settlement: negative amounts, sums, deltas, cancellation record.
	live := map[personYear]policy.Accumulators{}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		st := j.settlements[id]
		if st.State == gateway.StateCancelled {
			stats.Cancellations++
		}
		for _, c := range auditSettlement(st) {
			if err := report(c.Check, st.ID, "%s", c.Detail); err != nil {
				return stats, err
			}
		}
		py := personYear{st.PersonKey, st.Year}
		if live[py] == nil {
			live[py] = policy.Accumulators{}
		}
		if st.State != gateway.StateCancelled {
			for k, d := range st.Deltas {
				live[py][k] = live[py][k].Add(d)
			}
		}
	}

	// Per person-year: accumulators against live deltas, negatives, caps.
	pys := slices.Collect(maps.Keys(live))
	for py := range j.acc {
		if _, ok := live[py]; !ok {
			pys = append(pys, py)
		}
	}
	slices.SortFunc(pys, func(a, b personYear) int { return cmp.Or(cmp.Compare(a.person, b.person), cmp.Compare(a.year, b.year)) })
	stats.PersonYears = len(pys)
	for _, py := range pys {
		acc, sums := j.acc[py], live[py]
		keys := slices.Sorted(maps.Keys(acc))
		for k := range sums {
			if _, ok := acc[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		stats.Accumulators += len(acc)
		for _, k := range keys {
			subject := pyk(py.person, py.year, k)
			if acc[k].IsNegative() {
				if err := report(CheckNegative, subject, "accumulator %s", acc[k].StringFixed(2)); err != nil {
					return stats, err
				}
			}
			if !acc[k].Equal(sums[k]) {
				if err := report(CheckAccumulator, subject, "accumulator %s, deltas of live settlements %s",
					acc[k].StringFixed(2), sums[k].StringFixed(2)); err != nil {
					return stats, err
				}
			}
			if !strings.HasSuffix(k, paidSuffix) || !acc[k].IsPositive() {
				continue
			}
			check := &capCheck{set: policies}
			contributed := false
			for _, id := range j.byPerson[py.person] {
				st := j.settlements[id]
				if st.Year != py.year || st.State == gateway.StateCancelled || !st.Deltas[k].IsPositive() {
					continue
				}
				contributed = true
				check.add(k, journalCapFacts(st, k))
			}
			if !contributed {
				continue // the accumulator check has reported it
			}
			if err := check.finish(&stats, collect, subject, acc[k]); err != nil {
				return stats, err
			}
		}
	}

	// The outbox against the messages the records call for, by (agency, message id).
	type mkey struct{ agency, id string }
	want := map[mkey]*gateway.Settlement{}
	var wantOrder []mkey
	expect := func(m gateway.OutboxMessage, st *gateway.Settlement) {
		k := mkey{m.Agency, m.ID}
		if _, ok := want[k]; !ok {
			want[k] = st
			wantOrder = append(wantOrder, k)
		}
	}
	for _, id := range ids {
		st := j.settlements[id]
		for _, m := range gateway.Notices(st, gateway.OutboxKindSettlement, st.SettledAt) {
			expect(m, st)
		}
		if st.State == gateway.StateCancelled {
			for _, m := range gateway.Notices(st, gateway.OutboxKindCancellation, st.CancelledAt) {
				expect(m, st)
			}
		}
	}
	for _, person := range slices.Sorted(maps.Keys(j.byPerson)) {
		for _, id := range j.byPerson[person] { // journal order: the first bill to cross raises the alert
			st := j.settlements[id]
			for _, al := range st.Alerts {
				expect(gateway.AlertMessage(st, al, st.SettledAt), st)
			}
		}
	}
	seen := map[mkey]bool{}
	for _, m := range j.outbox {
		k := mkey{m.msg.Agency, m.msg.ID}
		subject := outboxSubject(k.agency, k.id)
		state := "pending"
		switch {
		case m.delivered:
			state = "delivered"
		case m.dead:
			state = "dead"
		}
		st, ok := want[k]
		if !ok || seen[k] {
			if err := report(CheckOutboxUnexpected, subject, "%s, nothing in the ledger calls for it", state); err != nil {
				return stats, err
			}
			continue
		}
		seen[k] = true
		if diff := messageDiff(st, &m.msg); diff != "" {
			if err := report(CheckOutboxMismatch, subject, "%s: %s", state, diff); err != nil {
				return stats, err
			}
		}
	}
	for _, k := range wantOrder {
		if !seen[k] {
			if err := report(CheckOutboxMissing, outboxSubject(k.agency, k.id), "no message for %s", want[k].ID); err != nil {
				return stats, err
			}
		}
	}
	slices.SortStableFunc(found, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(checkRank(a.Check), checkRank(b.Check)), cmp.Compare(a.Subject, b.Subject))
	})
	for _, v := range found {
		if err := fn(v); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// checkRank orders checks as the Postgres audit runs them.
func checkRank(check string) int {
	switch check {
	case CheckOutboxMissing, CheckOutboxUnexpected, CheckOutboxMismatch:
		return 6
	}
	return slices.Index([]string{CheckNegative, CheckSum, CheckDelta, CheckCancellation, CheckAccumulator, CheckCap}, check)
}

// auditSettlement checks one settlement's own figures (the journal's side of the Postgres
// queries negative, sum, delta and cancellation).
func auditSettlement(st *gateway.Settlement) []Violation {
	var out []Violation
	add := func(check, format string, args ...any) {
		out = append(out, Violation{check, st.ID, fmt.Sprintf(format, args...)})
	}
	two := func(d decimal.Decimal) string { return d.StringFixed(2) }
	for _, part := range []struct {
		name   string
		amount decimal.Decimal
	}{{"account", st.Account}, {"cash", st.Cash}, {"fund_total", st.FundTotal}, {"hospital", st.Hospital}, {"policy_scope", st.PolicyScope}, {"total", st.Total}} {
		if part.amount.IsNegative() {
			add(CheckNegative, "%s %s", part.name, two(part.amount))
		}
	}
	paid := policy.Accumulators{}
	payments := decimal.Zero
	for i, p := range st.Payments {
		if p.Amount.IsNegative() {
			add(CheckNegative, "payment %d (%s.%s) amount %s", i, p.Fund, p.Pool, two(p.Amount))
		}
		if p.ThresholdApplied.IsNegative() {
			add(CheckNegative, "payment %d (%s.%s) threshold_applied %s", i, p.Fund, p.Pool, two(p.ThresholdApplied))
		}
		payments = payments.Add(p.Amount)
		k := p.Fund + "." + p.Pool + paidSuffix
		paid[k] = paid[k].Add(p.Amount)
	}
	for _, k := range slices.Sorted(maps.Keys(st.Deltas)) {
		if st.Deltas[k].IsNegative() {
			add(CheckNegative, "delta %s %s", k, two(st.Deltas[k]))
		}
	}
	parts := st.FundTotal.Add(st.Hospital).Add(st.Account).Add(st.Cash)
	var sum []string
	if !payments.Equal(st.FundTotal) {
		sum = append(sum, fmt.Sprintf("fund payments %s, fund_total %s", two(payments), two(st.FundTotal)))
	}
	if !parts.Equal(st.Total) {
		sum = append(sum, fmt.Sprintf("fund_total %s + hospital %s + account %s + cash %s = %s, total %s",
			two(st.FundTotal), two(st.Hospital), two(st.Account), two(st.Cash), two(parts), two(st.Total)))
	}
	if len(sum) > 0 {
		add(CheckSum, "%s", strings.Join(sum, "; "))
	}
	keys := slices.Collect(maps.Keys(paid))
	for k := range st.Deltas {
		if strings.HasSuffix(k, paidSuffix) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !paid[k].Equal(st.Deltas[k]) {
			add(CheckDelta, "delta %s %s, payments %s", k, two(st.Deltas[k]), two(paid[k]))
		}
	}
	if spent := st.Cash.Add(st.Account); !spent.Equal(st.Deltas[gateway.OutOfPocketKey]) {
		add(CheckDelta, "delta %s %s, cash + account %s", gateway.OutOfPocketKey, two(st.Deltas[gateway.OutOfPocketKey]), two(spent))
	}
	cancelled := st.State == gateway.StateCancelled
	switch {
	case cancelled && st.Cancellation == nil:
		add(CheckCancellation, "marked cancelled at %s without a cancellation record", st.CancelledAt)
	case !cancelled && st.Cancellation != nil:
		add(CheckCancellation, "cancellation record of %s, but the settlement is not marked cancelled", st.Cancellation.CancelledAt)
	case cancelled && !st.Cancellation.CancelledAt.Equal(st.CancelledAt):
		add(CheckCancellation, "marked cancelled at %s, cancellation record of %s", st.CancelledAt, st.Cancellation.CancelledAt)
	}
	return out
}

func journalCapFacts(st *gateway.Settlement, key string) *capFacts {
	f := &capFacts{Policy: st.Receipt.Policy.ID, MedType: st.Receipt.MedType, Scheme: st.Receipt.Person.Scheme,
		Status: st.Receipt.Person.Status, Categories: st.Receipt.Person.Categories}
	for _, p := range st.Payments {
		if p.Fund+"."+p.Pool+paidSuffix == key && p.Category != "" {
			f.Chosen = append(f.Chosen, p.Category)
		}
	}
	return f
}

// messageDiff compares a stored outbox message with the settlement it reports, field by
// field as the Postgres audit does: a payload is compared by value, not byte for byte, so
// that fields added to notices later do not make every earlier message a mismatch.
func messageDiff(st *gateway.Settlement, m *gateway.OutboxMessage) string {
	var diffs []string
	differ := func(name string, got, want any) {
		diffs = append(diffs, fmt.Sprintf("%s %v, settled %v", name, got, want))
	}
	if m.SettlementID != st.ID {
		differ("settlement_id column", m.SettlementID, st.ID)
	}
	if m.PersonKey != st.PersonKey {
		differ("person_key column", m.PersonKey, st.PersonKey)
	}
	if m.InstitutionID != st.InstitutionID {
		differ("institution_id column", m.InstitutionID, st.InstitutionID)
	}
	if m.Kind == gateway.OutboxKindHighCostAlert {
		var got struct {
			PersonKey    string          `json:"person_key"`
			SettlementID string          `json:"settlement_id"`
			Year         int             `json:"year"`
			Threshold    decimal.Decimal `json:"threshold"`
		}
		if err := json.Unmarshal(m.Payload, &got); err != nil {
			return "payload: " + err.Error()
		}
		if got.SettlementID != st.ID {
			differ("settlement_id", got.SettlementID, st.ID)
		}
		if got.PersonKey != st.PersonKey {
			differ("person_key", got.PersonKey, st.PersonKey)
		}
		return strings.Join(diffs, "; ")
	}
	if want := st.ID + "/" + m.Kind; m.ID != want {
		differ("message_id", m.ID, want)
	}
	var got gateway.AgencyNotice
	if err := json.Unmarshal(m.Payload, &got); err != nil {
		return "payload: " + err.Error()
	}
	for _, f := range []struct{ name, got, want string }{
		{"settlement_id", got.SettlementID, st.ID},
		{"request_id", got.RequestID, st.RequestID},
		{"institution_id", got.InstitutionID, st.InstitutionID},
		{"person_key", got.PersonKey, st.PersonKey},
		{"med_type", got.MedType, st.Receipt.MedType},
		{"settle_date", got.SettleDate, st.Receipt.SettleDate.String()},
	} {
		if f.got != f.want {
			differ(f.name, f.got, f.want)
		}
	}
	if !got.SettledAt.Equal(st.SettledAt) {
		differ("settled_at", got.SettledAt, st.SettledAt)
	}
	wantAccount := decimal.Zero
	var wantPays []gateway.FundPayment
	for _, n := range gateway.Notices(st, m.Kind, time.Time{}) {
		if n.Agency == m.Agency {
			var w gateway.AgencyNotice
			_ = json.Unmarshal(n.Payload, &w) // Notices marshals plain data
			wantAccount, wantPays = w.Account, w.Payments
		}
	}
	for _, f := range []struct {
		name      string
		got, want decimal.Decimal
	}{{"total", got.Total, st.Total}, {"policy_scope", got.PolicyScope, st.PolicyScope}, {"cash", got.Cash, st.Cash}, {"account", got.Account, wantAccount}} {
		if !f.got.Equal(f.want) {
			differ(f.name, f.got.StringFixed(2), f.want.StringFixed(2))
		}
	}
	samePays := len(got.Payments) == len(wantPays)
	for i := 0; samePays && i < len(wantPays); i++ {
		g, w := got.Payments[i], wantPays[i]
		samePays = g.Fund == w.Fund && g.Pool == w.Pool && g.Amount.Equal(w.Amount)
	}
	if !samePays {
		differ("payments", paysString(got.Payments), paysString(wantPays))
	}
	switch {
	case m.Kind == gateway.OutboxKindCancellation && (got.CancelledAt == nil || !got.CancelledAt.Equal(st.CancelledAt)):
		differ("cancelled_at", got.CancelledAt, st.CancelledAt)
	case m.Kind == gateway.OutboxKindSettlement && got.CancelledAt != nil:
		differ("cancelled_at", *got.CancelledAt, "none")
	}
	return strings.Join(diffs, "; ")
}

func paysString(ps []gateway.FundPayment) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Fund + "." + p.Pool + " " + p.Amount.StringFixed(2)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
