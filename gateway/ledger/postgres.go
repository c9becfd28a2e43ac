package ledger

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Postgres is the ledger on Postgres. Money columns are numeric(14,2); the person's year is
// serialised by a transaction-scoped advisory lock, so two counters settling one person at
// once see each other's accumulators.
type Postgres struct {
	pool  *pgxpool.Pool
	clock clock
}

// SetClock makes the ledger store settlements and cancellations at the times f gives (nil:
// the wall clock), for tests that need a history over months. Call it before any use.
func (l *Postgres) SetClock(f func() time.Time) { l.clock.f = f }

var _ gateway.Ledger = (*Postgres)(nil)

// Connect opens a pool whose connections read and write numeric columns as decimal.Decimal
// (github.com/jackc/pgx-shopspring-decimal). configure, when not nil, may change the
// config first (pool size, search_path for tests).
func Connect(ctx context.Context, url string, configure func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxdecimal.Register(conn.TypeMap())
		return nil
	}
	if configure != nil {
		configure(cfg)
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// NewPostgres uses a pool from Connect; Migrate must have run on its database.
func NewPostgres(pool *pgxpool.Pool) *Postgres { return &Postgres{pool: pool} }

// Migrate applies the embedded migrations (github.com/jackc/tern), holding tern's advisory
// lock so several gateways starting at once migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error { return MigrateTo(ctx, pool, -1) }

// MigrateTo migrates up or down to version (-1: the latest), running the down sections
// on the way down.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int32) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return err
	}
	if version < 0 {
		return m.Migrate(ctx)
	}
	return m.MigrateTo(ctx, version)
}

func (l *Postgres) Settle(ctx context.Context, key gateway.SettleKey, split func(gateway.Position) (*gateway.Settlement, error)) (*gateway.Settlement, bool, error) {
	st, replayed, err := l.settleOnce(ctx, key, split)
	if isUniqueViolation(err) {
		// A concurrent request with the same key committed first (it named another person,
		// or the lock would have ordered us): the retry reads the winner.
		st, replayed, err = l.settleOnce(ctx, key, split)
	}
	return st, replayed, err
}

func (l *Postgres) settleOnce(ctx context.Context, key gateway.SettleKey, split func(gateway.Position) (*gateway.Settlement, error)) (*gateway.Settlement, bool, error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, false, unavailable(err)
	}
	defer conn.Release() // a connection left inside a transaction is closed, not reused
	inTx := false
	defer func() {
		if inTx {
			rollback(conn)
		}
	}()

	// One round trip: begin, lock the person's year, look the key up, read the position.
	b := &pgx.Batch{}
	b.Queue(`begin`)
	b.Queue(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, lockKey(key.PersonKey, key.Year))
	var existingID, existingHash string
	b.Queue(`select settlement_id::text, request_hash from settlement_requests where institution_id = $1 and request_id = $2`,
		key.InstitutionID, key.RequestID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&existingID, &existingHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	var pos gateway.Position
	queuePosition(b, &pos, key.PersonKey, key.Year, key.AccountSince)
	queueHistory(b, &pos, key.PersonKey, key.History)
	inTx = true
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, unavailable(err)
	}
	if existingID != "" {
		if existingHash != key.RequestHash {
			return nil, false, gateway.Errorf(gateway.ErrIdempotencyConflict, "request_id",
				"request %q of institution %s was settled with different content", key.RequestID, key.InstitutionID)
		}
		st, err := l.get(ctx, conn, existingID)
		return st, true, err
	}

	st, err := split(pos)
	if err != nil {
		return nil, false, err
	}
	st.ID = uuid.Must(uuid.NewV7()).String()
	st.RequestHash = key.RequestHash
	st.SettledAt = l.clock.now()
	// The second round trip writes everything and commits.
	b = &pgx.Batch{}
	if err := QueueSettlement(b, st); err != nil {
		return nil, false, err
	}
	b.Queue(`commit`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, commitFailed(err)
	}
	inTx = false
	return st, false, nil
}

// rollback ends a transaction left open by an error, on a deadline of its own: the caller's
// context may be what failed.
func rollback(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, `rollback`)
}

// QueueSettlement queues the statements that store a settlement: its row, its fund
// payments, its deltas and the accumulators plus the deltas, its outbox messages and its
// high-cost alerts. The floor (loadtest/floor) sends exactly these, so what it measures
// cannot drift from what a settlement writes.
func QueueSettlement(b *pgx.Batch, st *gateway.Settlement) error {
	receipt, err := json.Marshal(st.Receipt)
	if err != nil {
		return gateway.Internal(err)
	}
	var admission *string
	if !st.Receipt.AdmissionDate.IsZero() {
		a := st.Receipt.AdmissionDate.String()
		admission = &a
	}
	b.Queue(`insert into settlement_requests (institution_id, request_id, settlement_id, request_hash, settled_at)
		values ($1, $2, $3, $4, $5)`, st.InstitutionID, st.RequestID, st.ID, st.RequestHash, st.SettledAt)
	b.Queue(`insert into settlements (id, institution_id, request_id, request_hash, person_key, year, settle_date,
		med_type, settled_at, total, policy_scope, fund_total, hospital, account, cash, receipt, bill_fingerprint, admission_date)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, nullif($17, ''), $18::date)`,
		st.ID, st.InstitutionID, st.RequestID, st.RequestHash, st.PersonKey, st.Year, st.Receipt.SettleDate.String(),
		st.Receipt.MedType, st.SettledAt, st.Total, st.PolicyScope, st.FundTotal, st.Hospital, st.Account, st.Cash, receipt,
		st.BillFingerprint, admission)
	// Payments, deltas and the accumulator upserts go as one statement each, whatever the
	// number of funds: Postgres's work per settlement is mostly per statement.
	if n := len(st.Payments); n > 0 {
		seq := make([]int32, n)
		cols := make([][]string, 7)
		for i, p := range st.Payments {
			seq[i] = int32(i)
			for c, v := range []string{p.Fund, p.FundCode, p.Pool, p.Category, p.Amount.StringFixed(2), p.ThresholdApplied.StringFixed(2), p.Ratio.String()} {
				cols[c] = append(cols[c], v)
			}
		}
		b.Queue(`insert into fund_payments (settlement_id, seq, fund, fund_code, pool, category, amount, threshold_applied, ratio)
			select $1, u.seq, u.fund, u.code, u.pool, u.category, u.amount::numeric, u.applied::numeric, u.ratio::numeric
			from unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
				as u(seq, fund, code, pool, category, amount, applied, ratio)`,
			st.ID, seq, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6])
	}
	if len(st.Deltas) > 0 {
		keys := slices.Sorted(maps.Keys(st.Deltas))
		amounts := make([]string, len(keys))
		for i, k := range keys {
			amounts[i] = st.Deltas[k].String()
		}
		b.Queue(`with d as (
				insert into settlement_deltas (settlement_id, key, amount)
				select $1, u.key, u.amount::numeric from unnest($2::text[], $3::text[]) as u(key, amount)
				returning key, amount)
			insert into accumulators (person_key, year, key, amount) select $4, $5, key, amount from d
			on conflict (person_key, year, key) do update set amount = accumulators.amount + excluded.amount`,
			st.ID, keys, amounts, st.PersonKey, st.Year)
	}
	queueOutbox(b, gateway.Notices(st, gateway.OutboxKindSettlement, st.SettledAt))
	for _, a := range st.Alerts {
		m := gateway.AlertMessage(st, a, st.SettledAt)
		// Once per person, year and threshold: the outbox row exists only if the alert is new.
		b.Queue(`with a as (
				insert into high_cost_alerts (person_key, year, threshold, settlement_id, raised_at)
				values ($1::text, $2::int, $3::numeric, $4::uuid, $5::timestamptz)
				on conflict do nothing returning 1)
			insert into outbox (message_id, agency, kind, person_key, settlement_id, institution_id, payload, created_at, next_attempt_at)
			select $6::text, $7::text, $8::text, $1::text, $4::uuid, $9::text, $10::jsonb, $5::timestamptz, $5::timestamptz from a`,
			st.PersonKey, a.Year, a.Threshold, st.ID, st.SettledAt, m.ID, m.Agency, m.Kind, m.InstitutionID, string(m.Payload))
	}
	return nil
}

// queueOutbox inserts messages in one statement, in order: the outbox id is the delivery order.
func queueOutbox(b *pgx.Batch, msgs []gateway.OutboxMessage) {
	if len(msgs) == 0 {
		return
	}
	cols := make([][]string, 7)
	for _, m := range msgs {
		for c, v := range []string{m.ID, m.Agency, m.Kind, m.PersonKey, m.SettlementID, m.InstitutionID, string(m.Payload)} {
			cols[c] = append(cols[c], v)
		}
	}
	b.Queue(`insert into outbox (message_id, agency, kind, person_key, settlement_id, institution_id, payload, created_at, next_attempt_at)
		select u.id, u.agency, u.kind, u.person, u.settlement::uuid, u.inst, u.payload::jsonb, $8, $8
		from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) with ordinality
			as u(id, agency, kind, person, settlement, inst, payload, n) order by u.n`,
		cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], msgs[0].CreatedAt)
}

// queuePosition reads the accumulators and the account spent since a moment: account
// payments settled after it, less those cancelled after it.
func queuePosition(b *pgx.Batch, pos *gateway.Position, personKey string, year int, since time.Time) {
	pos.Accumulators = policy.Accumulators{}
	b.Queue(`select key, amount from accumulators where person_key = $1 and year = $2`, personKey, year).Query(func(rows pgx.Rows) error {
		var key string
		var amount decimal.Decimal
		_, err := pgx.ForEachRow(rows, []any{&key, &amount}, func() error {
			if !amount.IsZero() {
				pos.Accumulators[key] = amount
			}
			return nil
		})
		return err
	})
	pos.AccountSpent = decimal.Zero
	if since.IsZero() {
		return // the bill does not use the account
	}
	// Two range scans, one per index: with the OR of the two conditions, Postgres's generic
	// plan for this prepared statement read every settlement of the table (0.5 ms a call,
	// the costliest statement of a settle under load).
	b.Queue(`select coalesce((select sum(account) from settlements where person_key = $1 and settled_at > $2), 0)
		- coalesce((select sum(account) from settlements where person_key = $1 and cancelled_at > $2 and cancelled_at is not null), 0)`,
		personKey, since).QueryRow(func(row pgx.Row) error {
		return row.Scan(&pos.AccountSpent)
	})
}

// queueHistory reads the earlier settlements the fraud checks asked for, in the settle's
// first round trip (under the person's lock); nothing when the query is zero.
func queueHistory(b *pgx.Batch, pos *gateway.Position, personKey string, q gateway.HistoryQuery) {
	if q == (gateway.HistoryQuery{}) {
		return
	}
	var since *time.Time
	if !q.SettledSince.IsZero() {
		since = &q.SettledSince
	}
	var stays *time.Time
	if !q.StaysEndingFrom.IsZero() {
		t := q.StaysEndingFrom.AsTime()
		stays = &t
	}
	b.Queue(`select id::text, institution_id, request_id, coalesce(bill_fingerprint, ''), med_type,
			coalesce(admission_date, settle_date), settle_date, settled_at
		from settlements
		where person_key = $1 and cancelled_at is null and settled_at >= $5
			and ((settled_at >= $2 and bill_fingerprint is not null) or (med_type = $4 and settle_date >= $3))`,
		personKey, since, stays, policy.Inpatient, historyFloor(q)).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var h gateway.PastSettlement
			var admission, settled time.Time
			if err := rows.Scan(&h.ID, &h.InstitutionID, &h.RequestID, &h.BillFingerprint, &h.MedType, &admission, &settled, &h.SettledAt); err != nil {
				return err
			}
			h.AdmissionDate, h.SettleDate = policy.DateOf(admission), policy.DateOf(settled)
			pos.History = append(pos.History, h)
		}
		return rows.Err()
	})
}

// historyFloor bounds the history's settled_at from below, so that the person's settlements
// are read from the months that can matter only (the partitions before it are pruned): the
// repeated-bill window's start, or a day before the earliest stay that may overlap (a stay
// is settled on or after its last day).
func historyFloor(q gateway.HistoryQuery) time.Time {
	floor := q.SettledSince
	if !q.StaysEndingFrom.IsZero() {
		if stays := q.StaysEndingFrom.AsTime().Add(-48 * time.Hour); floor.IsZero() || stays.Before(floor) {
			floor = stays
		}
	}
	return floor
}

func (l *Postgres) Position(ctx context.Context, personKey string, year int, accountSince time.Time) (gateway.Position, error) {
	var pos gateway.Position
	b := &pgx.Batch{}
	queuePosition(b, &pos, personKey, year, accountSince)
	if err := l.pool.SendBatch(ctx, b).Close(); err != nil {
		return gateway.Position{}, unavailable(err)
	}
	return pos, nil
}

func (l *Postgres) Find(ctx context.Context, institutionID, requestID string) (*gateway.Settlement, error) {
	var id string
	err := l.pool.QueryRow(ctx, `select settlement_id::text from settlement_requests where institution_id = $1 and request_id = $2`, institutionID, requestID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, gateway.Errorf(gateway.ErrSettlementNotFound, "request_id", "no settlement for request %q", requestID)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return l.get(ctx, l.pool, id)
}

func (l *Postgres) Get(ctx context.Context, institutionID, settlementID string) (*gateway.Settlement, error) {
	if _, err := uuid.Parse(settlementID); err != nil {
		return nil, notFound(settlementID)
	}
	tx, err := l.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, unavailable(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	st, err := l.get(ctx, tx, settlementID)
	if err != nil {
		return nil, err
	}
	if st.InstitutionID != institutionID {
		return nil, wrongInstitution()
	}
	return st, nil
}

// batcher is what get needs: a transaction or a connection inside one.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// get reads a whole settlement: the row, its payments, deltas and cancellation.
func (l *Postgres) get(ctx context.Context, tx batcher, id string) (*gateway.Settlement, error) {
	st := &gateway.Settlement{ID: id, Deltas: policy.Accumulators{}}
	var receipt []byte
	var cancelledAt *time.Time
	var cancel struct {
		requestID, reason *string
		at                *time.Time
	}
	b := &pgx.Batch{}
	b.Queue(`select s.institution_id, s.request_id, s.request_hash, s.person_key, s.year, s.settled_at, s.total,
		s.policy_scope, s.fund_total, s.hospital, s.account, s.cash, s.receipt, s.cancelled_at,
		c.request_id, c.reason, c.cancelled_at
		from settlements s left join cancellations c on c.settlement_id = s.id
		where s.id = $1 and s.settled_at = (select settled_at from settlement_requests where settlement_id = $1)`, id).QueryRow(func(row pgx.Row) error {
		return row.Scan(&st.InstitutionID, &st.RequestID, &st.RequestHash, &st.PersonKey, &st.Year, &st.SettledAt,
			&st.Total, &st.PolicyScope, &st.FundTotal, &st.Hospital, &st.Account, &st.Cash, &receipt, &cancelledAt,
			&cancel.requestID, &cancel.reason, &cancel.at)
	})
	b.Queue(`select fund, fund_code, pool, category, amount, threshold_applied, ratio from fund_payments
		where settlement_id = $1 order by seq`, id).Query(func(rows pgx.Rows) error {
		var p gateway.FundPayment
		_, err := pgx.ForEachRow(rows, []any{&p.Fund, &p.FundCode, &p.Pool, &p.Category, &p.Amount, &p.ThresholdApplied, &p.Ratio}, func() error {
			st.Payments = append(st.Payments, p)
			return nil
		})
		return err
	})
	b.Queue(`select key, amount from settlement_deltas where settlement_id = $1`, id).Query(func(rows pgx.Rows) error {
		var k string
		var v decimal.Decimal
		_, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error {
			st.Deltas[k] = v
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound(id)
		}
		return nil, unavailable(err)
	}
	if err := json.Unmarshal(receipt, &st.Receipt); err != nil {
		return nil, gateway.Internal(fmt.Errorf("settlement %s: receipt: %w", id, err))
	}
	st.State = gateway.StateSettled
	if cancelledAt != nil {
		st.State, st.CancelledAt = gateway.StateCancelled, cancelledAt.UTC()
		st.Cancellation = &gateway.Cancellation{RequestID: deref(cancel.requestID), Reason: deref(cancel.reason), CancelledAt: cancelledAt.UTC()}
	}
	st.SettledAt = st.SettledAt.UTC()
	return st, nil
}

func (l *Postgres) Cancel(ctx context.Context, c gateway.CancelKey) (*gateway.Settlement, bool, error) {
	st, replayed, err := l.cancelOnce(ctx, c)
	if isUniqueViolation(err) {
		st, replayed, err = l.cancelOnce(ctx, c)
	}
	return st, replayed, err
}

func (l *Postgres) cancelOnce(ctx context.Context, c gateway.CancelKey) (*gateway.Settlement, bool, error) {
	if _, err := uuid.Parse(c.SettlementID); err != nil {
		return nil, false, notFound(c.SettlementID)
	}
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, false, unavailable(err)
	}
	defer conn.Release()
	inTx := false
	defer func() {
		if inTx {
			rollback(conn)
		}
	}()

	// One round trip: begin, lock the settlement's row, look the cancel key up.
	var found, cancelled bool
	var inst, personKey, priorSettlement string
	var year int
	b := &pgx.Batch{}
	b.Queue(`begin`)
	b.Queue(`select institution_id, person_key, year, cancelled_at is not null from settlements
		where id = $1 and settled_at = (select settled_at from settlement_requests where settlement_id = $1) for update`,
		c.SettlementID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&inst, &personKey, &year, &cancelled)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	b.Queue(`select settlement_id::text from cancellations where institution_id = $1 and request_id = $2`,
		c.InstitutionID, c.RequestID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&priorSettlement)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	inTx = true
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, unavailable(err)
	}
	switch {
	case !found:
		return nil, false, notFound(c.SettlementID)
	case inst != c.InstitutionID:
		return nil, false, wrongInstitution()
	case priorSettlement == c.SettlementID:
		st, err := l.get(ctx, conn, c.SettlementID)
		return st, true, err
	case priorSettlement != "":
		return nil, false, gateway.Errorf(gateway.ErrIdempotencyConflict, "request_id",
			"cancel request %q already cancelled settlement %s", c.RequestID, priorSettlement)
	case cancelled:
		return nil, false, gateway.Errorf(gateway.ErrAlreadyCancelled, "settlement_id", "settlement %s is already cancelled", c.SettlementID)
	}

	// The second writes the cancellation, takes back exactly the stored deltas, and commits.
	at := l.clock.now()
	b = &pgx.Batch{}
	b.Queue(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, lockKey(personKey, year))
	b.Queue(`update settlements set cancelled_at = $2
		where id = $1 and settled_at = (select settled_at from settlement_requests where settlement_id = $1) and cancelled_at is null`, c.SettlementID, at)
	b.Queue(`insert into cancellations (settlement_id, institution_id, request_id, reason, cancelled_at) values ($1, $2, $3, $4, $5)`,
		c.SettlementID, c.InstitutionID, c.RequestID, c.Reason, at)
	// The agencies told of the settlement are told of its cancellation, in the same
	// transaction: the settlement's own outbox rows name them.
	b.Queue(`insert into outbox (message_id, agency, kind, person_key, settlement_id, institution_id, payload, created_at, next_attempt_at)
		select settlement_id::text || '/cancellation', agency, 'cancellation', person_key, settlement_id, institution_id,
			payload || jsonb_build_object('cancelled_at', $2::timestamptz), $2, $2
		from outbox where settlement_id = $1 and kind = 'settlement' order by id`, c.SettlementID, at)
	b.Queue(`update accumulators a set amount = a.amount - d.amount from settlement_deltas d
		where d.settlement_id = $1 and a.person_key = $2 and a.year = $3 and a.key = d.key`, c.SettlementID, personKey, year)
	b.Queue(`commit`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, false, commitFailed(err)
	}
	inTx = false
	st, err := l.get(ctx, conn, c.SettlementID)
	if err != nil {
		// Committed: the terminal's retry with the same request id reads it back.
		return nil, false, err
	}
	return st, false, nil
}

func lockKey(personKey string, year int) string { return fmt.Sprintf("%s/%d", personKey, year) }

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func unavailable(err error) error {
	var ge *gateway.Error
	if errors.As(err, &ge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &gateway.Error{Kind: gateway.KindUnavailable, Reason: gateway.ReasonLedgerUnavailable, Message: "the ledger is unavailable; retry with the same request_id", Err: err}
}

// commitFailed classifies a failure of the batch that ends in COMMIT. When the server
// answered with an error, nothing was committed: a unique violation is returned as it is (the
// caller retries and reads the winner), anything else is retryable. When it did not answer,
// the transaction may or may not have committed: the terminal retries with the same
// request_id, and the idempotency key finds out which.
func commitFailed(err error) error {
	var pe *pgconn.PgError
	switch {
	case isUniqueViolation(err):
		return err
	case errors.As(err, &pe):
		return unavailable(err)
	}
	return &gateway.Error{Kind: gateway.KindUnavailable, Reason: gateway.ReasonOutcomeUnknown,
		Message: "the settlement may or may not have been stored; retry with the same request_id", Err: err}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// PartitionsAhead is how many months of settlement partitions are kept created ahead of
// now: a gateway that stays down past that still settles (into the default partition).
const PartitionsAhead = 3

// KeepPartitions creates the coming months' settlement partitions now and then every 12
// hours until ctx ends; failures are logged and retried at the next round (the default
// partition takes the rows meanwhile).
func (l *Postgres) KeepPartitions(ctx context.Context, log *slog.Logger) {
	for {
		var made int
		if err := l.pool.QueryRow(ctx, `select onestop_settlement_partitions(now(), $1)`, PartitionsAhead).Scan(&made); err != nil {
			if ctx.Err() == nil {
				log.Error("creating the coming months' settlement partitions failed (is the ledger migrated?)", "err", err)
			}
		} else if made > 0 {
			log.Info("settlement partitions created", "months", made)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(12 * time.Hour):
		}
	}
}
