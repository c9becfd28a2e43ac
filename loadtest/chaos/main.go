// Command chaos settles a steady load through crashes and outages, then proves that no
// acknowledged settlement was lost, that no request was settled twice, that the ledger
// passes `onestop audit`, and that every agency received each of its messages once.
//
//	go run ./loadtest/chaos                 # the full form: 12,000 requests, 30 kills, ~3½ minutes
//	go run ./loadtest/chaos -requests 1500 -rate 150 -kills 2 -redis-outage 3s -agency-outage 3s -postgres-down 1s
//	                                        # the short form (chaos_test.go; CI)
//
// Everything runs privately, in temporary directories and on free loopback ports, so that
// nothing here disturbs the machine's shared Postgres and Redis: a Postgres cluster of its
// own (initdb, fsync on; as root run as the postgres user, initdb refusing root), a
// redis-server without persistence, `onestop agency-sim` for every agency, and one
// `onestop serve` kept running by a supervisor that starts a new one whenever it dies.
// The onestop binary is built once from this checkout (or -onestop).
//
// The load: -workers cashiers take the next request at -rate a second; each request is a
// bill of its own with a request_id of its own. Any answer that says "try again" —
// UNAVAILABLE (OUTCOME_UNKNOWN, LEDGER_UNAVAILABLE, ELIGIBILITY_UNAVAILABLE, the gateway
// unreachable), DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED — is retried with the same request_id
// and the same content, with backoff, until acknowledged or -request-deadline passes.
//
// The schedule, over the planned length of the load T = requests / rate:
//
//	T×k/(kills+1), k = 1…kills   SIGKILL the serving gateway; the supervisor starts the next
//	0.15 T                       the -agency goes down (simulator /control) for -agency-outage
//	0.35 T                       Postgres crashes (pg_ctl stop -m immediate), restarts after -postgres-down
//	0.55 T                       Redis is killed, and restarted empty after -redis-outage; the
//	                             snapshot is loaded again as an operator would (onestop snapshot load)
//
// The agency goes first because its effect lasts longest: its breaker stays open 10 s after
// it is back, and the messages it turned away wait out a backoff that has grown meanwhile;
// the drain after the load is shorter when that tail overlaps the load.
// Then everything is up again; the outbox drains; the checks run; the figures are printed.
// The exit status is 1 when a check fails, 2 when the experiment could not run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"onestop/gateway"
	"onestop/gateway/ledger"
)

type options struct {
	Requests        int
	Workers         int
	Rate            float64
	Kills           int
	PostgresDown    time.Duration
	RedisOutage     time.Duration
	Agency          string
	AgencyOutage    time.Duration
	RequestDeadline time.Duration
	AttemptTimeout  time.Duration
	Persons         int
	Seed            uint64
	DrainTimeout    time.Duration
	Onestop         string
	Keep            bool
}

func (o *options) flags(fs *flag.FlagSet) {
	fs.IntVar(&o.Requests, "requests", 12_000, "requests to settle")
	fs.IntVar(&o.Workers, "workers", 16, "cashiers sending at once")
	fs.Float64Var(&o.Rate, "rate", 60, "requests started a second (the schedule is laid over requests/rate)")
	fs.IntVar(&o.Kills, "kills", 30, "times the gateway is SIGKILLed, evenly over the load")
	fs.DurationVar(&o.PostgresDown, "postgres-down", 3*time.Second, "how long Postgres stays down after its crash")
	fs.DurationVar(&o.RedisOutage, "redis-outage", 10*time.Second, "how long Redis stays down")
	fs.StringVar(&o.Agency, "agency", gateway.AgencyInsuranceBureau, "the agency taken down (the insurance bureau hears of nearly every settlement)")
	fs.DurationVar(&o.AgencyOutage, "agency-outage", 20*time.Second, "how long the agency stays down")
	fs.DurationVar(&o.RequestDeadline, "request-deadline", 60*time.Second, "a request not acknowledged this long after its first attempt counts as failed")
	fs.DurationVar(&o.AttemptTimeout, "attempt-timeout", 5*time.Second, "deadline of each attempt")
	fs.IntVar(&o.Persons, "persons", 20_000, "persons in the generated snapshot")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the generated data")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 3*time.Minute, "how long the outbox may take to drain after the load")
	fs.StringVar(&o.Onestop, "onestop", "", "a built onestop binary (default: go build ./cmd/onestop)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directories (logs, data, the Postgres cluster); they are kept anyway when a check fails")
}

func (o *options) validate() error {
	switch {
	case o.Requests < 1 || o.Workers < 1 || o.Rate <= 0 || o.Kills < 0 || o.Persons < 10:
		return errors.New("-requests, -workers, -rate and -persons must be positive, -kills not negative")
	case o.RequestDeadline <= 0 || o.AttemptTimeout <= 0 || o.DrainTimeout <= 0:
		return errors.New("-request-deadline, -attempt-timeout and -drain-timeout must be positive")
	}
	for _, a := range gateway.Agencies {
		if a == o.Agency {
			return nil
		}
	}
	return fmt.Errorf("-agency %q: one of %s", o.Agency, strings.Join(gateway.Agencies, ", "))
}

func main() {
	var opt options
	opt.flags(flag.CommandLine)
	flag.Parse()
	if err := opt.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := run(ctx, opt, os.Stderr)
	if f != nil {
		f.Command = strings.Join(append([]string{"go run ./loadtest/chaos"}, os.Args[1:]...), " ")
		f.print(os.Stdout)
	}
	switch {
	case err == nil:
	case errors.Is(err, errFailed):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
}

// personKeySecret keys the generated persons; the run's data is thrown away.
const personKeySecret = "chaos-run-person-key-secret"

// run is the whole experiment: set up, load under the schedule, drain, check. The figures
// come back whenever the load ran; the error is errFailed when a check failed.
func run(ctx context.Context, opt options, out io.Writer) (f *figures, err error) {
	t0 := time.Now()
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(out, "[%6.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}
	tl, err := findTools()
	if err != nil {
		return nil, err
	}
	r, err := setUp(ctx, opt, tl, logf)
	defer func() {
		if err != nil && f != nil && !errors.Is(err, errFailed) {
			f.fail("the run did not finish: %v", err) // so its figures cannot read as a pass
		}
		if r != nil {
			r.close(opt.Keep || err != nil) // a failed check is an error too: its logs stay
		}
	}()
	if err != nil {
		return nil, err
	}

	// The load, and the schedule beside it.
	runID := strconv.FormatInt(time.Now().UnixMilli(), 36)
	ld, err := newLoad(opt, r.grpcAddr, runID, r.bills)
	if err != nil {
		return nil, err
	}
	defer ld.close()
	f = &figures{Workers: opt.Workers, Rate: opt.Rate, Agency: opt.Agency, PostgresDown: opt.PostgresDown}
	f.PlannedLoad = time.Duration(float64(opt.Requests) / opt.Rate * float64(time.Second))
	logf("load: %d requests, %d workers at %.0f/s (about %s); %d kills, Postgres crash, Redis down %s, %s down %s",
		opt.Requests, opt.Workers, opt.Rate, f.PlannedLoad.Round(time.Second), opt.Kills, opt.RedisOutage, opt.Agency, opt.AgencyOutage)
	loadDone, scheduleDone := make(chan struct{}), make(chan struct{})
	ch := &chaos{opt: opt, rig: r, logf: logf, f: f}
	go func() { defer close(scheduleDone); ch.run(ctx, f.PlannedLoad, loadDone) }()
	go progress(ld, loadDone, logf)
	// A gateway that never serves again would otherwise keep every request retrying for
	// its whole deadline, one after another.
	limit := 2*f.PlannedLoad + opt.RequestDeadline + 5*time.Minute
	loadCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	loadStart := time.Now()
	ld.run(loadCtx)
	f.LoadTime = time.Since(loadStart)
	close(loadDone)
	<-scheduleDone // every outage over, everything up again
	f.collect(ld)
	switch {
	case ctx.Err() != nil:
		return f, ctx.Err()
	case loadCtx.Err() != nil:
		return f, fmt.Errorf("the load did not finish within %s", limit)
	}
	logf("load done in %s; waiting for the outbox to drain", f.LoadTime.Round(100*time.Millisecond))

	// Drain, then check.
	pool, err := ledger.Connect(ctx, r.pg.URL(), nil)
	if err != nil {
		return f, err
	}
	defer pool.Close()
	drainStart := time.Now()
	st, derr := drain(ctx, pool, opt.DrainTimeout, logf)
	f.DrainTime, f.OutboxDead = time.Since(drainStart), st.Dead
	f.OutboxDrained = derr == nil && st.Dead == 0
	if derr != nil {
		logf("outbox: %v", derr)
	}
	logf("checking: onestop audit, the ledger against the acknowledgements, the agencies")
	audit(ctx, r.bin, r.pg.URL(), r.policies, f)
	settled, err := checkLedger(ctx, pool, ld.reqs, runID, f)
	if err != nil {
		return f, err
	}
	if err := checkAgencies(ctx, pool, r.simURL, settled, f); err != nil {
		return f, err
	}
	f.GatewayStarts, f.FailedStarts, f.Kills, f.UnexpectedExits = r.gw.counts()
	f.Elapsed = time.Since(t0)
	f.judge(opt.Requests, opt.Kills)
	if !f.ok() {
		return f, errFailed
	}
	return f, nil
}

// collect sums the requests' outcomes.
func (f *figures) collect(l *load) {
	f.Refused, f.Failed = map[string]int{}, map[string]int{}
	for _, r := range l.reqs {
		if r.attempts == 0 {
			continue // never sent: interrupted
		}
		f.Requests++
		if r.attempts > 1 {
			f.Retried++
			f.Retries += r.attempts - 1
		}
		switch {
		case r.acked:
			f.Acked++
			if r.replayed {
				f.Replayed++
			}
		case r.refused != "":
			f.Refused[r.refused]++
		default:
			f.Failed[r.failed]++
		}
	}
	l.mu.Lock()
	f.RetriesByCause = l.retriesByCause
	l.mu.Unlock()
}

func progress(l *load, done <-chan struct{}, logf func(string, ...any)) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			logf("load: %d sent, %d done, %d retrying", l.sent.Load(), l.done.Load(), l.retrying.Load())
		}
	}
}

// chaos carries out the schedule (see the package comment).
type chaos struct {
	opt  options
	rig  *rig
	logf func(string, ...any)
	f    *figures
}

func (c *chaos) run(ctx context.Context, planned time.Duration, loadDone <-chan struct{}) {
	start := time.Now()
	// A kill waits for a serving gateway to kill; once the load is over there is no point.
	killCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-loadDone; cancel() }()
	var wg sync.WaitGroup
	at := func(share float64, event func()) {
		wg.Go(func() {
			select {
			case <-time.After(time.Until(start.Add(time.Duration(share * float64(planned))))):
				event()
			case <-ctx.Done():
			}
		})
	}
	for k := 1; k <= c.opt.Kills; k++ {
		at(float64(k)/float64(c.opt.Kills+1), func() { c.kill(killCtx, k) })
	}
	at(0.15, func() { c.agencyOutage() })
	at(0.35, func() { c.crashPostgres() })
	at(0.55, func() { c.redisOutage(ctx) })
	wg.Wait()
}

func (c *chaos) kill(ctx context.Context, k int) {
	if ctx.Err() != nil {
		return // the load is over: nothing left to interrupt
	}
	pid, err := c.rig.gw.kill(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.logf("kill %d: %v", k, err)
		}
		return
	}
	t := time.Now()
	c.logf("kill %d: gateway pid %d SIGKILLed", k, pid)
	if err := c.rig.gw.waitServing(ctx); err == nil {
		c.logf("kill %d: the next gateway serves, %s after", k, time.Since(t).Round(10*time.Millisecond))
	}
}

func (c *chaos) crashPostgres() {
	c.logf("Postgres: crash (stop -m immediate)")
	if err := c.rig.pg.crash(); err != nil {
		c.logf("Postgres: %v", err)
		return
	}
	time.Sleep(c.opt.PostgresDown)
	if err := c.rig.pg.start(); err != nil {
		c.logf("Postgres: %v", err)
		return
	}
	c.f.PostgresRestarts++
	c.logf("Postgres: up again (crash recovery done)")
}

func (c *chaos) redisOutage(ctx context.Context) {
	c.logf("Redis: killed")
	t := time.Now()
	c.rig.redis.kill()
	time.Sleep(c.opt.RedisOutage)
	if err := c.rig.redis.start(); err != nil {
		c.logf("Redis: %v", err)
		return
	}
	c.f.RedisOutage = time.Since(t)
	c.logf("Redis: up again, empty; loading the snapshot (onestop snapshot load)")
	// A gateway starting now loads it too (serve --snapshot, when Redis holds none); whichever
	// takes the loading mark first does it, and the other is told a load is running.
	out, err := exec.CommandContext(ctx, c.rig.bin, "snapshot", "load", c.rig.snapshot, "--quiet", "--redis", c.rig.redis.URL(),
		"--person-key-secret", personKeySecret).CombinedOutput()
	switch {
	case err != nil && strings.Contains(string(out), "another snapshot load is running"):
		c.logf("Redis: a gateway starting meanwhile is loading the snapshot already")
		return
	case err != nil:
		c.logf("Redis: snapshot load: %v: %s", err, strings.TrimSpace(string(out)))
		return
	}
	c.logf("Redis: snapshot loaded %s after the kill", time.Since(t).Round(100*time.Millisecond))
}

func (c *chaos) agencyOutage() {
	control := func(down bool) error {
		return postJSON(c.rig.simURL+"/control", map[string]any{"agency": c.opt.Agency, "down": down}, nil)
	}
	c.logf("%s: down", c.opt.Agency)
	t := time.Now()
	if err := control(true); err != nil {
		c.logf("%s: %v", c.opt.Agency, err)
		return
	}
	time.Sleep(c.opt.AgencyOutage)
	if err := control(false); err != nil {
		c.logf("%s: %v", c.opt.Agency, err)
		return
	}
	c.f.AgencyOutage = time.Since(t)
	c.logf("%s: up again", c.opt.Agency)
}
