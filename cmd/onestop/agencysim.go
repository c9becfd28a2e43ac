package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"onestop/adapters/agencysim"
	"onestop/gateway"
)

// agencySimConfig is onestop agency-sim's flags, before they become an agencysim.Config.
type agencySimConfig struct {
	Addr       string
	Persons    string
	Latency    time.Duration
	LatencyP50 time.Duration
	LatencyP99 time.Duration
	ErrorRate  float64
	Outages    []string // agency@start+duration
	Flaps      []string // agency:up/down
	Blackholes []string // agencies
	Seed       uint64
}

func (c *agencySimConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:7070", "listen address")
	fs.StringVar(&c.Persons, "persons", "", "snapshot file (JSON Lines, or CSV for a .csv name) the agencies' person lookups answer from")
	fs.DurationVar(&c.Latency, "latency", 0, "fixed latency of every answer")
	fs.DurationVar(&c.LatencyP50, "latency-p50", 0, "median of a log-normal latency (with --latency-p99)")
	fs.DurationVar(&c.LatencyP99, "latency-p99", 0, "99th percentile of a log-normal latency (with --latency-p50)")
	fs.Float64Var(&c.ErrorRate, "error-rate", 0, "share of requests answered 503, 0 to 1")
	fs.StringSliceVar(&c.Outages, "outage", nil, "AGENCY@START+DURATION: the agency is down from START after the simulator starts, for DURATION (repeatable)")
	fs.StringSliceVar(&c.Flaps, "flap", nil, "AGENCY:UP/DOWN: the agency is up for UP, then down for DOWN, repeating (repeatable)")
	fs.StringSliceVar(&c.Blackholes, "blackhole", nil, "AGENCY: its down periods hang until the client gives up instead of answering 503 (repeatable)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the latency and error draws")
}

// config turns the flags into the simulator's set-up: latency and error rate for every
// agency, outages, flapping and blackholes for the ones named.
func (c *agencySimConfig) config() (agencysim.Config, error) {
	lat := agencysim.Latency{Fixed: c.Latency, P50: c.LatencyP50, P99: c.LatencyP99}
	switch {
	case c.Latency != 0 && (c.LatencyP50 != 0 || c.LatencyP99 != 0):
		return agencysim.Config{}, errors.New("--latency is a fixed latency: give it or --latency-p50 and --latency-p99, not both")
	case (c.LatencyP50 != 0) != (c.LatencyP99 != 0):
		return agencysim.Config{}, errors.New("--latency-p50 and --latency-p99 go together")
	case c.LatencyP99 < c.LatencyP50:
		return agencysim.Config{}, errors.New("--latency-p99 is below --latency-p50")
	case c.ErrorRate < 0 || c.ErrorRate > 1:
		return agencysim.Config{}, fmt.Errorf("--error-rate %v: not between 0 and 1", c.ErrorRate)
	}
	cfg := agencysim.Config{PersonsFile: c.Persons, Seed: c.Seed, Agencies: map[string]agencysim.Faults{}}
	for _, a := range gateway.Agencies {
		cfg.Agencies[a] = agencysim.Faults{Latency: lat, ErrorRate: c.ErrorRate}
	}
	for _, s := range c.Outages {
		agency, w, err := parseOutage(s)
		if err != nil {
			return agencysim.Config{}, err
		}
		f := cfg.Agencies[agency]
		f.Outages = append(f.Outages, w)
		cfg.Agencies[agency] = f
	}
	for _, s := range c.Flaps {
		agency, fl, err := parseFlap(s)
		if err != nil {
			return agencysim.Config{}, err
		}
		f := cfg.Agencies[agency]
		if f.Flap != nil {
			return agencysim.Config{}, fmt.Errorf("--flap %s: %s flaps once", s, agency)
		}
		f.Flap = &fl
		cfg.Agencies[agency] = f
	}
	for _, agency := range c.Blackholes {
		if err := knownAgency("--blackhole", agency); err != nil {
			return agencysim.Config{}, err
		}
		f := cfg.Agencies[agency]
		f.Blackhole = true
		cfg.Agencies[agency] = f
	}
	return cfg, nil
}

// parseOutage reads AGENCY@START+DURATION, e.g. civil_affairs@30s+20s.
func parseOutage(s string) (string, agencysim.Window, error) {
	bad := func(why string) (string, agencysim.Window, error) {
		return "", agencysim.Window{}, fmt.Errorf("--outage %q: %s (AGENCY@START+DURATION, e.g. civil_affairs@30s+20s)", s, why)
	}
	agency, when, ok := strings.Cut(s, "@")
	if !ok {
		return bad("no @")
	}
	if err := knownAgency("--outage", agency); err != nil {
		return "", agencysim.Window{}, err
	}
	from, length, ok := strings.Cut(when, "+")
	if !ok {
		return bad("no +")
	}
	start, err := time.ParseDuration(from)
	if err != nil || start < 0 {
		return bad("the start is not a duration from the simulator's start")
	}
	d, err := time.ParseDuration(length)
	if err != nil || d <= 0 {
		return bad("the duration is not a positive duration")
	}
	return agency, agencysim.Window{Start: start, Duration: d}, nil
}

// parseFlap reads AGENCY:UP/DOWN, e.g. trade_union:5s/5s.
func parseFlap(s string) (string, agencysim.Flap, error) {
	bad := func(why string) (string, agencysim.Flap, error) {
		return "", agencysim.Flap{}, fmt.Errorf("--flap %q: %s (AGENCY:UP/DOWN, e.g. trade_union:5s/5s)", s, why)
	}
	agency, periods, ok := strings.Cut(s, ":")
	if !ok {
		return bad("no :")
	}
	if err := knownAgency("--flap", agency); err != nil {
		return "", agencysim.Flap{}, err
	}
	u, d, ok := strings.Cut(periods, "/")
	if !ok {
		return bad("no /")
	}
	up, err1 := time.ParseDuration(u)
	down, err2 := time.ParseDuration(d)
	if err1 != nil || err2 != nil || up <= 0 || down <= 0 {
		return bad("both periods must be positive durations")
	}
	return agency, agencysim.Flap{Up: up, Down: down}, nil
}

func knownAgency(flag, agency string) error {
	if !slices.Contains(gateway.Agencies, agency) {
		return fmt.Errorf("%s: unknown agency %q (one of %s)", flag, agency, strings.Join(gateway.Agencies, ", "))
	}
	return nil
}

func agencySimCmd() *cobra.Command {
	var c agencySimConfig
	cmd := &cobra.Command{
		Use:   "agency-sim",
		Short: "Stand in for every upstream agency: receive outbox messages idempotently, with faults on demand",
		Long: "Serves each agency at {addr}/agencies/{agency}: POST /v1/messages and /v1/persons/lookup.\n" +
			"GET /report counts what each received, POST /report/missing compares it with what was sent,\n" +
			"GET /messages?agency=X lists it in arrival order and POST /control changes faults at run time.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := fromEnv(cmd.Flags()); err != nil {
				return err
			}
			cfg, err := c.config()
			if err != nil {
				return err
			}
			sim, err := agencysim.New(cfg)
			if err != nil {
				return err
			}
			return runAgencySim(cmd.Context(), cmd, &c, cfg, sim)
		},
	}
	c.flags(cmd.Flags())
	return cmd
}

func runAgencySim(ctx context.Context, cmd *cobra.Command, c *agencySimConfig, cfg agencysim.Config, sim *agencysim.Server) error {
	lis, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	url := "http://" + lis.Addr().String()
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "agency simulator on %s (GET /report, POST /report/missing, GET /messages, POST /control)\n", url)
	if c.Persons != "" {
		n, bad := sim.Persons()
		fmt.Fprintf(w, "%d persons from %s, %d bad lines skipped\n", n, c.Persons, len(bad))
		printBad(w, bad)
	}
	for _, a := range gateway.Agencies {
		fmt.Fprintf(w, "  %-19s %s%s\n", a, agencysim.BaseURL(url, a), describeFaults(cfg.Agencies[a]))
	}

	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	// Requests waiting out a latency or hanging in a blackhole would hold Shutdown up.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	rep := sim.Report()
	for _, a := range gateway.Agencies {
		r := rep[a]
		fmt.Fprintf(w, "%-19s accepted %d, duplicates %d, conflicts %d, faults %d, blackholed %d, invalid %d, lookups %d\n",
			a, r.Accepted, r.Duplicates, r.Conflicts, r.RejectedFaults, r.Blackholed, r.Invalid, r.Lookups)
	}
	return err
}

func describeFaults(f agencysim.Faults) string {
	var parts []string
	if f.Latency != (agencysim.Latency{}) {
		parts = append(parts, "latency "+f.Latency.String())
	}
	if f.ErrorRate > 0 {
		parts = append(parts, fmt.Sprintf("error rate %g", f.ErrorRate))
	}
	for _, o := range f.Outages {
		parts = append(parts, fmt.Sprintf("down %s+%s", o.Start, o.Duration))
	}
	if f.Flap != nil {
		parts = append(parts, fmt.Sprintf("flapping %s up/%s down", f.Flap.Up, f.Flap.Down))
	}
	if f.Blackhole {
		parts = append(parts, "blackhole")
	}
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}
