package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"onestop/loadtest/loadgen"
)

// errMissingTool: this machine cannot run the experiment (no Postgres binaries, no
// redis-server, root without a postgres user). The test skips on it outside CI.
var errMissingTool = errors.New("missing tool")

// tools are the programs the rig runs besides onestop.
type tools struct {
	pgBin  string // the directory of initdb, pg_ctl and postgres
	pgUser string // run Postgres as this user ("" = as ourselves): initdb refuses root
	redis  string
}

func findTools() (tools, error) {
	var t tools
	var missing []string
	var err error
	if t.pgBin, err = postgresBin(); err != nil {
		missing = append(missing, err.Error())
	}
	if t.redis, err = exec.LookPath("redis-server"); err != nil {
		missing = append(missing, "redis-server is not on the PATH")
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			missing = append(missing, "running as root, and there is no postgres user to run Postgres as")
		} else if _, err := exec.LookPath("runuser"); err != nil {
			missing = append(missing, "running as root, and runuser (to run Postgres as postgres) is not on the PATH")
		} else {
			t.pgUser = "postgres"
		}
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w: %s", errMissingTool, strings.Join(missing, "; "))
	}
	return t, nil
}

// postgresBin finds initdb and pg_ctl on the PATH or, as Debian installs them, under
// /usr/lib/postgresql/<version>/bin (the newest version).
func postgresBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir := filepath.Dir(real)
			if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and pg_ctl (on the PATH or under /usr/lib/postgresql/*/bin)")
}

// rig is everything the load runs against, private to this run.
type rig struct {
	work     string // logs and generated data
	bin      string // onestop
	snapshot string
	policies string
	bills    []loadgen.Bill // one per request
	pg       *postgres
	redis    *redisServer
	sim      *process
	simURL   string
	gw       *supervisor
	grpcAddr string
	logf     func(string, ...any)
}

// setUp builds onestop, generates the world, and starts Postgres, Redis, the agency
// simulator and a supervised gateway. On error, what was started is in the returned rig for
// close.
func setUp(ctx context.Context, opt options, tl tools, logf func(string, ...any)) (*rig, error) {
	work, err := os.MkdirTemp("", "onestop-chaos-")
	if err != nil {
		return nil, err
	}
	r := &rig{work: work, bin: opt.Onestop, logf: logf}
	if r.bin == "" {
		r.bin = filepath.Join(work, "onestop")
		logf("building onestop")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", r.bin, "onestop/cmd/onestop").CombinedOutput(); err != nil {
			return r, fmt.Errorf("go build onestop/cmd/onestop: %v\n%s", err, out)
		}
	}

	data := filepath.Join(work, "data")
	r.snapshot, r.policies = filepath.Join(data, "snapshot.jsonl"), filepath.Join(data, "policies")
	// More bills than requests: pickBills drops the few the fraud checks would refuse.
	generated := opt.Requests + opt.Requests/5 + 100
	if out, err := exec.CommandContext(ctx, r.bin, "loadgen", "data", "--out", data, "--persons", strconv.Itoa(opt.Persons),
		"--bills", strconv.Itoa(generated), "--seed", strconv.FormatUint(opt.Seed, 10)).CombinedOutput(); err != nil {
		return r, fmt.Errorf("onestop loadgen data: %v\n%s", err, out)
	}
	all, err := loadgen.LoadBills(filepath.Join(data, "bills.json"))
	if err != nil {
		return r, err
	}
	if r.bills, err = pickBills(all, r.snapshot, opt.Requests); err != nil {
		return r, err
	}

	logf("starting a private Postgres, Redis and agency simulator")
	if r.pg, err = newPostgres(tl); err != nil {
		return r, err
	}
	if out, err := exec.CommandContext(ctx, r.bin, "migrate", "--postgres-url", r.pg.URL()).CombinedOutput(); err != nil {
		return r, fmt.Errorf("onestop migrate: %v\n%s", err, out)
	}
	if r.redis, err = newRedis(tl, work); err != nil {
		return r, err
	}
	simPort, err := freePort()
	if err != nil {
		return r, err
	}
	r.simURL = fmt.Sprintf("http://127.0.0.1:%d", simPort)
	// --persons: the gateway asks the bureau for persons Redis cannot answer for.
	r.sim, err = startProcess(r.bin, filepath.Join(work, "agency-sim.log"), "agency-sim",
		"--addr", fmt.Sprintf("127.0.0.1:%d", simPort), "--persons", r.snapshot)
	if err != nil {
		return r, err
	}
	if err := waitFor(30*time.Second, "agency-sim", func() error { return healthy(r.simURL + "/healthz") }); err != nil {
		return r, err
	}

	grpcPort, err1 := freePort()
	httpPort, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return r, err
	}
	r.grpcAddr = fmt.Sprintf("127.0.0.1:%d", grpcPort)
	r.gw = newSupervisor(r.bin, []string{"serve",
		"--grpc-addr", r.grpcAddr, "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--postgres-url", r.pg.URL(), "--redis", r.redis.URL(), "--snapshot", r.snapshot, "--person-key-secret", personKeySecret,
		"--institutions", filepath.Join(data, "institutions.yaml"), "--catalog", filepath.Join(data, "catalog.csv"),
		"--policies", r.policies, "--agencies-url", r.simURL,
		// Four tokens an institution stand for all its cashiers: the per-terminal limit
		// would throttle the load, not protect anything.
		"--rate-limit", "0",
		// Messages a killed gateway had claimed wait out its lease before another delivers
		// them; 10 s (above an agency call's whole retry time here) keeps the drain short.
		"--outbox-lease", "10s",
		"--log-level", "warn",
	}, filepath.Join(work, "gateway.log"), fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort), logf)
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := r.gw.waitServing(startCtx); err != nil {
		return r, fmt.Errorf("the gateway did not start (see %s): %w", filepath.Join(work, "gateway.log"), err)
	}
	return r, nil
}

// close stops everything and removes the temporary directories, unless keep.
func (r *rig) close(keep bool) {
	if r.gw != nil {
		r.gw.stop()
	}
	if r.sim != nil {
		r.sim.stop() // it writes what each agency received to agency-sim.log
	}
	if r.redis != nil {
		r.redis.kill()
	}
	where := r.work
	if r.pg != nil {
		r.pg.close(keep)
		where += " and " + r.pg.dir
	}
	if keep {
		r.logf("kept %s (gateway.log, agency-sim.log, redis.log, data/; postgres.log, data/)", where)
		return
	}
	os.RemoveAll(r.work)
}

// freePort asks the kernel for a loopback port nobody listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// postgres is a private cluster on a port of its own. The machine's shared Postgres is other
// engineers' test server: this one can be crashed at will.
type postgres struct {
	bin, user string
	dir       string // data/, the Unix socket, postgres.log; owned by user
	port      int
}

func newPostgres(t tools) (*postgres, error) {
	dir, err := os.MkdirTemp("", "onestop-chaos-pg-")
	if err != nil {
		return nil, err
	}
	p := &postgres{bin: t.pgBin, user: t.pgUser, dir: dir}
	if p.user != "" {
		u, err := user.Lookup(p.user)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if p.port, err = freePort(); err != nil {
		return nil, err
	}
	if out, err := p.command("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return p, p.start()
}

func (p *postgres) data() string { return filepath.Join(p.dir, "data") }

func (p *postgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	var cmd *exec.Cmd
	if p.user != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.user, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = p.dir // the server's user may not be able to enter ours
	return cmd
}

func (p *postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// start waits until the server accepts connections. fsync stays on: an acknowledged
// settlement must survive the crash.
func (p *postgres) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on", p.port, p.dir)
	out, err := p.command("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "postgres.log"), "-w", "-t", "120", "-o", opts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// crash stops the server the way a power cut would: no checkpoint, crash recovery at the
// next start.
func (p *postgres) crash() error { return p.stopMode("immediate") }

func (p *postgres) stopMode(mode string) error {
	out, err := p.command("pg_ctl", "-D", p.data(), "-m", mode, "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	return nil
}

func (p *postgres) close(keep bool) {
	_ = p.stopMode("fast")
	if !keep {
		os.RemoveAll(p.dir)
	}
}

// redisServer is a private redis-server without persistence: stopped, it comes back empty,
// as the README says a Redis without AOF or RDB does.
type redisServer struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
}

func newRedis(t tools, dir string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{bin: t.redis, dir: dir, port: port}
	return r, r.start()
}

func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() error {
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer rdb.Close()
	return waitFor(30*time.Second, "redis-server", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return rdb.Ping(ctx).Err()
	})
}

// kill is a crash: SIGKILL, nothing saved.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// process is a child onestop command (the agency simulator) writing to a log file.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProcess(bin, logPath string, args ...string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.done) }()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks politely (SIGTERM: the simulator prints its report, a gateway drains) and kills
// after a while.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// healthy is a GET of url answering 200.
func healthy(url string) error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func waitFor(timeout time.Duration, what string, ok func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ok()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// supervisor keeps one `onestop serve` running on fixed addresses, as a process manager
// would: whenever it exits — killed by the schedule, or failing to start while Redis is
// down — it is started again, until stop. Every incarnation appends to one log file.
type supervisor struct {
	bin       string
	args      []string
	logPath   string
	healthURL string
	logf      func(format string, args ...any)

	mu        sync.Mutex
	current   *process      // nil between incarnations
	serving   chan struct{} // closed while current serves
	isServing bool
	killed    bool // current's end is ours
	stopped   bool

	starts, failedStarts, kills, unexpectedExits int
	done                                         chan struct{}
}

func newSupervisor(bin string, args []string, logPath, healthURL string, logf func(string, ...any)) *supervisor {
	s := &supervisor{bin: bin, args: args, logPath: logPath, healthURL: healthURL, logf: logf,
		serving: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *supervisor) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		s.starts++
		n := s.starts
		s.mu.Unlock()
		if f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintf(f, "\n=== chaos: gateway start %d at %s\n", n, time.Now().Format(time.RFC3339Nano))
			f.Close()
		}
		p, err := startProcess(s.bin, s.logPath, s.args...)
		if err != nil {
			s.logf("gateway start %d: %v", n, err)
			time.Sleep(time.Second)
			continue
		}
		s.mu.Lock()
		if s.stopped { // stop came while this one was starting
			s.mu.Unlock()
			p.stop()
			return
		}
		s.current, s.killed = p, false
		s.mu.Unlock()
		if !s.awaitServing(p) {
			// Typically Redis being down: serve checks it before listening. Try again.
			s.mu.Lock()
			if !s.stopped {
				s.failedStarts++
			}
			s.current = nil
			s.mu.Unlock()
			_ = p.cmd.Process.Kill()
			<-p.done
			time.Sleep(300 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.setServing(true)
		s.mu.Unlock()
		<-p.done
		s.mu.Lock()
		s.setServing(false)
		s.current = nil
		if !s.killed && !s.stopped {
			s.unexpectedExits++
			s.logf("gateway start %d EXITED ON ITS OWN (%v); see %s", n, p.cmd.ProcessState, s.logPath)
		}
		s.mu.Unlock()
	}
}

// setServing opens or closes the gate waitServing waits at; s.mu is held.
func (s *supervisor) setServing(on bool) {
	switch {
	case on && !s.isServing:
		close(s.serving)
	case !on && s.isServing:
		s.serving = make(chan struct{})
	}
	s.isServing = on
}

// awaitServing: true once /healthz answers, false if the process exits first.
func (s *supervisor) awaitServing(p *process) bool {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return false
		}
		if healthy(s.healthURL) == nil {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// waitServing blocks until a gateway serves.
func (s *supervisor) waitServing(ctx context.Context) error {
	s.mu.Lock()
	ch := s.serving
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kill SIGKILLs the serving gateway (waiting for one to serve first, so every kill hits a
// gateway under load) and returns its pid; the supervisor starts the next.
func (s *supervisor) kill(ctx context.Context) (int, error) {
	for {
		if err := s.waitServing(ctx); err != nil {
			return 0, err
		}
		s.mu.Lock()
		p := s.current
		if !s.isServing {
			s.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		s.killed = true
		s.kills++
		s.setServing(false) // at once: the next waitServing must wait for the next gateway
		s.mu.Unlock()
		pid := p.cmd.Process.Pid
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			return pid, err
		}
		<-p.done
		return pid, nil
	}
}

func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopped = true
	p := s.current
	s.killed = true
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
	<-s.done
}

func (s *supervisor) counts() (starts, failedStarts, kills, unexpected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts, s.failedStarts, s.kills, s.unexpectedExits
}
