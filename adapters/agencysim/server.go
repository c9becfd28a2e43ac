package agencysim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"onestop/cache"
	"onestop/gateway"
)

// maxBody bounds a request body; an outbox message is a few kilobytes.
const maxBody = 1 << 20

// Message is an outbox message as the gateway posts it.
type Message struct {
	ID            string          `json:"id"`
	Agency        string          `json:"agency"`
	Kind          string          `json:"kind"`
	PersonKey     string          `json:"person_key"`
	SettlementID  string          `json:"settlement_id"`
	InstitutionID string          `json:"institution_id"`
	CreatedAt     time.Time       `json:"created_at"`
	Payload       json.RawMessage `json:"payload"`
}

// Record is an accepted message: its effect, in the order the agency took it.
type Record struct {
	ID            string          `json:"id"`
	Agency        string          `json:"agency"`
	Kind          string          `json:"kind"`
	PersonKey     string          `json:"person_key"`
	SettlementID  string          `json:"settlement_id"`
	InstitutionID string          `json:"institution_id"`
	CreatedAt     time.Time       `json:"created_at"`
	ReceivedAt    time.Time       `json:"received_at"`
	Payload       json.RawMessage `json:"payload,omitempty"`
}

// Report is what every agency has seen, by agency name.
type Report map[string]AgencyReport

// AgencyReport counts one agency's requests. A request turned away by a fault is never
// received, so Received = Accepted + Duplicates.
type AgencyReport struct {
	Received   int64            `json:"received"`   // messages with a valid body
	Accepted   int64            `json:"accepted"`   // distinct ids: effects
	Duplicates int64            `json:"duplicates"` // repeats of an accepted id, no effect
	ByKind     map[string]int64 `json:"by_kind"`    // distinct ids by kind
	// Conflicts are duplicates whose content differs from the accepted message: a retry
	// must resend the same message, so any conflict is a bug in the sender.
	Conflicts      int64 `json:"conflicts"`
	RejectedFaults int64 `json:"rejected_faults"` // 503s served, both endpoints
	Blackholed     int64 `json:"blackholed"`      // requests left hanging, both endpoints
	Invalid        int64 `json:"invalid"`         // 400s
	Lookups        int64 `json:"lookups"`         // person lookups answered (found or not)
}

// Diff compares the ids a sender believes it delivered with what an agency accepted.
type Diff struct {
	Missing    []string `json:"missing"`    // given, never accepted
	Unexpected []string `json:"unexpected"` // accepted, not given (arrival order)
}

// ErrUnknownAgency is an agency name outside gateway.Agencies.
var ErrUnknownAgency = errors.New("unknown agency")

// Server simulates every agency. It is safe for concurrent use; each agency has its own lock.
type Server struct {
	now      func() time.Time
	start    time.Time
	agencies map[string]*agency
	byID     map[string]*cache.Line
	byCard   map[string]*cache.Line
	bad      []cache.LineError
	closed   chan struct{}
	close    sync.Once
}

type agency struct {
	name   string
	mu     sync.Mutex
	faults Faults
	rng    *rand.Rand
	byID   map[string]*Record
	order  []*Record
	stats  AgencyReport
}

// New builds a simulator; its clock starts now (Config.Now).
func New(cfg Config) (*Server, error) {
	s := &Server{
		now: cfg.Now, agencies: map[string]*agency{}, closed: make(chan struct{}),
		byID: map[string]*cache.Line{}, byCard: map[string]*cache.Line{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.start = s.now()
	for name := range cfg.Agencies {
		if !slices.Contains(gateway.Agencies, name) {
			return nil, fmt.Errorf("%w %q", ErrUnknownAgency, name)
		}
	}
	for _, name := range gateway.Agencies {
		f := cfg.Agencies[name]
		if err := f.validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f.Outages = slices.Clone(f.Outages)
		if f.Flap != nil {
			fl := *f.Flap
			f.Flap = &fl
		}
		// A stream per agency: one agency's traffic does not shift another's draws.
		h := fnv.New64a()
		h.Write([]byte(name))
		s.agencies[name] = &agency{
			name: name, faults: f, rng: rand.New(rand.NewPCG(cfg.Seed, h.Sum64())),
			byID: map[string]*Record{}, stats: AgencyReport{ByKind: map[string]int64{}},
		}
	}
	if cfg.PersonsFile != "" {
		f, err := cache.OpenSnapshot(cfg.PersonsFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		s.bad, err = f.Each(func(_ int, l *cache.Line) error { return s.addPerson(*l) })
		if err != nil {
			return nil, err
		}
	}
	for _, l := range cfg.Persons {
		if err := s.addPerson(l); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addPerson indexes a line as an agency's export does: a later line for the same ID number
// replaces the earlier one, and a delta's "remove" drops it.
func (s *Server) addPerson(l cache.Line) error {
	if l.IDNumber == "" {
		return errors.New("id_number: required")
	}
	id := strings.ToUpper(l.IDNumber)
	if old, ok := s.byID[id]; ok {
		delete(s.byID, id)
		if old.SocialSecurityCard != "" {
			delete(s.byCard, old.SocialSecurityCard)
		}
	}
	if l.Op == "remove" {
		return nil
	}
	s.byID[id] = &l
	if l.SocialSecurityCard != "" {
		s.byCard[l.SocialSecurityCard] = &l
	}
	return nil
}

// Persons is how many persons lookups can find, and the lines of the persons file skipped.
func (s *Server) Persons() (int, []cache.LineError) { return len(s.byID), s.bad }

// Close releases every request waiting out a latency or hanging in a blackhole, so an
// http.Server's Shutdown can finish. The simulator answers at once afterwards.
func (s *Server) Close() { s.close.Do(func() { close(s.closed) }) }

// BaseURL is an agency's base URL on a simulator at simURL.
func BaseURL(simURL, agency string) string {
	return strings.TrimRight(simURL, "/") + "/agencies/" + agency
}

// Handler serves the wire protocol (see the package documentation).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /agencies/{agency}/v1/messages", s.postMessage)
	mux.HandleFunc("POST /agencies/{agency}/v1/persons/lookup", s.lookup)
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Report()) })
	mux.HandleFunc("POST /report/missing", s.missing)
	mux.HandleFunc("GET /messages", s.messages)
	mux.HandleFunc("POST /control", s.control)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// fate is what becomes of one request, decided as it arrives.
type fate struct {
	wait      time.Duration
	fault     string // "": none
	blackhole bool
}

func (s *Server) admit(a *agency) fate {
	elapsed := s.now().Sub(s.start)
	a.mu.Lock()
	defer a.mu.Unlock()
	f := fate{wait: a.faults.Latency.draw(a.rng)}
	switch {
	case a.faults.downAt(elapsed) && a.faults.Blackhole:
		f.blackhole = true
		a.stats.Blackholed++
	case a.faults.downAt(elapsed):
		f.fault = "agency down"
		a.stats.RejectedFaults++
	case a.faults.ErrorRate > 0 && a.rng.Float64() < a.faults.ErrorRate:
		f.fault = "injected error"
		a.stats.RejectedFaults++
	}
	return f
}

// sleep waits d, or less if the client gives up or the simulator closes.
func (s *Server) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closed:
	}
}

// arrive looks the agency up and applies its faults; false: the request has been answered.
func (s *Server) arrive(w http.ResponseWriter, r *http.Request) (*agency, fate, bool) {
	a, ok := s.agencies[r.PathValue("agency")]
	if !ok {
		writeError(w, http.StatusNotFound, "unknown agency "+r.PathValue("agency"))
		return nil, fate{}, false
	}
	f := s.admit(a)
	switch {
	case f.blackhole:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return nil, f, false
	case f.fault != "":
		s.sleep(r.Context(), f.wait)
		writeError(w, http.StatusServiceUnavailable, f.fault)
		return nil, f, false
	}
	return a, f, true
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	a, f, ok := s.arrive(w, r)
	if !ok {
		return
	}
	var m Message
	err := decode(w, r, &m)
	switch {
	case err != nil:
	case m.ID == "":
		err = errors.New("id: required")
	case m.Agency != "" && m.Agency != a.name:
		err = fmt.Errorf("agency: a message for %s posted to %s", m.Agency, a.name)
	case r.Header.Get("Idempotency-Key") != "" && r.Header.Get("Idempotency-Key") != m.ID:
		err = errors.New("Idempotency-Key: differs from the id")
	}
	if err != nil {
		a.mu.Lock()
		a.stats.Invalid++
		a.mu.Unlock()
		s.sleep(r.Context(), f.wait)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	first := s.receive(a, m)
	// The effect is in before the latency: a client that gives up first has still delivered.
	s.sleep(r.Context(), f.wait)
	if first {
		writeJSON(w, http.StatusCreated, map[string]string{"status": "accepted"})
	} else {
		writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate"})
	}
}

// receive records a message once by id; false: a duplicate.
func (s *Server) receive(a *agency, m Message) bool {
	if len(m.Payload) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, m.Payload) == nil {
			m.Payload = b.Bytes()
		}
	}
	rec := &Record{
		ID: m.ID, Agency: a.name, Kind: m.Kind, PersonKey: m.PersonKey, SettlementID: m.SettlementID,
		InstitutionID: m.InstitutionID, CreatedAt: m.CreatedAt, ReceivedAt: s.now(), Payload: m.Payload,
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.Received++
	if old, ok := a.byID[m.ID]; ok {
		a.stats.Duplicates++
		if !sameContent(old, rec) {
			a.stats.Conflicts++
		}
		return false
	}
	a.byID[m.ID] = rec
	a.order = append(a.order, rec)
	a.stats.Accepted++
	a.stats.ByKind[m.Kind]++
	return true
}

func sameContent(a, b *Record) bool {
	return a.Kind == b.Kind && a.PersonKey == b.PersonKey && a.SettlementID == b.SettlementID &&
		a.InstitutionID == b.InstitutionID && a.CreatedAt.Equal(b.CreatedAt) && bytes.Equal(a.Payload, b.Payload)
}

// LookupRequest finds a person by ID number or social-security card number.
type LookupRequest struct {
	IDNumber           string `json:"id_number,omitempty"`
	SocialSecurityCard string `json:"social_security_card,omitempty"`
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	a, f, ok := s.arrive(w, r)
	if !ok {
		return
	}
	var q LookupRequest
	err := decode(w, r, &q)
	if err == nil && q.IDNumber == "" && q.SocialSecurityCard == "" {
		err = errors.New("id_number or social_security_card: required")
	}
	a.mu.Lock()
	if err != nil {
		a.stats.Invalid++
	} else {
		a.stats.Lookups++
	}
	a.mu.Unlock()
	s.sleep(r.Context(), f.wait)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if l := s.findPerson(q); l != nil {
		writeJSON(w, http.StatusOK, l)
		return
	}
	writeError(w, http.StatusNotFound, "person not found")
}

// findPerson: the persons are read-only after New, so no lock.
func (s *Server) findPerson(q LookupRequest) *cache.Line {
	if q.IDNumber != "" {
		return s.byID[strings.ToUpper(q.IDNumber)]
	}
	return s.byCard[q.SocialSecurityCard]
}

// Report is every agency's counts so far.
func (s *Server) Report() Report {
	out := Report{}
	for name, a := range s.agencies {
		a.mu.Lock()
		r := a.stats
		r.ByKind = make(map[string]int64, len(a.stats.ByKind))
		for k, v := range a.stats.ByKind {
			r.ByKind[k] = v
		}
		a.mu.Unlock()
		out[name] = r
	}
	return out
}

// Missing compares ids a sender believes delivered to agency with what it accepted.
func (s *Server) Missing(agency string, ids []string) (Diff, error) {
	a, ok := s.agencies[agency]
	if !ok {
		return Diff{}, fmt.Errorf("%w %q", ErrUnknownAgency, agency)
	}
	d := Diff{Missing: []string{}, Unexpected: []string{}}
	given := make(map[string]bool, len(ids))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		given[id] = true
		if _, ok := a.byID[id]; !ok {
			d.Missing = append(d.Missing, id)
		}
	}
	for _, rec := range a.order {
		if !given[rec.ID] {
			d.Unexpected = append(d.Unexpected, rec.ID)
		}
	}
	return d, nil
}

// Messages is what agency accepted, in arrival order.
func (s *Server) Messages(agency string) ([]Record, error) {
	a, ok := s.agencies[agency]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownAgency, agency)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Record, len(a.order))
	for i, rec := range a.order {
		out[i] = *rec
	}
	return out, nil
}

// Control changes an agency's faults and returns them as they now are.
func (s *Server) Control(c Control) (Faults, error) {
	a, ok := s.agencies[c.Agency]
	if !ok {
		return Faults{}, fmt.Errorf("%w %q", ErrUnknownAgency, c.Agency)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.faults
	if c.Down != nil {
		f.Down = *c.Down
	}
	if c.Blackhole != nil {
		f.Blackhole = *c.Blackhole
	}
	if c.Latency != nil {
		f.Latency = *c.Latency
	}
	if c.ErrorRate != nil {
		f.ErrorRate = *c.ErrorRate
	}
	if err := f.validate(); err != nil {
		return a.faults, err
	}
	a.faults = f
	return f, nil
}

func (s *Server) missing(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Agency string   `json:"agency"`
		IDs    []string `json:"ids"`
	}
	if err := decode(w, r, &q); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := s.Missing(q.Agency, q.IDs)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	recs, err := s.Messages(r.URL.Query().Get("agency"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if r.URL.Query().Get("payload") != "true" {
		for i := range recs {
			recs[i].Payload = nil
		}
	}
	writeJSON(w, http.StatusOK, recs)
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	var c Control
	if err := decode(w, r, &c); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f, err := s.Control(c)
	switch {
	case errors.Is(err, ErrUnknownAgency):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]any{"agency": c.Agency, "faults": f})
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: more than one value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client hung up: nobody to tell
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
