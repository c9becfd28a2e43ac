package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Asia/Shanghai in a static container too

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"onestop/api"
	"onestop/api/receipt"
	"onestop/api/web"
	"onestop/cache"
	"onestop/gateway"
	"onestop/gateway/ledger"
	"onestop/gateway/metrics"
	"onestop/gateway/policy"
	"onestop/gateway/refdata"
)

//go:embed demo
var demo embed.FS

// devPersonKeySecret keys person hashes in onestop dev only; serve requires its own.
const devPersonKeySecret = "onestop-dev-only-not-a-secret"

// config is everything serve and dev read from flags and the environment, parsed once here.
type config struct {
	GRPCAddr         string
	HTTPAddr         string
	Snapshot         string
	Institutions     string
	Catalog          string
	Policies         string
	PostgresURL      string // serve
	Migrate          bool   // serve: apply migrations at start
	PostgresMaxConns int32  // serve: the pool's size
	DataDir          string // dev: the embedded ledger's folder
	PersonKeySecret  string
	Timezone         string

	// Eligibility and identity.
	RedisURL       string        // serve: required; dev: optional (in-process snapshot without it)
	RedisPrefix    string        // key prefix of the eligibility cache
	VoucherIssuers string        // issuers YAML for e-vouchers; none: e-vouchers are refused
	Freshness      time.Duration // eligibility older than this is marked stale

	// Agencies and the outbox.
	AgenciesURL      string        // base of an agency simulator: every agency at URL/agencies/<name>
	Agency           []string      // NAME=URL, overriding AgenciesURL for one agency
	HighCost         string        // out-of-pocket alert threshold for everyone; "0" = off
	HighCostAid      string        // the same for aid-category holders
	AgencySimAddr    string        // dev: where the in-process simulator listens; "" = none
	AgencyPersons    string        // dev: the simulator's persons
	Pprof            bool          // serve /debug/pprof on the HTTP address
	OutboxBatch      int           // messages a dispatcher claims at a time
	OutboxWorkers    int           // deliveries in flight at once
	OutboxLease      time.Duration // how long a claimed message is this dispatcher's
	Dispatch         bool          // run the outbox dispatcher in this process
	DuplicateWindow  time.Duration // hold a repeated bill settled this recently (POSSIBLE_DUPLICATE_BILL)
	AdminTokenSHA256 string        // admin RPCs (ReloadPolicies); "" = refused
	LogLevel         slog.Level

	// Terminal security. TLS is serve only: onestop dev stays plaintext on loopback.
	TLSCert   string  // serve
	TLSKey    string  // serve
	ClientCA  string  // serve: terminal certificates are accepted when given
	RateLimit float64 // calls a second per terminal; 0 = no limit
	RateBurst int
}

// flags binds the shared flags; every flag may also come from ONESTOP_<NAME> (upper case,
// '-' as '_'), the flag winning.
func (c *config) flags(fs *pflag.FlagSet, dev bool) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", "127.0.0.1:9090", "gRPC listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address (/healthz)")
	fs.StringVar(&c.Snapshot, "snapshot", "", "eligibility snapshot, JSON Lines or CSV (with --redis: loaded into Redis at start when it holds none)")
	fs.StringVar(&c.RedisURL, "redis", "", "Redis URL of the eligibility cache and e-voucher nonces, e.g. redis://127.0.0.1:6379/0; a Redis Cluster: redis+cluster://host1:6379?addr=host2:6379")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "", "key prefix of the eligibility cache (default "+cache.DefaultPrefix+", in a Redis Cluster "+cache.ClusterDefaultPrefix+" — there it needs a {hash tag}; onestop dev: onestop-dev:elig:)")
	fs.StringVar(&c.VoucherIssuers, "voucher-issuers", "", "YAML of e-voucher issuers' Ed25519 public keys; without it e-vouchers are refused (dev: the demo issuer)")
	fs.DurationVar(&c.Freshness, "eligibility-freshness", 48*time.Hour, "eligibility records older than this are still used but marked stale; 0 = never")
	fs.StringVar(&c.AgenciesURL, "agencies-url", "", "base URL where every agency answers at /agencies/<name> (an agency simulator)")
	fs.StringArrayVar(&c.Agency, "agency", nil, "NAME=URL of one agency (insurance_bureau, civil_affairs, trade_union, red_cross, commercial_insurer); repeatable")
	fs.StringVar(&c.HighCost, "high-cost-threshold", "50000.00", "alert civil affairs when anyone's out-of-pocket spending this year passes this; 0 = off")
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "debug (every call, one line each), info (refusals), warn or error")
	fs.IntVar(&c.OutboxBatch, "outbox-batch", 64, "outbox messages a dispatcher claims at a time")
	fs.IntVar(&c.OutboxWorkers, "outbox-workers", 8, "outbox deliveries in flight at once")
	fs.DurationVar(&c.OutboxLease, "outbox-lease", 30*time.Second, "how long a claimed outbox message is this gateway's; after a crash others wait this long to deliver it (keep it above an agency call's whole retry time)")
	fs.DurationVar(&c.DuplicateWindow, "duplicate-bill-window", 24*time.Hour, "hold a bill with the same person, institution and items as one settled this recently under another request id (POSSIBLE_DUPLICATE_BILL) until the cashier confirms; 0 = off")
	fs.BoolVar(&c.Dispatch, "outbox-dispatch", true, "deliver outbox messages from this process; false: only settle (another replica delivers)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve /debug/pprof on --http-addr (profiling; keep the address private)")
	fs.StringVar(&c.HighCostAid, "high-cost-aid-threshold", "10000.00", "the same for persons holding an aid category; 0 = off")
	fs.StringVar(&c.Institutions, "institutions", "", "institutions YAML")
	fs.StringVar(&c.Catalog, "catalog", "", "catalog CSV")
	fs.StringVar(&c.Policies, "policies", "", "directory of policy YAML files (reloaded on SIGHUP and by the admin ReloadPolicies RPC)")
	fs.StringVar(&c.AdminTokenSHA256, "admin-token-sha256", "", "sha256 (hex) of the operators' admin token for onestop.admin.v1 (policy reload); empty: admin RPCs refused")
	fs.StringVar(&c.Timezone, "timezone", "Asia/Shanghai", "time zone of 'today' for settlement dates")
	fs.Float64Var(&c.RateLimit, "rate-limit", 50, "calls a second per terminal, on average; 0 = no limit")
	fs.IntVar(&c.RateBurst, "rate-burst", 100, "calls a terminal may make at once before --rate-limit applies")
	if dev {
		fs.StringVar(&c.DataDir, "data-dir", "./.onestop", "folder of the embedded ledger (and the demo data it unpacks)")
		fs.StringVar(&c.AgencySimAddr, "agency-sim-addr", "127.0.0.1:0", "where the in-process agency simulator listens; empty: none (give --agencies-url or --agency)")
		return
	}
	fs.StringVar(&c.PostgresURL, "postgres-url", "", "Postgres URL of the ledger")
	fs.BoolVar(&c.Migrate, "migrate", false, "apply database migrations at start")
	fs.Int32Var(&c.PostgresMaxConns, "postgres-max-conns", 32, "Postgres connections in the pool (a pool_max_conns in the URL wins)")
	fs.StringVar(&c.PersonKeySecret, "person-key-secret", "", "secret keying the hash of ID numbers (keep it stable: ledger rows use it)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "gateway TLS certificate, PEM (with --tls-key; without both gRPC is plaintext)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "gateway TLS private key, PEM")
	fs.StringVar(&c.ClientCA, "client-ca", "", "CA of terminal client certificates, PEM: terminals marked mtls may then connect with one (O = institution, CN = terminal)")
}

// fromEnv fills every flag not given on the command line from its ONESTOP_ variable.
func fromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		name := "ONESTOP_" + envName(f.Name)
		if v, ok := os.LookupEnv(name); ok && !f.Changed && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

func envName(flag string) string {
	b := []byte(flag)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// load completes the flags from the environment and validates the result.
func (c *config) load(fs *pflag.FlagSet, dev bool) error {
	if err := fromEnv(fs); err != nil {
		return err
	}
	return c.Validate(dev)
}

// Validate reports every problem at once, before anything starts.
func (c *config) Validate(dev bool) error {
	var errs []error
	need := func(name, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("--%s (or ONESTOP_%s) is required", name, envName(name)))
		}
	}
	need("grpc-addr", c.GRPCAddr)
	need("http-addr", c.HTTPAddr)
	if !dev {
		need("redis", c.RedisURL)
		need("institutions", c.Institutions)
		need("catalog", c.Catalog)
		need("policies", c.Policies)
		need("postgres-url", c.PostgresURL)
		need("person-key-secret", c.PersonKeySecret)
		if c.PersonKeySecret != "" && len(c.PersonKeySecret) < 16 {
			errs = append(errs, errors.New("--person-key-secret must be at least 16 characters"))
		}
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("--timezone: %w", err))
	}
	errs = append(errs, c.validateTerminalSecurity()...)
	for name, v := range map[string]string{"high-cost-threshold": c.HighCost, "high-cost-aid-threshold": c.HighCostAid} {
		if d, err := decimal.NewFromString(v); err != nil || d.IsNegative() || !d.Equal(d.Round(2)) {
			errs = append(errs, fmt.Errorf("--%s: %q is not an amount", name, v))
		}
	}
	if _, err := c.agencyURLs(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func serveCmd() *cobra.Command {
	var c config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway on Postgres",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.load(cmd.Flags(), false); err != nil {
				return err
			}
			ctx := cmd.Context()
			pool, err := ledger.Connect(ctx, c.PostgresURL, func(cfg *pgxpool.Config) {
				// pgx's default, one connection per CPU, starves a gateway whose settlements
				// each hold a connection across two round trips: 4 connections capped the
				// cashier mix at 1,300/s with Postgres idle.
				if !strings.Contains(c.PostgresURL, "pool_max_conns") {
					cfg.MaxConns = c.PostgresMaxConns
				}
			})
			if err != nil {
				return err
			}
			defer pool.Close()
			if c.Migrate {
				if err := ledger.Migrate(ctx, pool); err != nil {
					return fmt.Errorf("migrate: %w", err)
				}
			}
			l := ledger.NewPostgres(pool)
			kctx, stopKeeping := context.WithCancel(ctx)
			defer stopKeeping()
			go l.KeepPartitions(kctx, slog.New(api.MaskingHandler(slog.NewTextHandler(cmd.ErrOrStderr(), nil))))
			return run(ctx, &c, l, cmd.ErrOrStderr(), metrics.PostgresPool(pool))
		},
	}
	c.flags(cmd.Flags(), false)
	return cmd
}

func devCmd() *cobra.Command {
	var c config
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the gateway with everything embedded: demo data, a file ledger, 127.0.0.1 only",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.load(cmd.Flags(), true); err != nil {
				return err
			}
			for _, addr := range []string{c.GRPCAddr, c.HTTPAddr} {
				if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
					return fmt.Errorf("onestop dev listens on loopback addresses only, not %q", addr)
				}
			}
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return err
			}
			if err := c.useDemo(); err != nil {
				return err
			}
			c.PersonKeySecret = devPersonKeySecret
			if c.AgencySimAddr != "" && c.AgenciesURL == "" && len(c.Agency) == 0 {
				stopSim, err := c.startAgencySim(cmd.Context(), slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
				if err != nil {
					return err
				}
				defer stopSim()
			}
			j, err := ledger.OpenJournal(filepath.Join(c.DataDir, "ledger.journal"))
			if err != nil {
				return err
			}
			defer j.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), `
  ┌───────────────────────────────────────────────────────────────┐
  │ onestop dev — NOT FOR PRODUCTION: demo data, a file ledger,   │
  │ a published person-key secret, plain-text terminal tokens.    │
  └───────────────────────────────────────────────────────────────┘
  ledger:       %s
  agencies:     %s (simulated; what they received: /report)
  data:         snapshot %s
                institutions %s, catalog %s, policies %s

  Try it (grpcurl, with reflection):
    grpcurl -plaintext -H 'authorization: Bearer dev-clinic-token' -d '{"request_id":"demo-1",
      "institution_id":"H320401","credential":{"type":"ID_CARD","value":"320402198001011234"},
      "med_type":"OUTPATIENT","referral_no":"R1","lines":[{"code":"SVC-001","quantity":"1",
      "unit_price":"25.00","amount":"25.00"},{"code":"DRUG-102","quantity":"2","unit_price":"38.50",
      "amount":"77.00"}]}' %s onestop.v1.SettlementService/Settle
  or the cashier client:
    onestop settle --token dev-clinic-token --institution H320401 --id-card 320402198001011234 \
      --line SVC-001:1:25.00 --line DRUG-102:2:38.50

`, j.Path(), orNone(c.AgenciesURL), c.Snapshot, c.Institutions, c.Catalog, c.Policies, c.GRPCAddr)
			return run(cmd.Context(), &c, j, cmd.ErrOrStderr())
		},
	}
	c.flags(cmd.Flags(), true)
	return cmd
}

// useDemo unpacks the embedded demo data into the data folder for every file not given.
func (c *config) useDemo() error {
	dir := filepath.Join(c.DataDir, "demo")
	err := fs.WalkDir(demo, "demo", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := demo.ReadFile(path)
		if err != nil {
			return err
		}
		out := filepath.Join(dir, filepath.FromSlash(path[len("demo/"):]))
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o600)
	})
	if err != nil {
		return fmt.Errorf("unpacking the demo data: %w", err)
	}
	if err := demoPoliciesUpTo(filepath.Join(dir, "policies"), time.Now().Year()); err != nil {
		return fmt.Errorf("unpacking the demo data: %w", err)
	}
	set := func(dst *string, name string) {
		if *dst == "" {
			*dst = filepath.Join(dir, name)
		}
	}
	set(&c.Snapshot, "snapshot.jsonl")
	set(&c.Institutions, "institutions.yaml")
	set(&c.Catalog, "catalog.csv")
	set(&c.Policies, "policies")
	set(&c.VoucherIssuers, "issuers.yaml")
	set(&c.AgencyPersons, "agency-persons.jsonl")
	if c.RedisPrefix == "" {
		// Its own keys: the demo's persons, keyed by the published dev secret, must never
		// mix with a real snapshot on a shared Redis.
		c.RedisPrefix = "onestop-dev:elig:"
		if cache.IsClusterURL(c.RedisURL) {
			c.RedisPrefix = "{onestop-dev:elig}:" // one hash slot, as a cluster store needs
		}
	}
	return nil
}

func (c *config) validateTerminalSecurity() []error {
	var errs []error
	if c.RateLimit < 0 {
		errs = append(errs, errors.New("--rate-limit must be 0 (no limit) or more"))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, errors.New("--rate-burst must be at least 1 while --rate-limit is on"))
	}
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	case c.ClientCA != "" && c.TLSCert == "":
		errs = append(errs, errors.New("--client-ca needs --tls-cert and --tls-key"))
	case c.TLSCert != "":
		// Load them now, so a bad path or key fails before the ledger is touched.
		if _, err := api.ServerTLS(c.TLSCert, c.TLSKey, c.ClientCA); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// serverOptions: TLS when configured, and the per-terminal rate limit.
// serverOptions returns the options both gRPC servers share (one rate limiter for a
// terminal's gRPC and REST calls) and the network server's transport credentials.
func (c *config) serverOptions(log *slog.Logger) (shared []grpc.ServerOption, creds []grpc.ServerOption, err error) {
	shared = []grpc.ServerOption{api.RateLimit(c.RateLimit, c.RateBurst)}
	if c.TLSCert == "" {
		log.Warn("gRPC is plaintext: terminal tokens and patients' data cross the network unencrypted; give --tls-cert and --tls-key unless a TLS proxy terminates in front")
		return shared, nil, nil
	}
	cfg, err := api.ServerTLS(c.TLSCert, c.TLSKey, c.ClientCA)
	if err != nil {
		return nil, nil, err
	}
	return shared, []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, nil
}

// run loads the reference data, serves gRPC and HTTP, and drains in-flight calls on
// SIGINT or SIGTERM. extra collectors join /metrics: those of what the caller opened (the
// ledger's pool).
func run(ctx context.Context, c *config, l gateway.Ledger, stderr io.Writer, extra ...prometheus.Collector) error {
	// Masking is the last line of defense should any code log an ID number or a token.
	log := slog.New(api.MaskingHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.LogLevel})))
	loc, _ := time.LoadLocation(c.Timezone)
	policies, err := policy.OpenCurrent(c.Policies)
	if err != nil {
		return err
	}
	dir, err := refdata.LoadInstitutions(c.Institutions)
	if err != nil {
		return err
	}
	catalog, err := refdata.LoadCatalog(c.Catalog)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	eligMetrics := cache.NewMetrics(reg)
	elig, idn, persons, closeElig, err := c.eligibility(ctx, log, eligMetrics, reg)
	if err != nil {
		return err
	}
	defer closeElig()
	agencies, err := c.agencies(log, reg)
	if err != nil {
		return err
	}
	if bureau := agencies[gateway.AgencyInsuranceBureau]; bureau != nil {
		fb := &cache.Fallback{Primary: elig, Bureau: personSource(bureau), Keyer: cache.NewKeyer(c.PersonKeySecret), Metrics: eligMetrics}
		if aid := agencies[gateway.AgencyCivilAffairs]; aid != nil {
			fb.Aid = personSource(aid)
		}
		elig = fb
	}
	stopDispatch := c.dispatch(ctx, l, agencies, log, reg)
	defer stopDispatch()
	stale := prometheus.NewCounter(prometheus.CounterOpts{Name: "onestop_eligibility_stale_total",
		Help: "Answers given on an eligibility record older than --eligibility-freshness."})
	reg.MustRegister(stale)
	svc := &gateway.Service{
		Directory: dir, Identity: idn, Eligibility: elig, Catalog: catalog, Ledger: l, Location: loc,
		Policies:  policies.Set,
		Freshness: c.Freshness, OnStale: stale.Inc, HighCost: c.highCostRules(), DuplicateWindow: c.DuplicateWindow,
		Observer: metrics.NewSettlements(reg),
	}
	opts, creds, err := c.serverOptions(log)
	if err != nil {
		return err
	}
	opts = append(opts, api.WithMetrics(reg))
	admin := api.WithAdmin(api.Admin{TokenSHA256: c.AdminTokenSHA256, Reload: func() (*policy.Set, bool, error) {
		return reloadPolicies(policies, log)
	}})
	srv, health := api.NewServer(svc, log, append(append(opts, creds...), admin)...)
	restSrv, _ := api.NewServer(svc, log, opts...)
	rest, err := api.NewREST(restSrv, dir)
	if err != nil {
		return err
	}
	defer rest.Close() // after the HTTP server's shutdown below: its handlers call it
	lis, err := net.Listen("tcp", c.GRPCAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := health.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/v1/", rest.Handler)
	mux.Handle("GET /openapi.json", api.OpenAPI())
	mux.Handle("/receipts/", receipt.Handler(rest.Settlement, loc))
	mux.Handle("/", web.Handler()) // the web cashier; unknown paths are 404 there
	if c.Pprof {
		// Off by default: profiles reveal internals and cost CPU while taken.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	hsrv := &http.Server{Addr: c.HTTPAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	hlis, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		lis.Close()
		return err
	}
	log.Info("onestop serving", "grpc", lis.Addr().String(), "http", hlis.Addr().String(),
		"policies", len(policies.Set().All()), "eligibility", persons, "catalog items", catalog.Len(),
		"tls", c.TLSCert != "", "client certificates", c.ClientCA != "", "rate limit", c.RateLimit, "rate burst", c.RateBurst)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadPolicies(policies, log) //nolint:errcheck // logged; the old set stays on error
			}
		}
	}()
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(lis) }()
	go func() { errc <- hsrv.Serve(hlis) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight calls")
	case err := <-errc:
		log.Error("server stopped", "err", err)
	}
	health.Shutdown()
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hsrv.Shutdown(shutdownCtx)
}

// reloadPolicies switches to the policy directory as it is now, when every file in it is
// valid, and says what happened; on error the set in use stays.
func reloadPolicies(c *policy.Current, log *slog.Logger) (*policy.Set, bool, error) {
	set, changed, err := c.Reload()
	if err != nil {
		log.Error("policy reload refused; the policies in use are unchanged", "err", err)
		return set, false, err
	}
	var loaded []string
	for _, p := range set.All() {
		loaded = append(loaded, p.ID+"@"+p.Version)
	}
	log.Info("policies reloaded", "changed", changed, "policies", strings.Join(loaded, " "))
	return set, changed, nil
}

// demoPolicyYear is the year of the embedded demo policies.
const demoPolicyYear = 2026

// demoPoliciesUpTo copies the demo policies for every year after demoPolicyYear up to year,
// so that `onestop dev` (the README's first command) still has a policy for bills dated
// today after New Year: the demo is about the gateway, not about a year's rates.
func demoPoliciesUpTo(dir string, year int) error {
	for y := demoPolicyYear + 1; y <= year; y++ {
		files, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("*-%d.yaml", demoPolicyYear)))
		if err != nil {
			return err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			from, to := fmt.Sprintf("\nyear: %d\n", demoPolicyYear), fmt.Sprintf("\nyear: %d\n", y)
			if !strings.Contains(string(data), from) {
				return fmt.Errorf("%s: no %q line", f, strings.TrimSpace(from))
			}
			out := strings.TrimSuffix(f, fmt.Sprintf("-%d.yaml", demoPolicyYear)) + fmt.Sprintf("-%d.yaml", y)
			if err := os.WriteFile(out, []byte(strings.Replace(string(data), from, to, 1)), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}
