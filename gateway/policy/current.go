package policy

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Current is the policy set a gateway settles with, reloadable without downtime: a reload
// loads and validates the whole directory first and switches only when every file is good,
// so a settlement sees either the old set or the new one, never a mix, and a bad file
// leaves the old set in use.
type Current struct {
	dir    string
	set    atomic.Pointer[Set]
	reload sync.Mutex // one reload at a time; readers never wait
}

// OpenCurrent loads dir.
func OpenCurrent(dir string) (*Current, error) {
	set, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	c := &Current{dir: dir}
	c.set.Store(set)
	return c, nil
}

// Set is the set in use.
func (c *Current) Set() *Set { return c.set.Load() }

// Reload loads the directory again and switches to it when it is valid; changed is false
// when every policy file is as it was (same ids, same content).
func (c *Current) Reload() (set *Set, changed bool, err error) {
	c.reload.Lock()
	defer c.reload.Unlock()
	next, err := LoadDir(c.dir)
	if err != nil {
		return c.set.Load(), false, err
	}
	changed = !maps.Equal(versions(c.set.Load()), versions(next))
	c.set.Store(next)
	return next, changed, nil
}

func versions(s *Set) map[string]string {
	v := map[string]string{}
	for _, p := range s.All() {
		v[p.ID] = p.Version
	}
	return v
}
