package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"onestop/adapters/agencysim"
	"onestop/gateway"
)

func parseAgencySim(t *testing.T, args ...string) (agencysim.Config, error) {
	t.Helper()
	var c agencySimConfig
	fs := pflag.NewFlagSet("agency-sim", pflag.ContinueOnError)
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return agencysim.Config{}, err
	}
	return c.config()
}

func TestAgencySimFlags(t *testing.T) {
	cfg, err := parseAgencySim(t, "--outage", "civil_affairs@30s+20s", "--outage", "civil_affairs@2m+1s",
		"--flap", "trade_union:5s/3s", "--latency-p50", "20ms", "--latency-p99", "200ms",
		"--error-rate", "0.01", "--blackhole", "red_cross", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	ca := cfg.Agencies[gateway.AgencyCivilAffairs]
	want := []agencysim.Window{{Start: 30 * time.Second, Duration: 20 * time.Second}, {Start: 2 * time.Minute, Duration: time.Second}}
	if len(ca.Outages) != 2 || ca.Outages[0] != want[0] || ca.Outages[1] != want[1] || ca.Flap != nil {
		t.Fatalf("civil_affairs: %+v", ca)
	}
	if tu := cfg.Agencies[gateway.AgencyTradeUnion]; tu.Flap == nil || *tu.Flap != (agencysim.Flap{Up: 5 * time.Second, Down: 3 * time.Second}) || tu.Outages != nil {
		t.Fatalf("trade_union: %+v", tu)
	}
	if !cfg.Agencies[gateway.AgencyRedCross].Blackhole || cfg.Agencies[gateway.AgencyCivilAffairs].Blackhole {
		t.Fatal("--blackhole red_cross")
	}
	for _, a := range gateway.Agencies {
		f := cfg.Agencies[a]
		if f.Latency != (agencysim.Latency{P50: 20 * time.Millisecond, P99: 200 * time.Millisecond}) || f.ErrorRate != 0.01 {
			t.Errorf("%s: latency and error rate are every agency's: %+v", a, f)
		}
	}
	if cfg.Seed != 9 {
		t.Fatalf("seed %d", cfg.Seed)
	}
	if _, err := agencysim.New(cfg); err != nil {
		t.Fatalf("the simulator refuses what the flags made: %v", err)
	}

	for _, args := range [][]string{
		{"--outage", "civil_affairs"},
		{"--outage", "tax_office@30s+20s"},
		{"--outage", "civil_affairs@30s"},
		{"--outage", "civil_affairs@soon+20s"},
		{"--outage", "civil_affairs@30s+0s"},
		{"--outage", "civil_affairs@-1s+20s"},
		{"--flap", "trade_union"},
		{"--flap", "trade_union:5s"},
		{"--flap", "trade_union:5s/0s"},
		{"--flap", "tax_office:5s/5s"},
		{"--flap", "trade_union:5s/5s", "--flap", "trade_union:1s/1s"},
		{"--blackhole", "tax_office"},
		{"--latency", "20ms", "--latency-p50", "20ms", "--latency-p99", "200ms"},
		{"--latency-p50", "20ms"},
		{"--latency-p50", "200ms", "--latency-p99", "20ms"},
		{"--error-rate", "1.5"},
	} {
		if _, err := parseAgencySim(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// TestAgencySimRuns starts the command as an operator would, delivers to it and stops it
// as SIGINT would, expecting the base URLs at the start and the counts at the end.
func TestAgencySimRuns(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"agency-sim", "--addr", addr, "--persons", "demo/snapshot.jsonl", "--latency", "1ms"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	sim := "http://" + addr
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(sim + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving: %v", err)
		}
	}
	for range 2 {
		resp, err := http.Post(agencysim.BaseURL(sim, gateway.AgencyCivilAffairs)+"/v1/messages", "application/json",
			strings.NewReader(`{"id":"S1/settlement","agency":"civil_affairs","kind":"settlement"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(agencysim.BaseURL(sim, gateway.AgencyInsuranceBureau)+"/v1/persons/lookup", "application/json",
		strings.NewReader(`{"social_security_card":"C32040001"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("lookup in the demo persons: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agency-sim: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agency-sim did not stop")
	}
	s := out.String()
	for _, want := range []string{
		sim + "/agencies/insurance_bureau", sim + "/agencies/commercial_insurer", "latency 1ms",
		"civil_affairs       accepted 1, duplicates 1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
