package agencysim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"onestop/cache"
	"onestop/gateway"
)

// clock is a test's hand-moved time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// set puts the clock at d after its start.
func (c *clock) set(d time.Duration) {
	c.mu.Lock()
	c.t = newClock().t.Add(d)
	c.mu.Unlock()
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func start(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	sim, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { sim.Close(); ts.Close() })
	return sim, ts
}

func message(id, agency, kind string) Message {
	return Message{
		ID: id, Agency: agency, Kind: kind, PersonKey: "pk-1", SettlementID: "S1", InstitutionID: "H320401",
		CreatedAt: time.Date(2026, 11, 24, 7, 59, 0, 0, time.UTC), Payload: json.RawMessage(`{"total": "12.30"}`),
	}
}

func do(t *testing.T, ctx context.Context, method, url string, body any, header ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func post(t *testing.T, ts *httptest.Server, m Message) (int, string) {
	t.Helper()
	code, body := do(t, context.Background(), "POST", BaseURL(ts.URL, m.Agency)+"/v1/messages", m, "Idempotency-Key", m.ID)
	var st struct{ Status, Error string }
	_ = json.Unmarshal(body, &st)
	return code, st.Status + st.Error
}

func TestIdempotentReceive(t *testing.T) {
	sim, ts := start(t, Config{})
	m := message("S1/settlement", gateway.AgencyCivilAffairs, gateway.OutboxKindSettlement)
	if code, st := post(t, ts, m); code != http.StatusCreated || st != "accepted" {
		t.Fatalf("first post: %d %s", code, st)
	}
	m.Payload = json.RawMessage(`{"total":"12.30"}`) // the same content, spaced differently
	if code, st := post(t, ts, m); code != http.StatusOK || st != "duplicate" {
		t.Fatalf("second post: %d %s", code, st)
	}
	c := message("S1/cancellation", gateway.AgencyCivilAffairs, gateway.OutboxKindCancellation)
	if code, _ := post(t, ts, c); code != http.StatusCreated {
		t.Fatalf("cancellation: %d", code)
	}

	code, body := do(t, context.Background(), "GET", ts.URL+"/report", nil)
	var rep Report
	if err := json.Unmarshal(body, &rep); code != http.StatusOK || err != nil {
		t.Fatalf("report: %d %v %s", code, err, body)
	}
	got := rep[gateway.AgencyCivilAffairs]
	want := AgencyReport{Received: 3, Accepted: 2, Duplicates: 1,
		ByKind: map[string]int64{gateway.OutboxKindSettlement: 1, gateway.OutboxKindCancellation: 1}}
	if !equalReport(got, want) {
		t.Fatalf("report %+v, want %+v", got, want)
	}
	if r := rep[gateway.AgencyTradeUnion]; r.Received != 0 || r.ByKind == nil {
		t.Fatalf("an agency that was told nothing: %+v", r)
	}
	if !equalReport(sim.Report()[gateway.AgencyCivilAffairs], want) {
		t.Fatal("Report() and GET /report differ")
	}

	code, body = do(t, context.Background(), "GET", ts.URL+"/messages?agency=civil_affairs", nil)
	var recs []Record
	if err := json.Unmarshal(body, &recs); code != http.StatusOK || err != nil {
		t.Fatalf("messages: %d %v", code, err)
	}
	if len(recs) != 2 || recs[0].ID != "S1/settlement" || recs[1].ID != "S1/cancellation" ||
		recs[0].PersonKey != "pk-1" || recs[0].SettlementID != "S1" || recs[0].ReceivedAt.IsZero() || recs[0].Payload != nil {
		t.Fatalf("messages: %+v", recs)
	}
	_, body = do(t, context.Background(), "GET", ts.URL+"/messages?agency=civil_affairs&payload=true", nil)
	if err := json.Unmarshal(body, &recs); err != nil || string(recs[0].Payload) != `{"total":"12.30"}` {
		t.Fatalf("messages with payloads: %v %s", err, body)
	}
}

func equalReport(a, b AgencyReport) bool {
	ak, bk := a.ByKind, b.ByKind
	a.ByKind, b.ByKind = nil, nil
	return reflect.DeepEqual(a, b) && maps.Equal(ak, bk)
}

// TestConflictingRetry: a retry that changed the message is still a duplicate with no
// effect, and is counted as the sender's bug it is.
func TestConflictingRetry(t *testing.T) {
	sim, ts := start(t, Config{})
	m := message("S1/settlement", gateway.AgencyInsuranceBureau, gateway.OutboxKindSettlement)
	post(t, ts, m)
	m.Payload = json.RawMessage(`{"total":"99.00"}`)
	if code, st := post(t, ts, m); code != http.StatusOK || st != "duplicate" {
		t.Fatalf("changed retry: %d %s", code, st)
	}
	if r := sim.Report()[gateway.AgencyInsuranceBureau]; r.Accepted != 1 || r.Duplicates != 1 || r.Conflicts != 1 {
		t.Fatalf("report %+v", r)
	}
}

func TestConcurrentSameID(t *testing.T) {
	sim, ts := start(t, Config{})
	m := message("S7/settlement", gateway.AgencyRedCross, gateway.OutboxKindSettlement)
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() { codes[i], _ = post(t, ts, m) })
	}
	wg.Wait()
	slices.Sort(codes)
	if codes[0] != http.StatusOK || codes[18] != http.StatusOK || codes[19] != http.StatusCreated {
		t.Fatalf("codes %v: want 19×200 and one 201", codes)
	}
	if r := sim.Report()[gateway.AgencyRedCross]; r.Received != 20 || r.Accepted != 1 || r.Duplicates != 19 {
		t.Fatalf("report %+v", r)
	}
}

func TestBadRequests(t *testing.T) {
	sim, ts := start(t, Config{})
	base := BaseURL(ts.URL, gateway.AgencyTradeUnion)
	for name, c := range map[string]struct {
		url, body string
		header    []string
		code      int
	}{
		"malformed":          {base + "/v1/messages", `{"id":`, nil, 400},
		"two values":         {base + "/v1/messages", `{"id":"a"} {"id":"b"}`, nil, 400},
		"no id":              {base + "/v1/messages", `{"kind":"settlement"}`, nil, 400},
		"other agency's":     {base + "/v1/messages", `{"id":"x","agency":"red_cross"}`, nil, 400},
		"key differs":        {base + "/v1/messages", `{"id":"x"}`, []string{"Idempotency-Key", "y"}, 400},
		"unknown agency":     {BaseURL(ts.URL, "tax_office") + "/v1/messages", `{"id":"x"}`, nil, 404},
		"lookup by nothing":  {base + "/v1/persons/lookup", `{}`, nil, 400},
		"lookup, bad JSON":   {base + "/v1/persons/lookup", `[`, nil, 400},
		"lookup, unknown ag": {BaseURL(ts.URL, "tax_office") + "/v1/persons/lookup", `{"id_number":"1"}`, nil, 404},
	} {
		code, body := do(t, context.Background(), "POST", c.url, c.body, c.header...)
		var e struct{ Error string }
		if code != c.code || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s, want %d with an error", name, code, body, c.code)
		}
	}
	if r := sim.Report()[gateway.AgencyTradeUnion]; r.Received != 0 || r.Accepted != 0 || r.Invalid != 7 {
		t.Fatalf("report %+v", r)
	}
}

func TestDownRecordsNothing(t *testing.T) {
	sim, ts := start(t, Config{Agencies: map[string]Faults{gateway.AgencyCivilAffairs: {Down: true}}})
	m := message("S1/settlement", gateway.AgencyCivilAffairs, gateway.OutboxKindSettlement)
	if code, st := post(t, ts, m); code != http.StatusServiceUnavailable || st != "agency down" {
		t.Fatalf("down: %d %s", code, st)
	}
	code, _ := do(t, context.Background(), "POST", BaseURL(ts.URL, gateway.AgencyCivilAffairs)+"/v1/persons/lookup", `{"id_number":"1"}`)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("lookup while down: %d", code)
	}
	if r := sim.Report()[gateway.AgencyCivilAffairs]; r.Received != 0 || r.Accepted != 0 || r.RejectedFaults != 2 {
		t.Fatalf("report %+v", r)
	}
	if code, _ := post(t, ts, message("S1/settlement", gateway.AgencyTradeUnion, "settlement")); code != http.StatusCreated {
		t.Fatalf("another agency is up: %d", code)
	}
}

// TestControl takes an agency down and brings it back as an outbox test would, and checks
// that a message refused while it was down arrives once when retried.
func TestControl(t *testing.T) {
	sim, ts := start(t, Config{})
	ctl := func(body string) (int, []byte) {
		return do(t, context.Background(), "POST", ts.URL+"/control", body)
	}
	m := message("S2/settlement", gateway.AgencyCivilAffairs, gateway.OutboxKindSettlement)
	if code, body := ctl(`{"agency":"civil_affairs","down":true}`); code != http.StatusOK {
		t.Fatalf("down: %d %s", code, body)
	}
	if code, _ := post(t, ts, m); code != http.StatusServiceUnavailable {
		t.Fatalf("post while down: %d", code)
	}
	code, body := ctl(`{"agency":"civil_affairs","down":false,"latency":{"p50":"1ms","p99":"2ms"},"error_rate":0}`)
	var resp struct {
		Faults struct {
			Down    bool
			Latency map[string]string
		}
	}
	if err := json.Unmarshal(body, &resp); code != http.StatusOK || err != nil || resp.Faults.Down || resp.Faults.Latency["p99"] != "2ms" {
		t.Fatalf("up: %d %v %s", code, err, body)
	}
	if code, _ := post(t, ts, m); code != http.StatusCreated {
		t.Fatalf("retry once up: %d", code)
	}
	if code, _ := ctl(`{"agency":"civil_affairs","latency":"5ms"}`); code != http.StatusOK {
		t.Fatalf("fixed latency: %d", code)
	}
	if r := sim.Report()[gateway.AgencyCivilAffairs]; r.Accepted != 1 || r.RejectedFaults != 1 {
		t.Fatalf("report %+v", r)
	}
	for body, want := range map[string]int{
		`{"agency":"tax_office","down":true}`:                              404,
		`{"agency":"civil_affairs","error_rate":1.5}`:                      400,
		`{"agency":"civil_affairs","latency":"soon"}`:                      400,
		`{"agency":"civil_affairs","latency":{"p50":"20ms"}}`:              400,
		`{"agency":"civil_affairs","latency":{"p50":"20ms","p99":"10ms"}}`: 400,
		`{"agency":`: 400,
	} {
		if code, b := ctl(body); code != want {
			t.Errorf("%s: %d %s, want %d", body, code, b, want)
		}
	}
	f, _ := sim.Control(Control{Agency: gateway.AgencyCivilAffairs})
	if f.Latency != (Latency{Fixed: 5 * time.Millisecond}) || f.ErrorRate != 0 {
		t.Fatalf("a refused control changed the faults: %+v", f)
	}
}

// TestBlackhole: a blackholed agency answers nothing until the client's deadline, and
// records nothing.
func TestBlackhole(t *testing.T) {
	sim, ts := start(t, Config{Agencies: map[string]Faults{gateway.AgencyTradeUnion: {Down: true, Blackhole: true}}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	m := message("S3/settlement", gateway.AgencyTradeUnion, gateway.OutboxKindSettlement)
	code, body := do(t, ctx, "POST", BaseURL(ts.URL, m.Agency)+"/v1/messages", m)
	if code != 0 || ctx.Err() == nil {
		t.Fatalf("blackhole answered: %d %s", code, body)
	}
	if r := sim.Report()[gateway.AgencyTradeUnion]; r.Received != 0 || r.Blackholed != 1 || r.RejectedFaults != 0 {
		t.Fatalf("report %+v", r)
	}
	// Close lets a hanging request go, so a server shutdown is not held up by one.
	done := make(chan struct{})
	go func() {
		defer close(done)
		do(t, context.Background(), "POST", BaseURL(ts.URL, m.Agency)+"/v1/messages", m)
	}()
	for sim.Report()[gateway.AgencyTradeUnion].Blackholed < 2 {
		time.Sleep(time.Millisecond)
	}
	sim.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a blackholed request")
	}
}

// TestDeliveredThenTimedOut: the effect is taken before the latency, so a client giving up
// during it has delivered, and its retry is a duplicate.
func TestDeliveredThenTimedOut(t *testing.T) {
	sim, ts := start(t, Config{Agencies: map[string]Faults{gateway.AgencyRedCross: {Latency: Latency{Fixed: time.Hour}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	m := message("S4/settlement", gateway.AgencyRedCross, gateway.OutboxKindSettlement)
	if code, _ := do(t, ctx, "POST", BaseURL(ts.URL, m.Agency)+"/v1/messages", m); code != 0 {
		t.Fatalf("answered within the hour: %d", code)
	}
	if _, err := sim.Control(Control{Agency: m.Agency, Latency: &Latency{}}); err != nil {
		t.Fatal(err)
	}
	if code, st := post(t, ts, m); code != http.StatusOK || st != "duplicate" {
		t.Fatalf("retry: %d %s", code, st)
	}
}

func TestFixedLatency(t *testing.T) {
	_, ts := start(t, Config{Agencies: map[string]Faults{gateway.AgencyRedCross: {Latency: Latency{Fixed: 30 * time.Millisecond}}}})
	t0 := time.Now()
	post(t, ts, message("S5/settlement", gateway.AgencyRedCross, gateway.OutboxKindSettlement))
	if d := time.Since(t0); d < 30*time.Millisecond {
		t.Fatalf("answered in %s", d)
	}
}

// TestErrorRate with a fixed seed: loose bounds, since the point is "about 10%", not the
// stream's exact draws.
func TestErrorRate(t *testing.T) {
	sim, err := New(Config{Seed: 1, Agencies: map[string]Faults{gateway.AgencyInsuranceBureau: {ErrorRate: 0.1}}})
	if err != nil {
		t.Fatal(err)
	}
	h := sim.Handler()
	const n = 2000
	failed := 0
	for i := range n {
		m := message(fmt.Sprintf("S%d/settlement", i), gateway.AgencyInsuranceBureau, gateway.OutboxKindSettlement)
		body, _ := json.Marshal(m)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/agencies/insurance_bureau/v1/messages", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusServiceUnavailable:
			failed++
		case http.StatusCreated:
		default:
			t.Fatalf("status %d", rec.Code)
		}
	}
	if failed < 150 || failed > 250 {
		t.Fatalf("%d of %d failed at a 10%% error rate", failed, n)
	}
	r := sim.Report()[gateway.AgencyInsuranceBureau]
	if r.RejectedFaults != int64(failed) || r.Accepted != int64(n-failed) {
		t.Fatalf("report %+v", r)
	}
	// The same seed draws the same faults and latencies.
	cfg := Config{Seed: 7, Agencies: map[string]Faults{gateway.AgencyInsuranceBureau: {
		ErrorRate: 0.5, Latency: Latency{P50: time.Millisecond, P99: 10 * time.Millisecond}}}}
	x, _ := New(cfg)
	y, _ := New(cfg)
	for range 100 {
		if x.admit(x.agencies[gateway.AgencyInsuranceBureau]) != y.admit(y.agencies[gateway.AgencyInsuranceBureau]) {
			t.Fatal("one seed, two fates")
		}
	}
}

func TestLogNormalLatency(t *testing.T) {
	l := Latency{P50: 20 * time.Millisecond, P99: 200 * time.Millisecond}
	r := rand.New(rand.NewPCG(1, 2))
	d := make([]time.Duration, 20000)
	for i := range d {
		d[i] = l.draw(r)
	}
	slices.Sort(d)
	p50, p99 := d[len(d)/2], d[len(d)*99/100]
	if math.Abs(float64(p50-l.P50)) > 0.1*float64(l.P50) || math.Abs(float64(p99-l.P99)) > 0.2*float64(l.P99) {
		t.Fatalf("p50 %s, p99 %s; want about %s and %s", p50, p99, l.P50, l.P99)
	}
}

func TestOutageWindow(t *testing.T) {
	clk := newClock()
	sim, ts := start(t, Config{Now: clk.Now, Agencies: map[string]Faults{
		gateway.AgencyCivilAffairs: {Outages: []Window{{Start: 30 * time.Second, Duration: 20 * time.Second}}},
	}})
	for _, c := range []struct {
		at   time.Duration
		code int
	}{{0, 201}, {29 * time.Second, 201}, {30 * time.Second, 503}, {49 * time.Second, 503}, {50 * time.Second, 201}, {time.Hour, 201}} {
		clk.set(c.at)
		m := message("at-"+c.at.String(), gateway.AgencyCivilAffairs, gateway.OutboxKindSettlement)
		if code, _ := post(t, ts, m); code != c.code {
			t.Errorf("at %s: %d, want %d", c.at, code, c.code)
		}
	}
	if r := sim.Report()[gateway.AgencyCivilAffairs]; r.Accepted != 4 || r.RejectedFaults != 2 {
		t.Fatalf("report %+v", r)
	}
}

func TestFlapping(t *testing.T) {
	clk := newClock()
	_, ts := start(t, Config{Now: clk.Now, Agencies: map[string]Faults{
		gateway.AgencyTradeUnion: {Flap: &Flap{Up: 5 * time.Second, Down: 3 * time.Second}},
	}})
	var got []int
	for i := range 16 { // a second at a time through two cycles
		code, _ := post(t, ts, message(fmt.Sprintf("S%d/settlement", i), gateway.AgencyTradeUnion, gateway.OutboxKindSettlement))
		got = append(got, code)
		clk.advance(time.Second)
	}
	up, down := 201, 503
	want := []int{up, up, up, up, up, down, down, down, up, up, up, up, up, down, down, down}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "persons.jsonl")
	content := `{"id_number":"32040219800101123x","name":"张三丰","scheme":"resident","status":"adult","insured_region":"320400","social_security_card":"C32040001"}
not json
{"id_number":"370811197003033456","name":"王五","scheme":"employee","status":"in_service","insured_region":"370800"}
`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sim, ts := start(t, Config{PersonsFile: file, Persons: []cache.Line{{IDNumber: "110101199001011237", Name: "赵六", InsuredRegion: "110100"}}})
	if n, bad := sim.Persons(); n != 3 || len(bad) != 1 || bad[0].Line != 2 {
		t.Fatalf("persons %d, bad %v", n, bad)
	}
	base := BaseURL(ts.URL, gateway.AgencyInsuranceBureau)
	for q, want := range map[string]string{
		`{"id_number":"32040219800101123X"}`:   "张三丰", // the check letter in either case
		`{"social_security_card":"C32040001"}`: "张三丰",
		`{"id_number":"370811197003033456"}`:   "王五",
		`{"id_number":"110101199001011237"}`:   "赵六",
		`{"id_number":"999999999999999999"}`:   "",
		`{"social_security_card":"C0"}`:        "",
	} {
		code, body := do(t, context.Background(), "POST", base+"/v1/persons/lookup", q)
		var l cache.Line
		var e struct{ Error string }
		switch {
		case want == "" && (code != http.StatusNotFound || json.Unmarshal(body, &e) != nil || e.Error != "person not found"):
			t.Errorf("%s: %d %s, want 404 person not found", q, code, body)
		case want != "" && (code != http.StatusOK || json.Unmarshal(body, &l) != nil || l.Name != want):
			t.Errorf("%s: %d %s, want %s", q, code, body, want)
		}
	}
	if r := sim.Report()[gateway.AgencyInsuranceBureau]; r.Lookups != 6 || r.Received != 0 {
		t.Fatalf("report %+v", r)
	}
	if _, err := New(Config{PersonsFile: filepath.Join(dir, "none.jsonl")}); err == nil {
		t.Fatal("a missing persons file was accepted")
	}
}

func TestMissing(t *testing.T) {
	sim, ts := start(t, Config{})
	for _, id := range []string{"A/settlement", "B/settlement", "X/settlement"} {
		post(t, ts, message(id, gateway.AgencyCommercialInsurer, gateway.OutboxKindSettlement))
	}
	code, body := do(t, context.Background(), "POST", ts.URL+"/report/missing",
		map[string]any{"agency": gateway.AgencyCommercialInsurer, "ids": []string{"A/settlement", "B/settlement", "C/settlement"}})
	var d Diff
	if err := json.Unmarshal(body, &d); code != http.StatusOK || err != nil {
		t.Fatalf("missing: %d %v %s", code, err, body)
	}
	if !slices.Equal(d.Missing, []string{"C/settlement"}) || !slices.Equal(d.Unexpected, []string{"X/settlement"}) {
		t.Fatalf("diff %+v", d)
	}
	code, body = do(t, context.Background(), "POST", ts.URL+"/report/missing", map[string]any{"agency": gateway.AgencyRedCross, "ids": []string{}})
	if code != http.StatusOK || string(bytes.TrimSpace(body)) != `{"missing":[],"unexpected":[]}` {
		t.Fatalf("nothing sent, nothing received: %d %s", code, body)
	}
	if code, _ := do(t, context.Background(), "POST", ts.URL+"/report/missing", map[string]any{"agency": "tax_office"}); code != http.StatusNotFound {
		t.Fatalf("unknown agency: %d", code)
	}
	if _, err := sim.Missing("tax_office", nil); !errors.Is(err, ErrUnknownAgency) {
		t.Fatalf("Missing: %v", err)
	}
}

func TestHealthz(t *testing.T) {
	_, ts := start(t, Config{})
	if code, _ := do(t, context.Background(), "GET", ts.URL+"/healthz", nil); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"unknown agency": {Agencies: map[string]Faults{"tax_office": {}}},
		"error rate":     {Agencies: map[string]Faults{gateway.AgencyRedCross: {ErrorRate: -0.1}}},
		"outage":         {Agencies: map[string]Faults{gateway.AgencyRedCross: {Outages: []Window{{Start: time.Second}}}}},
		"flap":           {Agencies: map[string]Faults{gateway.AgencyRedCross: {Flap: &Flap{Up: time.Second}}}},
		"latency":        {Agencies: map[string]Faults{gateway.AgencyRedCross: {Latency: Latency{Fixed: 1, P50: 1, P99: 2}}}},
		"person":         {Persons: []cache.Line{{Name: "nobody"}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
