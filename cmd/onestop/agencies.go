package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"onestop/adapters"
	"onestop/adapters/agencysim"
	"onestop/cache"
	"onestop/gateway"
	"onestop/gateway/dispatch"
)

// agencyURLs resolves --agencies-url and --agency into a base URL per agency.
func (c *config) agencyURLs() (map[string]string, error) {
	urls := map[string]string{}
	if c.AgenciesURL != "" {
		for _, a := range gateway.Agencies {
			urls[a] = agencysim.BaseURL(c.AgenciesURL, a)
		}
	}
	for _, kv := range c.Agency {
		name, url, ok := strings.Cut(kv, "=")
		if !ok || url == "" {
			return nil, fmt.Errorf("--agency %q: want NAME=URL", kv)
		}
		known := false
		for _, a := range gateway.Agencies {
			known = known || a == name
		}
		if !known {
			return nil, fmt.Errorf("--agency %q: unknown agency (one of %s)", name, strings.Join(gateway.Agencies, ", "))
		}
		urls[name] = url
	}
	return urls, nil
}

// agencies builds one adapter per configured agency. The dispatcher gets all of them; the
// eligibility fallback the bureau's and civil affairs' lookups.
func (c *config) agencies(log *slog.Logger, reg prometheus.Registerer) (map[string]*adapters.Client, error) {
	urls, err := c.agencyURLs()
	if err != nil {
		return nil, err
	}
	m := adapters.NewMetrics(reg)
	out := map[string]*adapters.Client{}
	for name, url := range urls {
		cfg := adapters.Config{Agency: name, BaseURL: url}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("agency %s: %w", name, err)
		}
		out[name] = adapters.New(cfg, nil, log, m)
	}
	return out, nil
}

// personSource turns an adapter's lookup into the eligibility fallback's.
func personSource(a *adapters.Client) cache.PersonSource {
	return func(ctx context.Context, cr gateway.Credential) (*cache.Line, error) {
		var id, ssc string
		if cr.Type == gateway.CredentialSocialCard {
			ssc = cr.Value
		} else {
			id = cr.Value
		}
		l, err := a.Lookup(ctx, id, ssc)
		if errors.Is(err, adapters.ErrPersonNotFound) {
			return nil, nil
		}
		return l, err
	}
}

// highCostRules are the alert thresholds from the flags (validated); 0 turns one off.
func (c *config) highCostRules() []gateway.HighCostRule {
	var rules []gateway.HighCostRule
	if d, _ := decimal.NewFromString(c.HighCostAid); d.IsPositive() {
		rules = append(rules, gateway.HighCostRule{Threshold: d, AidOnly: true})
	}
	if d, _ := decimal.NewFromString(c.HighCost); d.IsPositive() {
		rules = append(rules, gateway.HighCostRule{Threshold: d})
	}
	return rules
}

// startAgencySim runs the agency simulator in process for onestop dev, on a loopback port
// of its own, and points every agency at it; it knows the demo persons (and one more, whom
// the snapshot lacks, to show the eligibility fallback).
func (c *config) startAgencySim(ctx context.Context, log *slog.Logger) (func(), error) {
	sim, err := agencysim.New(agencysim.Config{PersonsFile: c.AgencyPersons, Seed: 1})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", c.AgencySimAddr)
	if err != nil {
		return nil, fmt.Errorf("agency simulator: %w", err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(lis) //nolint:errcheck // ends with Shutdown
	c.AgenciesURL = "http://" + lis.Addr().String()
	log.Info("agency simulator in process", "url", c.AgenciesURL, "report", c.AgenciesURL+"/report")
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		sim.Close()
		_ = srv.Shutdown(sctx)
	}, nil
}

// dispatch delivers the ledger's outbox to the agencies until the returned stop is called.
func (c *config) dispatch(ctx context.Context, l gateway.Ledger, agencies map[string]*adapters.Client, log *slog.Logger, reg prometheus.Registerer) (stop func()) {
	store, ok := l.(gateway.OutboxStore)
	if !ok || !c.Dispatch {
		if !c.Dispatch {
			log.Info("outbox dispatch is off (--outbox-dispatch=false): another process must deliver")
		}
		return func() {}
	}
	if len(agencies) == 0 {
		log.Warn("no agencies are configured (--agencies-url, --agency): their outbox messages wait until they are")
	}
	posters := map[string]gateway.Agency{}
	for name, a := range agencies {
		posters[name] = a
	}
	d := dispatch.New(store, posters, dispatch.Config{Batch: c.OutboxBatch, Workers: c.OutboxWorkers, Lease: c.OutboxLease}, log, dispatch.NewMetrics(reg))
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); d.Run(dctx) }()
	return func() { cancel(); <-done }
}
