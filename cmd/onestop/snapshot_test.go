package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"onestop/cache"
	"onestop/cache/cachetest"
	"onestop/gateway"
)

// TestSnapshotCommands: load (with a bad line, then strictly), status and delta, as an
// operator runs them, checked against what a gateway then reads.
func TestSnapshotCommands(t *testing.T) {
	_, prefix := cachetest.Redis(t)
	const secret = "snapshot-test-secret-1234"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	person := func(id, status string) string {
		return `{"id_number":"` + id + `","name":"王小明","scheme":"resident","status":"` + status + `","insured_region":"320400","county":"320402"}` + "\n"
	}
	const a, b = "320402198001011234", "370811197003033456"
	snap := write("snap.jsonl", person(a, "adult")+person(b, "adult")+`{"id_number":"nope"}`+"\n")
	run := func(args ...string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--redis", cachetest.URL(t), "--redis-prefix", prefix, "--person-key-secret", secret))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}

	out, err := run("snapshot", "load", snap, "--quiet")
	if err != nil || !strings.Contains(out, "version 1 is current") || !strings.Contains(out, "2 persons") || !strings.Contains(out, "bad line 3:") {
		t.Fatalf("load: %v\n%s", err, out)
	}
	if out, err := run("snapshot", "load", snap, "--quiet", "--strict"); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("strict load: %v\n%s", err, out)
	}
	out, err = run("snapshot", "status")
	if err != nil || !strings.Contains(out, "current version  1") || !strings.Contains(out, "persons          2") {
		t.Fatalf("status after a failed strict load: %v\n%s", err, out)
	}

	delta := write("delta.jsonl", person(a, "retired")+`{"op":"remove","id_number":"`+b+`"}`+"\n"+`{"op":"rename","id_number":"`+a+`"}`+"\n")
	out, err = run("snapshot", "delta", delta)
	if err != nil || !strings.Contains(out, "2 changes applied, 1 bad lines skipped") || !strings.Contains(out, "bad line 3:") {
		t.Fatalf("delta: %v\n%s", err, out)
	}
	opt, _ := redis.ParseURL(cachetest.URL(t))
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	tier := cache.NewTier(cache.NewRedis(rdb, cache.NewKeyer(secret), prefix), cache.TierOptions{})
	if p, err := tier.Lookup(context.Background(), gateway.Credential{Type: gateway.CredentialIDCard, Value: a}); err != nil || p.Status != "retired" {
		t.Errorf("changed person: %+v, %v", p, err)
	}
	if _, err := tier.Lookup(context.Background(), gateway.Credential{Type: gateway.CredentialIDCard, Value: b}); !errors.Is(err, gateway.ErrPersonNotFound) {
		t.Errorf("removed person: %v", err)
	}
	root := newRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"snapshot", "load", snap, "--redis", cachetest.URL(t), "--redis-prefix", prefix, "--person-key-secret", "short"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "person-key-secret") {
		t.Errorf("a short secret: %v", err)
	}
}
