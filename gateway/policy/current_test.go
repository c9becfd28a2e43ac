package policy

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestCurrentReload: a good directory switches atomically and reports whether anything
// changed; a bad file is refused with the loader's message and the old set stays in use,
// also for readers racing the reloads.
func TestCurrentReload(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../testdata/policy/policies/changzhou-resident-2022.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "changzhou-resident-2022.yaml")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCurrent(dir)
	if err != nil {
		t.Fatal(err)
	}
	v1 := c.Set().All()[0].Version
	if len(v1) != 16 {
		t.Fatalf("version %q", v1)
	}
	if _, changed, err := c.Reload(); err != nil || changed {
		t.Fatalf("reload of the same files: changed %v, %v", changed, err)
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if s := c.Set(); s == nil || len(s.All()) != 1 {
				t.Error("a reader saw no set or a partial one")
				return
			}
		}
	})
	// A broken file: refused, the old set stays.
	if err := os.WriteFile(file, []byte(strings.Replace(string(src), "stages:", "stagez:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	set, changed, err := c.Reload()
	if err == nil || changed || !strings.Contains(err.Error(), "changzhou-resident-2022.yaml") {
		t.Fatalf("a broken file: changed %v, err %v", changed, err)
	}
	if set.All()[0].Version != v1 || c.Set().All()[0].Version != v1 {
		t.Fatal("the broken file replaced the set in use")
	}
	// A good change: switched, changed, a new version.
	if err := os.WriteFile(file, append(src, []byte("\n# a comment changes the version\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	set, changed, err = c.Reload()
	if err != nil || !changed || set.All()[0].Version == v1 || c.Set() != set {
		t.Fatalf("a good change: changed %v, err %v", changed, err)
	}
	close(stop)
	wg.Wait()
}
