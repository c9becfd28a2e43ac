package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxLoadErrors bounds how many problems one file reports; past that the rest is noise.
const maxLoadErrors = 20

// Load reads and validates one policy file. Every problem found is reported as a
// *LoadError naming the file, the line and the path of the bad key; several are joined.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{File: path, Reason: err.Error()}
	}
	return Parse(path, data)
}

// Parse validates a policy document; name is used in errors and as the policy's File.
func Parse(name string, data []byte) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &LoadError{File: name, Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	l := &loader{file: name}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		l.fail(&doc, "", "the file is empty")
		return nil, l.err()
	}
	p := l.policy(doc.Content[0])
	if err := l.err(); err != nil {
		return nil, err
	}
	p.File = name
	p.ID = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".yaml"), ".yml")
	sum := sha256.Sum256(data)
	p.Version = hex.EncodeToString(sum[:8])
	p.assignSlots()
	return p, nil
}

type loader struct {
	file   string
	errs   []error
	visits int // nodes walked, aliases expanded: a few aliases must not make a huge document
}

// maxNodes bounds the nodes a policy document may expand to. The demo policies have a few
// hundred; a document of nested aliases could otherwise expand to millions.
const maxNodes = 20_000

// tooBig counts one walked node and reports whether the document has expanded past maxNodes.
func (l *loader) tooBig(n *yaml.Node) bool {
	l.visits++
	if l.visits == maxNodes+1 {
		l.fail(n, "", "the document expands to more than %d nodes (through aliases?)", maxNodes)
	}
	return l.visits > maxNodes
}

func (l *loader) fail(n *yaml.Node, path, format string, args ...any) {
	if len(l.errs) < maxLoadErrors {
		l.errs = append(l.errs, &LoadError{File: l.file, Line: n.Line, Path: path, Reason: fmt.Sprintf(format, args...)})
	}
}

func (l *loader) err() error { return errors.Join(l.errs...) }

// fields walks a mapping, calling each key's handler and refusing keys it does not know
// and keys given twice. It returns which keys were present.
func (l *loader) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, path string)) map[string]bool {
	n = deref(n)
	seen := map[string]bool{}
	if n.Kind != yaml.MappingNode {
		l.fail(n, path, "expected a mapping, found %s", describe(n))
		return seen
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if l.tooBig(n) {
			return seen
		}
		k, v := n.Content[i], deref(n.Content[i+1])
		kp := join(path, k.Value)
		h, ok := handlers[k.Value]
		switch {
		case !ok:
			l.fail(k, kp, "unknown key %q (known: %s)", k.Value, strings.Join(sortedKeys(handlers), ", "))
		case seen[k.Value]:
			l.fail(k, kp, "key given twice")
		default:
			seen[k.Value] = true
			h(v, kp)
		}
	}
	return seen
}

func (l *loader) require(n *yaml.Node, path string, seen map[string]bool, keys ...string) {
	for _, k := range keys {
		if !seen[k] {
			l.fail(deref(n), join(path, k), "required key is missing")
		}
	}
}

func (l *loader) policy(n *yaml.Node) *Policy {
	p := &Policy{}
	seen := l.fields(n, "", map[string]func(*yaml.Node, string){
		"region": func(v *yaml.Node, path string) { p.Region = l.text(v, path) },
		"name":   func(v *yaml.Node, path string) { p.Name = l.text(v, path) },
		"year": func(v *yaml.Node, path string) {
			y, err := strconv.Atoi(l.scalar(v, path))
			if err != nil || y < 1900 || y > 9999 {
				l.fail(v, path, "%q is not a year", v.Value)
			}
			p.Year = y
		},
		"preselfpay_ratio": func(v *yaml.Node, path string) { p.PreselfpayRatio = l.unitRatio(v, path) },
		"stages": func(v *yaml.Node, path string) {
			l.list(v, path, true, func(item *yaml.Node, path string) { p.Stages = append(p.Stages, l.stage(item, path)) })
		},
	})
	l.require(n, "", seen, "region", "name", "year", "stages")
	return p
}

// identifier is what fund ids, pool names, categories and flags may be: pool and fund names
// are joined with "." into accumulator keys, so they must not hold one.
var identifier = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (l *loader) stage(n *yaml.Node, path string) Stage {
	s := Stage{Kind: KindPool}
	kindOnly := map[string]*yaml.Node{} // fields that belong to one kind, checked once the kind is known
	seen := l.fields(n, path, map[string]func(*yaml.Node, string){
		"fund": func(v *yaml.Node, path string) { s.Fund = l.ident(v, path) },
		"kind": func(v *yaml.Node, path string) {
			switch k := StageKind(l.text(v, path)); k {
			case KindPool, KindHospitalCeiling, KindAccount:
				s.Kind = k
			default:
				l.fail(v, path, "unknown fund kind %q (known: pool, hospital_ceiling, account)", v.Value)
			}
		},
		"when":       func(v *yaml.Node, path string) { s.When = l.condition(v, path) },
		"pools":      func(v *yaml.Node, _ string) { kindOnly["pools"] = v },
		"categories": func(v *yaml.Node, _ string) { kindOnly["categories"] = v },
		"max_share":  func(v *yaml.Node, _ string) { kindOnly["max_share"] = v },
		"covers":     func(v *yaml.Node, _ string) { kindOnly["covers"] = v },
	})
	l.require(n, path, seen, "fund")
	fieldsOf := map[StageKind][]string{
		KindPool:            {"pools", "categories"},
		KindHospitalCeiling: {"max_share"},
		KindAccount:         {"covers"},
	}
	for _, key := range sortedKeys(kindOnly) {
		if !slices.Contains(fieldsOf[s.Kind], key) {
			l.fail(kindOnly[key], join(path, key), "not a field of a %s stage", s.Kind)
		}
	}
	pools, maxShare, covers := kindOnly["pools"], kindOnly["max_share"], kindOnly["covers"]
	if c := kindOnly["categories"]; c != nil && s.Kind == KindPool {
		s.Categories = l.idents(c, join(path, "categories"))
	}
	switch s.Kind {
	case KindPool:
		if pools == nil {
			l.fail(n, join(path, "pools"), "a pool stage needs pools")
			break
		}
		l.list(pools, join(path, "pools"), true, func(item *yaml.Node, path string) { s.Pools = append(s.Pools, l.pool(item, path)) })
	case KindHospitalCeiling:
		if maxShare == nil {
			l.fail(n, join(path, "max_share"), "a hospital_ceiling stage needs max_share")
			break
		}
		s.MaxShare = l.unitRatio(maxShare, join(path, "max_share"))
	case KindAccount:
		if covers == nil {
			l.fail(n, join(path, "covers"), "an account stage needs covers")
			break
		}
		l.list(covers, join(path, "covers"), true, func(item *yaml.Node, path string) {
			b := Bucket(l.text(item, path))
			switch {
			case !slices.Contains([]Bucket{BucketBurden, BucketPreselfpay, BucketOverlimit, BucketExcluded}, b):
				l.fail(item, path, "unknown bucket %q (known: burden, preselfpay, overlimit, excluded)", item.Value)
			case slices.Contains(s.Covers, b):
				l.fail(item, path, "bucket %q listed twice", item.Value)
			default:
				s.Covers = append(s.Covers, b)
			}
		})
	}
	return s
}

func (l *loader) pool(n *yaml.Node, path string) Pool {
	p := Pool{}
	seen := l.fields(n, path, map[string]func(*yaml.Node, string){
		"name": func(v *yaml.Node, path string) { p.Name = l.ident(v, path) },
		"med_types": func(v *yaml.Node, path string) {
			l.list(v, path, true, func(item *yaml.Node, path string) { p.MedTypes = append(p.MedTypes, l.medType(item, path)) })
		},
		"threshold": func(v *yaml.Node, path string) { p.Threshold = l.threshold(v, path) },
		"ratio":     func(v *yaml.Node, path string) { p.Ratio = l.ratioByLevel(v, path) },
		"cap":       func(v *yaml.Node, path string) { p.Cap = l.cap(v, path) },
		"rules": func(v *yaml.Node, path string) {
			l.list(v, path, false, func(item *yaml.Node, path string) { p.Rules = append(p.Rules, l.rule(item, path)) })
		},
	})
	l.require(n, path, seen, "name", "med_types")
	return p
}

func (l *loader) rule(n *yaml.Node, path string) Rule {
	r := Rule{}
	l.fields(n, path, map[string]func(*yaml.Node, string){
		"when":      func(v *yaml.Node, path string) { r.When = l.condition(v, path) },
		"threshold": func(v *yaml.Node, path string) { t := l.threshold(v, path); r.Threshold = &t },
		"ratio":     func(v *yaml.Node, path string) { x := l.ratioByLevel(v, path); r.Ratio = &x },
		"ratio_delta": func(v *yaml.Node, path string) {
			d, err := parseRatio(l.scalar(v, path))
			if err == nil && (d < -ratioOne || d > ratioOne) {
				err = fmt.Errorf("%q is outside [-1, 1]", v.Value)
			}
			if err != nil {
				l.fail(v, path, "%v", err)
			}
			r.RatioDelta = &d
		},
		"cap": func(v *yaml.Node, path string) { c := l.cap(v, path); r.Cap = &c },
	})
	return r
}

// Values SPEC.md §2 defines; a condition naming anything else is a typo that would never match.
var (
	knownSchemes  = []string{"employee", "resident"}
	knownStatuses = []string{"in_service", "retired", "adult", "child", "student"}
)

func (l *loader) condition(n *yaml.Node, path string) Condition {
	c := Condition{}
	oneOf := func(known []string) func(*yaml.Node, string) []string {
		return func(v *yaml.Node, path string) []string {
			var out []string
			l.anyOf(v, path, func(item *yaml.Node, path string) {
				s := l.text(item, path)
				if !slices.Contains(known, s) {
					l.fail(item, path, "unknown value %q (known: %s)", s, strings.Join(known, ", "))
				}
				out = append(out, s)
			})
			return out
		}
	}
	boolean := func(dst **bool) func(*yaml.Node, string) {
		return func(v *yaml.Node, path string) {
			var b bool
			switch l.scalar(v, path) {
			case "true":
				b = true
			case "false":
			default:
				l.fail(v, path, "%q is not true or false", v.Value)
			}
			*dst = &b
		}
	}
	l.fields(n, path, map[string]func(*yaml.Node, string){
		"scheme":   func(v *yaml.Node, path string) { c.Schemes = oneOf(knownSchemes)(v, path) },
		"status":   func(v *yaml.Node, path string) { c.Statuses = oneOf(knownStatuses)(v, path) },
		"med_type": func(v *yaml.Node, path string) { c.MedTypes = oneOf(MedTypes)(v, path) },
		"level": func(v *yaml.Node, path string) {
			l.anyOf(v, path, func(item *yaml.Node, path string) {
				lv, err := strconv.Atoi(l.scalar(item, path))
				if err != nil || lv < 1 || lv > 3 {
					l.fail(item, path, "%q is not a level (1, 2 or 3)", item.Value)
				}
				c.Levels = append(c.Levels, lv)
			})
		},
		"referred":     boolean(&c.Referred),
		"cross_region": boolean(&c.CrossRegion),
		"filed":        boolean(&c.Filed),
		"in_county":    boolean(&c.InCounty),
		"flag":         func(v *yaml.Node, path string) { c.Flags = l.idents(v, path) },
		"category":     func(v *yaml.Node, path string) { c.Categories = l.idents(v, path) },
	})
	return c
}

func (l *loader) threshold(n *yaml.Node, path string) Threshold {
	t := Threshold{}
	seen := l.fields(n, path, map[string]func(*yaml.Node, string){
		"annual":    func(v *yaml.Node, path string) { t.Kind, t.Amount = Annual, l.amountByLevel(v, path) },
		"per_visit": func(v *yaml.Node, path string) { t.Kind, t.Amount = PerVisit, l.amountByLevel(v, path) },
	})
	if len(seen) != 1 && n.Kind == yaml.MappingNode {
		l.fail(n, path, "a threshold is either {annual: X} or {per_visit: X}")
	}
	return t
}

func (l *loader) cap(n *yaml.Node, path string) Cap {
	if n.Kind == yaml.ScalarNode && n.Value == "none" {
		return Cap{}
	}
	return Cap{Set: true, Amount: l.amount(n, path)}
}

// byLevelOf reads X or {by_level: {"1": X, "2": X, "3": X}}.
func byLevelOf[T any](l *loader, n *yaml.Node, path string, one func(*yaml.Node, string) T) byLevel[T] {
	if n.Kind != yaml.MappingNode {
		return flat(one(n, path))
	}
	b := byLevel[T]{ByLevel: true}
	seen := l.fields(n, path, map[string]func(*yaml.Node, string){
		"by_level": func(v *yaml.Node, path string) {
			got := l.fields(v, path, map[string]func(*yaml.Node, string){
				"1": func(v *yaml.Node, path string) { b.Levels[0] = one(v, path) },
				"2": func(v *yaml.Node, path string) { b.Levels[1] = one(v, path) },
				"3": func(v *yaml.Node, path string) { b.Levels[2] = one(v, path) },
			})
			if deref(v).Kind == yaml.MappingNode {
				for _, lv := range []string{"1", "2", "3"} {
					if !got[lv] {
						l.fail(v, join(path, lv), "by_level is missing level %s", lv)
					}
				}
			}
		},
	})
	l.require(n, path, seen, "by_level")
	return b
}

func (l *loader) amountByLevel(n *yaml.Node, path string) byLevel[fen] {
	return byLevelOf(l, n, path, l.amount)
}

func (l *loader) ratioByLevel(n *yaml.Node, path string) byLevel[ratio] {
	return byLevelOf(l, n, path, l.unitRatio)
}

func (l *loader) amount(n *yaml.Node, path string) fen {
	s := l.scalar(n, path)
	d, err := ParseAmount(path, s)
	if err != nil {
		l.fail(n, path, "%q is not an amount (plain yuan, at most two decimals, not negative)", s)
		return 0
	}
	f, _ := toFen(d)
	return f
}

// unitRatio reads a rate in [0, 1].
func (l *loader) unitRatio(n *yaml.Node, path string) ratio {
	r, err := parseRatio(l.scalar(n, path))
	if err == nil && (r < 0 || r > ratioOne) {
		err = fmt.Errorf("%q is outside [0, 1]", n.Value)
	}
	if err != nil {
		l.fail(n, path, "%v", err)
	}
	return r
}

func (l *loader) medType(n *yaml.Node, path string) string {
	s := l.text(n, path)
	if !slices.Contains(MedTypes, s) {
		l.fail(n, path, "unknown med_type %q (known: %s)", s, strings.Join(MedTypes, ", "))
	}
	return s
}

func (l *loader) ident(n *yaml.Node, path string) string {
	s := l.text(n, path)
	if !identifier.MatchString(s) {
		l.fail(n, path, "%q is not an identifier (letters, digits, _ and -)", s)
	}
	return s
}

func (l *loader) idents(n *yaml.Node, path string) []string {
	var out []string
	l.anyOf(n, path, func(item *yaml.Node, path string) { out = append(out, l.ident(item, path)) })
	return out
}

// list walks a sequence; nonEmpty refuses an empty one.
func (l *loader) list(n *yaml.Node, path string, nonEmpty bool, each func(*yaml.Node, string)) {
	if n.Kind != yaml.SequenceNode {
		l.fail(n, path, "expected a list, found %s", describe(n))
		return
	}
	if nonEmpty && len(n.Content) == 0 {
		l.fail(n, path, "the list is empty")
	}
	for i, item := range n.Content {
		if l.tooBig(item) {
			return
		}
		each(deref(item), fmt.Sprintf("%s[%d]", path, i))
	}
}

// anyOf walks a condition value: a list means "any of", a single value is a list of one.
func (l *loader) anyOf(n *yaml.Node, path string, each func(*yaml.Node, string)) {
	if n.Kind == yaml.SequenceNode {
		l.list(n, path, true, each)
		return
	}
	each(n, path)
}

// scalar returns a scalar's text as written, so "0.85" and 0.85 read the same and no number
// passes through a float.
func (l *loader) scalar(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.fail(n, path, "expected a value, found %s", describe(n))
		return ""
	}
	return n.Value
}

// text is a scalar that must not be empty.
func (l *loader) text(n *yaml.Node, path string) string {
	s := l.scalar(n, path)
	if s == "" && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		l.fail(n, path, "empty value")
	}
	return s
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// assignSlots gives every accumulator key the policy touches a slot, so a split keeps its
// running totals in a slice instead of building strings and maps on the hot path.
func (p *Policy) assignSlots() {
	index := map[string]int{}
	slot := func(key string) int {
		i, ok := index[key]
		if !ok {
			i = len(p.keys)
			index[key] = i
			p.keys = append(p.keys, key)
		}
		return i
	}
	for si := range p.Stages {
		for pi := range p.Stages[si].Pools {
			pool := &p.Stages[si].Pools[pi]
			prefix := p.Stages[si].Fund + "." + pool.Name + "."
			pool.paidSlot = slot(prefix + "paid")
			pool.thresholdSlot = slot(prefix + "threshold")
		}
	}
}
