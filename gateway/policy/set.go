package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoPolicy: no policy of the set covers the insured region in the settlement year.
var ErrNoPolicy = errors.New("no policy for the insured region and year")

// Set is the policies a gateway holds: several regions and years side by side, at most one
// per region and year.
type Set struct {
	policies []*Policy
	byID     map[string]*Policy
}

// LoadDir loads every *.yaml and *.yml file of dir into a Set. Every bad file is reported.
func LoadDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var policies []*Policy
	var errs []error
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		p, err := Load(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policies = append(policies, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(policies) == 0 {
		return nil, fmt.Errorf("%s: no policy files (*.yaml)", dir)
	}
	return NewSet(policies...)
}

// NewSet builds a Set, refusing two policies for one region and year, or with one ID.
func NewSet(policies ...*Policy) (*Set, error) {
	s := &Set{byID: map[string]*Policy{}}
	for _, p := range policies {
		if other, ok := s.byID[p.ID]; ok {
			return nil, fmt.Errorf("%s and %s: two policies named %q", other.File, p.File, p.ID)
		}
		for _, other := range s.policies {
			if other.Region == p.Region && other.Year == p.Year {
				return nil, fmt.Errorf("%s and %s: both cover region %s in %d", other.File, p.File, p.Region, p.Year)
			}
		}
		s.byID[p.ID] = p
		s.policies = append(s.policies, p)
	}
	slices.SortFunc(s.policies, func(a, b *Policy) int {
		if c := strings.Compare(a.Region, b.Region); c != 0 {
			return c
		}
		return a.Year - b.Year
	})
	return s, nil
}

// Select returns the policy of the person's insured region for the settlement date's year,
// or an error wrapping ErrNoPolicy.
func (s *Set) Select(region string, date Date) (*Policy, error) {
	for _, p := range s.policies {
		if p.Region == region && p.Year == date.Year {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: region %q, year %d", ErrNoPolicy, region, date.Year)
}

// ByID returns the policy loaded from <id>.yaml.
func (s *Set) ByID(id string) (*Policy, bool) {
	p, ok := s.byID[id]
	return p, ok
}

// All returns the policies ordered by region and year.
func (s *Set) All() []*Policy { return slices.Clone(s.policies) }
