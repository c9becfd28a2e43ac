package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"onestop/gateway"
	"onestop/gateway/ledger"
)

// figures are the run's closing numbers; ok says whether they prove what the experiment is
// for (failures says why not).
type figures struct {
	Command     string
	Workers     int
	Rate        float64
	PlannedLoad time.Duration

	// The requests, by outcome.
	Requests, Acked, Replayed, Retried, Retries int
	RetriesByCause                              map[string]int
	Refused, Failed                             map[string]int // by reason; by the last cause

	// The ledger against the acknowledgements.
	Settlements, UnackedStored int // UnackedStored: committed, but the terminal never heard
	Duplicates, Lost, Foreign  int
	Examples                   []string // of the above, for a report

	// What the schedule did.
	Kills, GatewayStarts, FailedStarts, UnexpectedExits int
	PostgresRestarts                                    int
	PostgresDown, RedisOutage, AgencyOutage             time.Duration
	Agency                                              string
	AgencyTurnedAway                                    int64 // requests the agency answered 503 while down

	// The agencies.
	OutboxDrained                  bool
	OutboxDead                     int
	Expected, Delivered            int // messages the agencies should hold, and hold
	Missing, Unexpected, Conflicts int
	Redelivered                    int64             // repeats the agencies ignored by message id
	ByAgency                       map[string][2]int // expected, accepted

	AuditPassed                  bool
	AuditSummary                 string
	LoadTime, DrainTime, Elapsed time.Duration
	Failures                     []string // why the run fails; none: it passes
}

func (f *figures) ok() bool { return len(f.Failures) == 0 }

func (f *figures) fail(format string, args ...any) {
	f.Failures = append(f.Failures, fmt.Sprintf(format, args...))
}

// drain waits for the outbox to empty: every message delivered, none dead.
func drain(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration, logf func(string, ...any)) (gateway.OutboxStats, error) {
	l := ledger.NewPostgres(pool)
	deadline := time.Now().Add(timeout)
	last := time.Time{}
	for {
		st, err := l.OutboxStats(ctx)
		if err == nil && st.Pending == 0 {
			return st, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%d messages still pending after %s (%v)", st.Pending, timeout, st.PendingByAgency)
			}
			return st, err
		}
		if time.Since(last) > 5*time.Second && err == nil {
			logf("outbox: %d pending %v, %d dead", st.Pending, st.PendingByAgency, st.Dead)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// audit runs `onestop audit` as an operator would and keeps its summary.
func audit(ctx context.Context, bin, url, policies string, f *figures) {
	out, err := exec.CommandContext(ctx, bin, "audit", "--postgres-url", url, "--policies", policies).CombinedOutput()
	text := strings.TrimSpace(string(out))
	f.AuditPassed = err == nil
	if i := strings.Index(text, "settlements "); i >= 0 {
		f.AuditSummary = strings.Join(strings.Fields(text[i:]), " ")
	} else {
		f.AuditSummary = text
	}
	if err != nil {
		lines := strings.Split(text, "\n")
		f.fail("onestop audit: %v\n%s", err, strings.Join(lines[:min(len(lines), 30)], "\n"))
	}
}

// stored is a settlement as the ledger holds it.
type stored struct {
	answer
	institution, requestID string
	cancelled              bool
}

// checkLedger compares what was acknowledged with what the ledger holds: every
// acknowledgement stored as acknowledged (else lost), one settlement per request (else
// duplicates), and no settlement of a request we did not send.
func checkLedger(ctx context.Context, pool *pgxpool.Pool, reqs []*request, runID string, f *figures) (map[string]stored, error) {
	rows, err := pool.Query(ctx, `select id::text, institution_id, request_id, total::text, fund_total::text, hospital::text,
		account::text, cash::text, cancelled_at is not null from settlements`)
	if err != nil {
		return nil, err
	}
	byID := map[string]stored{}
	byRequest := map[[2]string][]string{} // (institution, request id) → settlement ids
	bySeq := map[int][]string{}           // the logical request → settlement ids
	for rows.Next() {
		var id string
		var s stored
		if err := rows.Scan(&id, &s.institution, &s.requestID, &s.total, &s.fundTotal, &s.hospital, &s.account, &s.cash, &s.cancelled); err != nil {
			rows.Close()
			return nil, err
		}
		s.settlementID = id
		byID[id] = s
		key := [2]string{s.institution, s.requestID}
		byRequest[key] = append(byRequest[key], id)
		seq, ok := seqOf(s.requestID, runID)
		if !ok || seq >= len(reqs) {
			f.Foreign++
			f.example("settlement %s of request %q: not a request this run sent", id, s.requestID)
			continue
		}
		bySeq[seq] = append(bySeq[seq], id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	f.Settlements = len(byID)
	// The schema makes (institution, request id) unique, and a request's id is its
	// sequence number: both counts are 1 unless something is badly wrong. Counted anyway,
	// the schema being one of the things under test.
	for key, ids := range byRequest {
		if len(ids) > 1 {
			f.example("request %s of %s: %d settlements %v", key[1], key[0], len(ids), ids)
		}
	}
	for _, r := range reqs {
		ids := bySeq[r.seq]
		if len(ids) > 1 {
			f.Duplicates += len(ids) - 1
			f.example("request %d: %d settlements %v", r.seq, len(ids), ids)
		}
		switch {
		case r.acked:
			s, ok := byID[r.answer.settlementID]
			switch {
			case !ok:
				f.Lost++
				f.example("request %s acknowledged as settlement %s, which the ledger does not hold", r.id, r.answer.settlementID)
			case s.requestID != r.id || s.institution != r.req.InstitutionId:
				f.Lost++
				f.example("request %s acknowledged as settlement %s, which the ledger holds for %s/%s", r.id, s.settlementID, s.institution, s.requestID)
			case s.answer != r.answer:
				f.Lost++
				f.example("request %s: acknowledged %+v, stored %+v", r.id, r.answer, s.answer)
			case s.cancelled:
				f.Lost++
				f.example("request %s: settlement %s is cancelled; nobody cancelled it", r.id, s.settlementID)
			}
		case len(ids) > 0:
			// Sent, never acknowledged (refused, or out of time), yet committed: the
			// terminal did not learn of it. Allowed once; its retry would have found it.
			f.UnackedStored++
		}
	}
	return byID, nil
}

func seqOf(requestID, runID string) (int, bool) {
	rest, ok := strings.CutPrefix(requestID, "chaos-"+runID+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

func (f *figures) example(format string, args ...any) {
	if len(f.Examples) < 20 {
		f.Examples = append(f.Examples, fmt.Sprintf(format, args...))
	}
}

// checkAgencies asks the simulator whether each agency received exactly the messages the
// ledger calls for. What it should hold is derived from the ledger, not the outbox: a
// settlement message to every agency one of its payments routes to (gateway.FundAgencies,
// the account to the insurance bureau), and a high-cost alert to civil affairs per row of
// high_cost_alerts.
func checkAgencies(ctx context.Context, pool *pgxpool.Pool, simURL string, settled map[string]stored, f *figures) error {
	want := map[string]map[string]bool{}
	add := func(agency, id string) {
		if want[agency] == nil {
			want[agency] = map[string]bool{}
		}
		want[agency][id] = true
	}
	rows, err := pool.Query(ctx, `select settlement_id::text, fund from fund_payments`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, fund string
		if err := rows.Scan(&id, &fund); err != nil {
			rows.Close()
			return err
		}
		if a, ok := gateway.FundAgencies[fund]; ok {
			add(a, id+"/"+gateway.OutboxKindSettlement)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for id, s := range settled {
		if s.account != "0.00" {
			add(gateway.FundAgencies["personal_account"], id+"/"+gateway.OutboxKindSettlement)
		}
	}
	rows, err = pool.Query(ctx, `select person_key, year, threshold::text from high_cost_alerts`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var person, threshold string
		var year int
		if err := rows.Scan(&person, &year, &threshold); err != nil {
			rows.Close()
			return err
		}
		add(gateway.AgencyCivilAffairs, fmt.Sprintf("%s/%d/high-cost/%s", person, year, threshold))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	var report map[string]struct {
		Accepted       int64 `json:"accepted"`
		Duplicates     int64 `json:"duplicates"`
		Conflicts      int64 `json:"conflicts"`
		RejectedFaults int64 `json:"rejected_faults"`
	}
	if err := getJSON(simURL+"/report", &report); err != nil {
		return err
	}
	f.ByAgency = map[string][2]int{}
	for _, agency := range gateway.Agencies {
		ids := slices.Sorted(maps.Keys(want[agency]))
		var diff struct {
			Missing    []string `json:"missing"`
			Unexpected []string `json:"unexpected"`
		}
		if err := postJSON(simURL+"/report/missing", map[string]any{"agency": agency, "ids": ids}, &diff); err != nil {
			return err
		}
		r := report[agency]
		f.Expected += len(ids)
		f.Delivered += int(r.Accepted)
		f.Missing += len(diff.Missing)
		f.Unexpected += len(diff.Unexpected)
		f.Conflicts += int(r.Conflicts)
		f.Redelivered += r.Duplicates
		f.ByAgency[agency] = [2]int{len(ids), int(r.Accepted)}
		if agency == f.Agency {
			f.AgencyTurnedAway = r.RejectedFaults
		}
		for _, id := range diff.Missing[:min(3, len(diff.Missing))] {
			f.example("%s never received %s", agency, id)
		}
		for _, id := range diff.Unexpected[:min(3, len(diff.Unexpected))] {
			f.example("%s received %s, which the ledger does not call for", agency, id)
		}
	}
	return nil
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	return decodeResponse(resp, v)
}

func postJSON(url string, body, v any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return err
	}
	return decodeResponse(resp, v)
}

func decodeResponse(resp *http.Response, v any) error {
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s: %s", resp.Request.URL, resp.Status, data)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(data, v)
}

// judge turns the figures into the verdict: the properties the experiment exists for.
func (f *figures) judge(requested int, minKills int) {
	if f.Duplicates > 0 {
		f.fail("%d duplicate settlements", f.Duplicates)
	}
	if f.Lost > 0 {
		f.fail("%d acknowledged settlements lost or changed", f.Lost)
	}
	if f.Foreign > 0 {
		f.fail("%d settlements of requests this run never sent", f.Foreign)
	}
	if !f.OutboxDrained {
		f.fail("the outbox did not drain (%d dead)", f.OutboxDead)
	}
	if f.Missing > 0 || f.Unexpected > 0 || f.Conflicts > 0 {
		f.fail("agencies: %d messages missing, %d unexpected, %d conflicting", f.Missing, f.Unexpected, f.Conflicts)
	}
	if f.Kills < minKills {
		f.fail("only %d of %d kills happened", f.Kills, minKills)
	}
	if f.PostgresRestarts == 0 || f.RedisOutage == 0 || f.AgencyOutage == 0 {
		f.fail("the schedule did not run to its end (Postgres restarts %d, Redis outage %s, agency outage %s)",
			f.PostgresRestarts, f.RedisOutage, f.AgencyOutage)
	}
	if f.UnexpectedExits > 0 {
		f.fail("the gateway exited %d times without being killed (gateway.log says why)", f.UnexpectedExits)
	}
	if f.Acked == 0 {
		f.fail("nothing was acknowledged: the experiment proved nothing")
	}
	if f.Requests != requested {
		f.fail("%d of %d requests sent (interrupted)", f.Requests, requested)
	}
}

// print writes the closing table.
func (f *figures) print(w io.Writer) {
	sum := func(m map[string]int) int {
		n := 0
		for _, v := range m {
			n += v
		}
		return n
	}
	byCause := func(m map[string]int) string {
		if len(m) == 0 {
			return ""
		}
		keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return m[b] - m[a] })
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		return " — " + strings.Join(parts, ", ")
	}
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "  %-27s %s\n", name, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "\nchaos: %s\n", f.Command)
	row("requests sent", "%d (%d workers, %.0f/s planned over %s; load took %s)", f.Requests, f.Workers, f.Rate, f.PlannedLoad.Round(time.Second), f.LoadTime.Round(100*time.Millisecond))
	row("acknowledged", "%d (%d of them replayed: an earlier attempt had committed)", f.Acked, f.Replayed)
	row("retried", "%d requests, %d retries%s", f.Retried, f.Retries, byCause(f.RetriesByCause))
	row("failed (out of time)", "%d%s", sum(f.Failed), byCause(f.Failed))
	row("refused (not retryable)", "%d%s", sum(f.Refused), byCause(f.Refused))
	row("settlements in the ledger", "%d (%d stored without an acknowledgement)", f.Settlements, f.UnackedStored)
	row("duplicates", "%d", f.Duplicates)
	row("lost", "%d", f.Lost)
	row("gateway kills (SIGKILL)", "%d (starts %d, failed starts %d, exits on its own %d)", f.Kills, f.GatewayStarts, f.FailedStarts, f.UnexpectedExits)
	row("Postgres restarts", "%d (crash: pg_ctl stop -m immediate, down %s)", f.PostgresRestarts, f.PostgresDown)
	row("Redis outage", "%s (killed, restarted empty, snapshot reloaded)", f.RedisOutage.Round(100*time.Millisecond))
	row("agency outage", "%s down %s (%d requests turned away)", f.Agency, f.AgencyOutage.Round(100*time.Millisecond), f.AgencyTurnedAway)
	drained := "drained"
	if !f.OutboxDrained {
		drained = "NOT drained"
	}
	row("outbox", "%s in %s, %d dead", drained, f.DrainTime.Round(100*time.Millisecond), f.OutboxDead)
	var agencies []string
	for _, a := range gateway.Agencies {
		if n := f.ByAgency[a]; n[0] > 0 || n[1] > 0 {
			agencies = append(agencies, fmt.Sprintf("%s %d/%d", a, n[1], n[0]))
		}
	}
	row("agencies received", "%d of %d messages once each (%s); missing %d, unexpected %d, conflicting %d; %d redeliveries ignored by id",
		f.Delivered, f.Expected, strings.Join(agencies, ", "), f.Missing, f.Unexpected, f.Conflicts, f.Redelivered)
	audit := "passed"
	if !f.AuditPassed {
		audit = "FAILED"
	}
	row("onestop audit", "%s (%s)", audit, f.AuditSummary)
	row("elapsed", "%s", f.Elapsed.Round(time.Second))
	for _, e := range f.Examples {
		fmt.Fprintf(w, "    %s\n", e)
	}
	if n := sum(f.Failed) + sum(f.Refused); n > 0 {
		// Not a failure of the properties under test, but worth a look: a refusal under
		// chaos may be a transient failure the gateway does not call retryable.
		fmt.Fprintf(w, "NOTE: %d requests were not acknowledged (failed or refused, above)\n", n)
	}
	if f.ok() {
		fmt.Fprintln(w, "PASS")
		return
	}
	fmt.Fprintln(w, "FAIL:")
	for _, e := range f.Failures {
		fmt.Fprintf(w, "  - %s\n", e)
	}
}

var errFailed = errors.New("the chaos run failed its checks")
