package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

// Journal is the embedded ledger of onestop dev: an append-only file of JSON records, one
// per settlement or cancellation, each fsynced before it is acknowledged, replayed into
// memory at start. It needs no server and keeps money as the same append-only facts the
// Postgres tables hold; a single lock serialises writes, which a dev gateway can afford.
//
// We chose it over SQLite because SQLite's numeric affinity stores decimals as floats (so
// every amount would have to become text or integer fen), its SQL would be a second dialect
// of every query, and all onestop dev needs is a durable log and maps.
type Journal struct {
	mu     sync.Mutex
	f      *os.File
	size   int64 // bytes of whole records; a failed append is cut back to it
	broken error // set when a failed append could not be cut back: the file needs a look
	clock  clock

	settlements map[string]*gateway.Settlement // by id
	byRequest   map[requestKey]string          // (institution, settle request id) → settlement id
	byCancel    map[requestKey]string          // (institution, cancel request id) → settlement id
	acc         map[personYear]policy.Accumulators
	byPerson    map[string][]string // person key → settlement ids, in order

	// The outbox, rebuilt on replay: settle and cancel records imply their messages,
	// delivery records settle them. Leases live in memory only: after a restart every
	// undelivered message is due again, and the agencies receive it idempotently.
	outbox    []*journalMessage // Seq = index + 1
	firstOpen int               // outbox[:firstOpen] are all delivered or dead
	alerted   map[string]bool   // high-cost alert message ids already raised
}

type journalMessage struct {
	msg       gateway.OutboxMessage
	attempts  int
	next      time.Time
	lease     time.Time
	delivered bool
	dead      bool
	lastErr   string
}

var _ gateway.Ledger = (*Journal)(nil)

type requestKey struct{ institution, request string }
type personYear struct {
	person string
	year   int
}

// record is one line of the journal.
type record struct {
	Op           string                `json:"op"` // "settle", "cancel", "delivered", "failed", "retry_dead"
	Settlement   *gateway.Settlement   `json:"settlement,omitempty"`
	SettlementID string                `json:"settlement_id,omitempty"`
	Cancellation *gateway.Cancellation `json:"cancellation,omitempty"`
	Seq          int64                 `json:"seq,omitempty"` // delivered, failed: the outbox message
	Next         time.Time             `json:"next,omitzero"`
	Reason       string                `json:"reason,omitempty"`
	Dead         bool                  `json:"dead,omitempty"`
	Attempts     int                   `json:"attempts,omitempty"`
}

// OpenJournal opens (or creates) the journal at path and replays it. A last line cut short
// by a crash was never acknowledged, and is dropped; any other bad line is an error.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	j := &Journal{
		f:           f,
		settlements: map[string]*gateway.Settlement{},
		byRequest:   map[requestKey]string{},
		byCancel:    map[requestKey]string{},
		acc:         map[personYear]policy.Accumulators{},
		byPerson:    map[string][]string{},
		alerted:     map[string]bool{},
	}
	if err := j.replay(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return j, nil
}

func (j *Journal) replay() error {
	r := bufio.NewReader(j.f)
	var offset int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 { // a torn last record: never acknowledged
				if err := j.f.Truncate(offset); err != nil {
					return err
				}
			}
			break
		}
		if err != nil {
			return err
		}
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := j.apply(&rec); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		offset += int64(len(line))
	}
	j.size = offset
	_, err := j.f.Seek(offset, io.SeekStart)
	return err
}

// apply puts one record into memory; records were checked before they were written.
func (j *Journal) apply(rec *record) error {
	switch rec.Op {
	case "settle":
		st := rec.Settlement
		if st == nil {
			return errors.New("settle record without settlement")
		}
		j.settlements[st.ID] = st
		j.byRequest[requestKey{st.InstitutionID, st.RequestID}] = st.ID
		j.byPerson[st.PersonKey] = append(j.byPerson[st.PersonKey], st.ID)
		j.addDeltas(st, 1)
		j.enqueue(gateway.Notices(st, gateway.OutboxKindSettlement, st.SettledAt)...)
		for _, a := range st.Alerts {
			m := gateway.AlertMessage(st, a, st.SettledAt)
			if !j.alerted[m.ID] {
				j.alerted[m.ID] = true
				j.enqueue(m)
			}
		}
	case "cancel":
		st, ok := j.settlements[rec.SettlementID]
		if !ok || rec.Cancellation == nil {
			return fmt.Errorf("cancel of unknown settlement %q", rec.SettlementID)
		}
		st.State, st.CancelledAt, st.Cancellation = gateway.StateCancelled, rec.Cancellation.CancelledAt, rec.Cancellation
		j.byCancel[requestKey{st.InstitutionID, rec.Cancellation.RequestID}] = st.ID
		j.addDeltas(st, -1)
		j.enqueue(gateway.Notices(st, gateway.OutboxKindCancellation, st.CancelledAt)...)
	case "delivered", "failed":
		if rec.Seq < 1 || rec.Seq > int64(len(j.outbox)) {
			return fmt.Errorf("%s of unknown outbox message %d", rec.Op, rec.Seq)
		}
		m := j.outbox[rec.Seq-1]
		m.lease = time.Time{}
		if rec.Op == "delivered" {
			m.delivered = true
		} else {
			m.next, m.lastErr, m.dead, m.attempts = rec.Next, rec.Reason, rec.Dead, rec.Attempts
		}
		for j.firstOpen < len(j.outbox) && (j.outbox[j.firstOpen].delivered || j.outbox[j.firstOpen].dead) {
			j.firstOpen++
		}
	case "retry_dead":
		for i, m := range j.outbox {
			if m.dead && !m.delivered {
				m.dead, m.attempts, m.next, m.lastErr = false, 0, time.Time{}, ""
				j.firstOpen = min(j.firstOpen, i)
			}
		}
	default:
		return fmt.Errorf("unknown op %q", rec.Op)
	}
	return nil
}

func (j *Journal) addDeltas(st *gateway.Settlement, sign int64) {
	k := personYear{st.PersonKey, st.Year}
	acc := j.acc[k]
	if acc == nil {
		acc = policy.Accumulators{}
		j.acc[k] = acc
	}
	for key, d := range st.Deltas {
		acc[key] = acc[key].Add(d.Mul(decimal.NewFromInt(sign)))
	}
}

// append writes one record and syncs it; on failure the file is cut back to the last whole
// record so the journal stays readable.
func (j *Journal) append(rec *record) error {
	if j.broken != nil {
		return unavailable(j.broken)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return gateway.Internal(err)
	}
	line = append(line, '\n')
	if _, err := j.f.Write(line); err != nil {
		return j.cutBack(err)
	}
	if err := j.f.Sync(); err != nil {
		return j.cutBack(err)
	}
	j.size += int64(len(line))
	return nil
}

func (j *Journal) cutBack(cause error) error {
	if err := j.f.Truncate(j.size); err != nil {
		j.broken = fmt.Errorf("journal write failed (%v) and could not be cut back: %w", cause, err)
	} else if _, err := j.f.Seek(j.size, io.SeekStart); err != nil {
		j.broken = err
	}
	return unavailable(cause)
}

func (j *Journal) Settle(ctx context.Context, key gateway.SettleKey, split func(gateway.Position) (*gateway.Settlement, error)) (*gateway.Settlement, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if id, ok := j.byRequest[requestKey{key.InstitutionID, key.RequestID}]; ok {
		st := j.settlements[id]
		if st.RequestHash != key.RequestHash {
			return nil, false, gateway.Errorf(gateway.ErrIdempotencyConflict, "request_id",
				"request %q of institution %s was settled with different content", key.RequestID, key.InstitutionID)
		}
		return clone(st), true, nil
	}
	pos := j.position(key.PersonKey, key.Year, key.AccountSince)
	pos.History = j.history(key.PersonKey, key.History)
	st, err := split(pos)
	if err != nil {
		return nil, false, err
	}
	st.ID = uuid.Must(uuid.NewV7()).String()
	st.RequestHash = key.RequestHash
	st.SettledAt = j.clock.now()
	st.State = gateway.StateSettled
	stored := clone(st)
	if err := j.append(&record{Op: "settle", Settlement: stored}); err != nil {
		return nil, false, err
	}
	if err := j.apply(&record{Op: "settle", Settlement: stored}); err != nil {
		return nil, false, gateway.Internal(err)
	}
	return st, false, nil
}

func (j *Journal) Cancel(ctx context.Context, c gateway.CancelKey) (*gateway.Settlement, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	st, ok := j.settlements[c.SettlementID]
	if !ok {
		return nil, false, notFound(c.SettlementID)
	}
	if st.InstitutionID != c.InstitutionID {
		return nil, false, wrongInstitution()
	}
	if prior, ok := j.byCancel[requestKey{c.InstitutionID, c.RequestID}]; ok {
		if prior == c.SettlementID {
			return clone(st), true, nil
		}
		return nil, false, gateway.Errorf(gateway.ErrIdempotencyConflict, "request_id",
			"cancel request %q already cancelled settlement %s", c.RequestID, prior)
	}
	if st.State == gateway.StateCancelled {
		return nil, false, gateway.Errorf(gateway.ErrAlreadyCancelled, "settlement_id", "settlement %s is already cancelled", c.SettlementID)
	}
	rec := &record{Op: "cancel", SettlementID: st.ID,
		Cancellation: &gateway.Cancellation{RequestID: c.RequestID, Reason: c.Reason, CancelledAt: j.clock.now()}}
	if err := j.append(rec); err != nil {
		return nil, false, err
	}
	if err := j.apply(rec); err != nil {
		return nil, false, gateway.Internal(err)
	}
	return clone(st), false, nil
}

func (j *Journal) Find(ctx context.Context, institutionID, requestID string) (*gateway.Settlement, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	id, ok := j.byRequest[requestKey{institutionID, requestID}]
	if !ok {
		return nil, gateway.Errorf(gateway.ErrSettlementNotFound, "request_id", "no settlement for request %q", requestID)
	}
	return clone(j.settlements[id]), nil
}

func (j *Journal) Get(ctx context.Context, institutionID, settlementID string) (*gateway.Settlement, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st, ok := j.settlements[settlementID]
	if !ok {
		return nil, notFound(settlementID)
	}
	if st.InstitutionID != institutionID {
		return nil, wrongInstitution()
	}
	return clone(st), nil
}

func (j *Journal) Position(ctx context.Context, personKey string, year int, accountSince time.Time) (gateway.Position, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.position(personKey, year, accountSince), nil
}

func (j *Journal) position(personKey string, year int, since time.Time) gateway.Position {
	pos := gateway.Position{Accumulators: policy.Accumulators{}, AccountSpent: decimal.Zero}
	for k, v := range j.acc[personYear{personKey, year}] {
		if !v.IsZero() {
			pos.Accumulators[k] = v
		}
	}
	for _, id := range j.byPerson[personKey] {
		if since.IsZero() {
			break // the bill does not use the account
		}
		st := j.settlements[id]
		if st.SettledAt.After(since) {
			pos.AccountSpent = pos.AccountSpent.Add(st.Account)
		}
		if st.State == gateway.StateCancelled && st.CancelledAt.After(since) {
			pos.AccountSpent = pos.AccountSpent.Sub(st.Account)
		}
	}
	return pos
}

// history is queueHistory's answer from memory.
func (j *Journal) history(personKey string, q gateway.HistoryQuery) []gateway.PastSettlement {
	if q == (gateway.HistoryQuery{}) {
		return nil
	}
	var out []gateway.PastSettlement
	for _, id := range j.byPerson[personKey] {
		st := j.settlements[id]
		if st.State == gateway.StateCancelled {
			continue
		}
		recent := !q.SettledSince.IsZero() && !st.SettledAt.Before(q.SettledSince) && st.BillFingerprint != ""
		stay := !q.StaysEndingFrom.IsZero() && st.Receipt.MedType == policy.Inpatient && !st.Receipt.SettleDate.Before(q.StaysEndingFrom)
		if !recent && !stay {
			continue
		}
		h := gateway.PastSettlement{ID: st.ID, InstitutionID: st.InstitutionID, RequestID: st.RequestID, BillFingerprint: st.BillFingerprint,
			MedType: st.Receipt.MedType, AdmissionDate: st.Receipt.AdmissionDate, SettleDate: st.Receipt.SettleDate, SettledAt: st.SettledAt}
		if h.AdmissionDate.IsZero() {
			h.AdmissionDate = h.SettleDate
		}
		out = append(out, h)
	}
	return out
}

// Close closes the journal file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}

// clone copies a settlement through its JSON form, so callers never share memory with the
// journal's maps.
func clone(st *gateway.Settlement) *gateway.Settlement {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err) // a Settlement always marshals
	}
	var out gateway.Settlement
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&out); err != nil {
		panic(err)
	}
	return &out
}

// SetClock makes the journal store settlements and cancellations at the times f gives (nil:
// the wall clock), for tests that need a history over months. Call it before any use.
func (j *Journal) SetClock(f func() time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.clock.f = f
}

// Path is the journal file's name.
func (j *Journal) Path() string { return j.f.Name() }
