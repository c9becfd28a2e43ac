// Package cachetest gives tests a Redis of their own: a key prefix on the server
// ONESTOP_TEST_REDIS_URL names (removed when the test ends), or a private redis-server
// process that a test may stop and start. Without the variable or the binary the test is
// skipped, except under CI=true, where it fails: integration tests never skip silently in CI.
// StartCluster and SharedCluster give a private three-node Redis Cluster.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true: integration tests must run)", args...)
	}
	t.Skipf(format, args...)
}

// URL returns the test server's URL, skipping or failing the test without one.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("ONESTOP_TEST_REDIS_URL")
	if url == "" {
		skipOrFail(t, "ONESTOP_TEST_REDIS_URL is not set")
	}
	return url
}

// Redis returns a client of the test server and a key prefix of the test's own; every key
// under the prefix is deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("ONESTOP_TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		skipOrFail(t, "redis at ONESTOP_TEST_REDIS_URL is unreachable: %v", err)
	}
	prefix := "test:" + randomHex() + ":"
	t.Cleanup(func() {
		DeletePrefix(rdb, prefix)
		rdb.Close()
	})
	return rdb, prefix
}

// DeletePrefix removes every key under prefix (on every primary of a cluster).
func DeletePrefix(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c, ok := rdb.(*redis.ClusterClient); ok {
		_ = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			deletePrefix(ctx, node, prefix)
			return nil
		})
		return
	}
	deletePrefix(ctx, rdb, prefix)
}

func deletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Unlink(ctx, batch...)
	}
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Server is a private redis-server on a loopback port, keeping nothing on disk.
type Server struct {
	Addr string
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
}

// StartServer starts a private redis-server; it is stopped when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, "redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Addr: addr, t: t, dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server on its address; it comes back empty, as a Redis without
// persistence does.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	if err := waitPing(s.Addr, s.dir); err != nil {
		s.t.Fatal(err)
	}
}

// Stop kills the server, as a crash would.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr) }

// Cluster is a private three-node Redis Cluster (no replicas) on loopback ports.
type Cluster struct {
	Addrs []string
	procs []*exec.Cmd
	dir   string // removed by Stop when the cluster owns it
}

// StartCluster starts three private redis-servers in cluster mode and joins them with
// redis-cli --cluster create; they are killed when the test ends. Without redis-server or
// redis-cli the test is skipped (failed under CI=true). Joining takes a few seconds (the
// tool polls once a second): tests of one package share a cluster with SharedCluster.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	needClusterTools(t)
	c, err := startCluster(t.TempDir())
	if c != nil {
		t.Cleanup(c.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var shared struct {
	sync.Mutex
	c   *Cluster
	err error
}

// SharedCluster is one cluster for every test of the test binary, started on first use.
// Tests keep apart by their prefixes (Prefix); the package's TestMain must call
// StopSharedCluster after m.Run, or the servers outlive the tests.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	needClusterTools(t)
	shared.Lock()
	defer shared.Unlock()
	if shared.c == nil && shared.err == nil {
		dir, err := os.MkdirTemp("", "onestop-cluster-")
		if err != nil {
			t.Fatal(err)
		}
		shared.c, shared.err = startCluster(dir)
		if shared.c != nil {
			shared.c.dir = dir
		}
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// StopSharedCluster stops the SharedCluster, if one was started.
func StopSharedCluster() {
	shared.Lock()
	defer shared.Unlock()
	if shared.c != nil {
		shared.c.Stop()
	}
}

func needClusterTools(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, "%s is not installed (the Redis Cluster tests need it)", bin)
		}
	}
}

// startCluster returns the cluster even with an error, so the caller can stop what started.
func startCluster(dir string) (*Cluster, error) {
	c := &Cluster{}
	for i := range 3 {
		addr, err := clusterPort()
		if err != nil {
			return c, err
		}
		ndir := filepath.Join(dir, fmt.Sprint("node", i))
		if err := os.MkdirAll(ndir, 0o700); err != nil {
			return c, err
		}
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(ndir, "nodes.conf"),
			"--dir", ndir, "--logfile", filepath.Join(ndir, "redis.log"))
		if err := cmd.Start(); err != nil {
			return c, fmt.Errorf("redis-server: %w", err)
		}
		c.procs = append(c.procs, cmd)
		c.Addrs = append(c.Addrs, addr)
		if err := waitPing(addr, ndir); err != nil {
			return c, err
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		return c, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	// Every node must agree the cluster is up, or the first commands meet CLUSTERDOWN.
	for _, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		for i := 0; ; i++ {
			info, err := rdb.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if i == 200 {
				rdb.Close()
				return c, fmt.Errorf("cluster node %s is not ok after 10s: %v\n%s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rdb.Close()
	}
	return c, nil
}

// clusterPort finds a free loopback port whose cluster bus port (port+10000) is free too.
func clusterPort() (string, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		a := l.Addr().(*net.TCPAddr)
		l.Close()
		if a.Port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", a.Port+10000)); err == nil {
			bus.Close()
			return a.String(), nil
		}
	}
	return "", errors.New("no free port pair for a cluster node")
}

func waitPing(addr, dir string) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return fmt.Errorf("redis-server on %s did not start: %w\n%s", addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the cluster's servers.
func (c *Cluster) Stop() {
	for _, p := range c.procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
	c.procs = nil
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// URL is the cluster's redis+cluster:// URL (cache.OpenRedis), every node a seed.
func (c *Cluster) URL() string {
	u := "redis+cluster://" + c.Addrs[0]
	for i, a := range c.Addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// Client is a cluster client of the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Prefix returns a key prefix of the test's own with a hash tag, as a cluster store needs.
func Prefix() string { return "{test:" + randomHex() + "}:" }
