package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
)

// shortForm is the chaos run CI can afford: the same schedule over 1,500 requests in about
// 10 s, then the drain and the checks: 20–50 s after onestop's build, the drain taking up to
// 30 s when a kill caught messages claimed but not yet delivered (their lease must run out).
const shortForm = "-requests 1500 -rate 150 -kills 2 -postgres-down 1s -redis-outage 3s -agency-outage 3s"

// TestChaosShort runs the short form. ONESTOP_CHAOS_FLAGS adds flags after it (e.g.
// "-requests 12000 -rate 60 -kills 30" for the full form under go test). Without Postgres's
// binaries or redis-server the test is skipped, except under CI=true, where it fails.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a chaos run takes about a minute")
	}
	var opt options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	opt.flags(fs)
	args := strings.Fields(shortForm + " " + os.Getenv("ONESTOP_CHAOS_FLAGS"))
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	if err := opt.validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := findTools(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: integration tests must run)", err)
		}
		t.Skip(err)
	}

	f, err := run(context.Background(), opt, &testLog{t: t})
	if f != nil {
		f.Command = "go test ./loadtest/chaos, i.e. go run ./loadtest/chaos " + strings.Join(args, " ")
		var b strings.Builder
		f.print(&b)
		t.Log(b.String())
	}
	switch {
	case errors.Is(err, errFailed):
		t.Fatal("the chaos run failed its checks (above)")
	case err != nil:
		t.Fatal(err)
	}
}

// testLog passes the run's progress lines to t.Log.
type testLog struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
