package ledger

import (
	"context"
	"time"

	"onestop/gateway"
)

var _ gateway.OutboxStore = (*Journal)(nil)

func (j *Journal) enqueue(msgs ...gateway.OutboxMessage) {
	for _, m := range msgs {
		j.outbox = append(j.outbox, &journalMessage{msg: m, next: m.CreatedAt})
	}
}

// ClaimOutbox follows the Postgres rules: due, not leased, and first of its agency and
// person among the undelivered.
func (j *Journal) ClaimOutbox(ctx context.Context, n int, lease time.Duration) ([]gateway.OutboxRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	t := time.Now()
	blocked := map[[2]string]bool{}
	var out []gateway.OutboxRow
	for i := j.firstOpen; i < len(j.outbox) && len(out) < n; i++ {
		m := j.outbox[i]
		if m.delivered || m.dead {
			continue
		}
		k := [2]string{m.msg.Agency, m.msg.PersonKey}
		first := !blocked[k]
		blocked[k] = true
		if !first || m.next.After(t) || m.lease.After(t) {
			continue
		}
		m.lease = t.Add(lease)
		m.attempts++
		out = append(out, gateway.OutboxRow{Seq: int64(i + 1), Message: m.msg, Attempts: m.attempts})
	}
	return out, nil
}

func (j *Journal) OutboxDelivered(ctx context.Context, ids ...int64) error {
	for _, id := range ids {
		if err := j.settleMessage(&record{Op: "delivered", Seq: id}); err != nil {
			return err
		}
	}
	return nil
}

func (j *Journal) OutboxFailed(ctx context.Context, id int64, next time.Time, reason string, dead bool) error {
	j.mu.Lock()
	attempts := 0
	if id >= 1 && id <= int64(len(j.outbox)) {
		attempts = j.outbox[id-1].attempts
	}
	j.mu.Unlock()
	return j.settleMessage(&record{Op: "failed", Seq: id, Next: next.UTC(), Reason: truncate(reason, 500), Dead: dead, Attempts: attempts})
}

func (j *Journal) settleMessage(rec *record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if rec.Seq < 1 || rec.Seq > int64(len(j.outbox)) {
		return gateway.Internal(errUnknownMessage(rec.Seq))
	}
	if err := j.append(rec); err != nil {
		return err
	}
	return j.apply(rec)
}

func (j *Journal) OutboxStats(ctx context.Context) (gateway.OutboxStats, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := gateway.OutboxStats{PendingByAgency: map[string]int{}}
	for _, m := range j.outbox {
		switch {
		case m.delivered:
			st.Delivered++
		case m.dead:
			st.Dead++
		default:
			st.Pending++
			st.PendingByAgency[m.msg.Agency]++
			if st.OldestPending.IsZero() || m.msg.CreatedAt.Before(st.OldestPending) {
				st.OldestPending = m.msg.CreatedAt
			}
		}
	}
	return st, nil
}

func (j *Journal) RetryDead(ctx context.Context) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, m := range j.outbox {
		if m.dead && !m.delivered {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	rec := &record{Op: "retry_dead"}
	if err := j.append(rec); err != nil {
		return 0, err
	}
	return n, j.apply(rec)
}

type errUnknownMessage int64

func (e errUnknownMessage) Error() string { return "unknown outbox message" }
