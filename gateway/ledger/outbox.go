package ledger

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"onestop/gateway"
)

var _ gateway.OutboxStore = (*Postgres)(nil)

// ClaimOutbox leases due rows with FOR UPDATE SKIP LOCKED, so dispatchers on several
// gateways share the queue without waiting on each other. A row is due when it is the
// first undelivered, live row of its agency and person (in order per person and agency: a
// cancellation never overtakes its settlement), its next attempt has come, and no live
// lease holds it.
func (l *Postgres) ClaimOutbox(ctx context.Context, n int, lease time.Duration) ([]gateway.OutboxRow, error) {
	rows, err := l.pool.Query(ctx, `
		update outbox o set lease_until = now() + $2 * interval '1 microsecond', attempts = o.attempts + 1
		where o.id in (
			select c.id from outbox c
			where c.id in (
				-- The first undelivered message of each agency and person: one pass over the
				-- pending rows in index order, where a per-row NOT EXISTS would be quadratic.
				select distinct on (agency, person_key) id from outbox
				where delivered_at is null and dead_at is null
				order by agency, person_key, id)
			and c.next_attempt_at <= now() and (c.lease_until is null or c.lease_until < now())
			order by c.id limit $1
			for update skip locked)
		returning o.id, o.message_id, o.agency, o.kind, o.person_key, coalesce(o.settlement_id::text, ''), o.institution_id,
			o.payload::text, o.created_at, o.attempts`, n, lease.Microseconds())
	if err != nil {
		return nil, unavailable(err)
	}
	var out []gateway.OutboxRow
	var r gateway.OutboxRow
	var payload string
	_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.Message.ID, &r.Message.Agency, &r.Message.Kind, &r.Message.PersonKey,
		&r.Message.SettlementID, &r.Message.InstitutionID, &payload, &r.Message.CreatedAt, &r.Attempts}, func() error {
		r.Message.Payload = []byte(payload)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	// UPDATE … RETURNING does not keep the subquery's order.
	sortRows(out)
	return out, nil
}

func (l *Postgres) OutboxDelivered(ctx context.Context, id int64) error {
	_, err := l.pool.Exec(ctx, `update outbox set delivered_at = now(), lease_until = null, last_error = null where id = $1`, id)
	if err != nil {
		return unavailable(err)
	}
	return nil
}

func (l *Postgres) OutboxFailed(ctx context.Context, id int64, next time.Time, reason string, dead bool) error {
	var deadAt *time.Time
	if dead {
		t := now()
		deadAt = &t
	}
	_, err := l.pool.Exec(ctx, `update outbox set next_attempt_at = $2, last_error = $3, dead_at = $4, lease_until = null where id = $1`,
		id, next, truncate(reason, 500), deadAt)
	if err != nil {
		return unavailable(err)
	}
	return nil
}

func (l *Postgres) OutboxStats(ctx context.Context) (gateway.OutboxStats, error) {
	st := gateway.OutboxStats{PendingByAgency: map[string]int{}}
	var oldest *time.Time
	err := l.pool.QueryRow(ctx, `select
			count(*) filter (where delivered_at is null and dead_at is null),
			count(*) filter (where dead_at is not null),
			count(*) filter (where delivered_at is not null),
			min(created_at) filter (where delivered_at is null and dead_at is null)
		from outbox`).Scan(&st.Pending, &st.Dead, &st.Delivered, &oldest)
	if err != nil {
		return st, unavailable(err)
	}
	if oldest != nil {
		st.OldestPending = oldest.UTC()
	}
	rows, err := l.pool.Query(ctx, `select agency, count(*) from outbox where delivered_at is null and dead_at is null group by agency`)
	if err != nil {
		return st, unavailable(err)
	}
	var agency string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&agency, &n}, func() error { st.PendingByAgency[agency] = n; return nil })
	if err != nil {
		return st, unavailable(err)
	}
	return st, nil
}

func (l *Postgres) RetryDead(ctx context.Context) (int, error) {
	tag, err := l.pool.Exec(ctx, `update outbox set dead_at = null, attempts = 0, next_attempt_at = now(), last_error = null
		where dead_at is not null and delivered_at is null`)
	if err != nil {
		return 0, unavailable(err)
	}
	return int(tag.RowsAffected()), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
