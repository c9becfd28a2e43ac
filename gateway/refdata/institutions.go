package refdata

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"onestop/gateway"
)

// Directory is the institutions file in memory. Terminals are found by the SHA-256 of their
// token, so the file need not hold plain tokens (token_sha256), or by institution and
// terminal id for those that present a client certificate (mtls).
type Directory struct {
	byID    map[string]*gateway.Institution
	byToken map[[sha256.Size]byte]terminalRef
	groups  map[string]*gateway.InstitutionGroup // by member id, the head included
}

type terminalRef struct {
	inst     *gateway.Institution
	terminal string
}

var (
	_ gateway.Directory = (*Directory)(nil)
	_ gateway.Groups    = (*Directory)(nil)
)

type institutionsFile struct {
	Institutions []struct {
		ID            string `yaml:"id"`
		Name          string `yaml:"name"`
		Region        string `yaml:"region"`
		County        string `yaml:"county"`
		Level         int    `yaml:"level"`
		AidDesignated bool   `yaml:"aid_designated"`
		Terminals     []struct {
			ID          string `yaml:"id"`
			Token       string `yaml:"token"`
			TokenSHA256 string `yaml:"token_sha256"`
			MTLS        bool   `yaml:"mtls"`
		} `yaml:"terminals"`
	} `yaml:"institutions"`
	Groups []struct {
		ID                       string   `yaml:"id"`
		Name                     string   `yaml:"name"`
		Head                     string   `yaml:"head"`
		Members                  []string `yaml:"members"`
		EnrolledPersons          int64    `yaml:"enrolled_persons"`
		OutpatientQuotaPerPerson string   `yaml:"outpatient_quota_per_person"`
	} `yaml:"groups"`
}

// LoadInstitutions reads an institutions YAML file: a list under "institutions:" of
// {id, name, region, county, level, aid_designated, terminals: [{id, token | token_sha256,
// mtls}]}. A terminal needs a token, a token_sha256 or mtls: true (or a token and mtls).
// Unknown keys, duplicate institution ids, terminal ids or tokens, and levels outside 1–3
// are errors.
//
// An optional list under "groups:" of {id, name, head, members, enrolled_persons,
// outpatient_quota_per_person} defines institution groups (a township hospital, the head,
// with its village clinics, the members, sharing one outpatient pooling quota a year):
// unknown institutions, an institution in two groups, a group without enrolled persons and
// a negative or unparsable quota are errors naming the file and the key.
func LoadInstitutions(path string) (*Directory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f institutionsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d := &Directory{byID: map[string]*gateway.Institution{}, byToken: map[[sha256.Size]byte]terminalRef{}}
	for i, in := range f.Institutions {
		where := fmt.Sprintf("%s: institutions[%d]", path, i)
		switch {
		case in.ID == "":
			return nil, fmt.Errorf("%s: id is required", where)
		case d.byID[in.ID] != nil:
			return nil, fmt.Errorf("%s: id %q given twice", where, in.ID)
		case in.Region == "":
			return nil, fmt.Errorf("%s: region is required", where)
		case in.Level < 1 || in.Level > 3:
			return nil, fmt.Errorf("%s: level %d is not 1, 2 or 3", where, in.Level)
		}
		inst := &gateway.Institution{ID: in.ID, Name: in.Name, Region: in.Region, County: in.County, Level: in.Level, AidDesignated: in.AidDesignated}
		for j, t := range in.Terminals {
			where := fmt.Sprintf("%s.terminals[%d]", where, j)
			if t.ID == "" {
				return nil, fmt.Errorf("%s: id is required", where)
			}
			// A certificate names the terminal by institution and id, and the rate limit
			// counts by them: two terminals with one id would share both.
			for _, other := range inst.Terminals {
				if other.ID == t.ID {
					return nil, fmt.Errorf("%s: terminal id %q given twice in %s", where, t.ID, in.ID)
				}
			}
			var sum [sha256.Size]byte
			switch {
			case t.Token != "" && t.TokenSHA256 != "":
				return nil, fmt.Errorf("%s: give token or token_sha256, not both", where)
			case t.Token != "":
				sum = sha256.Sum256([]byte(t.Token))
			case t.TokenSHA256 != "":
				b, err := hex.DecodeString(t.TokenSHA256)
				if err != nil || len(b) != sha256.Size {
					return nil, fmt.Errorf("%s: token_sha256 is not 64 hex digits", where)
				}
				copy(sum[:], b)
			case t.MTLS:
				inst.Terminals = append(inst.Terminals, gateway.Terminal{ID: t.ID, MTLS: true})
				continue
			default:
				return nil, fmt.Errorf("%s: terminal %q has no token, token_sha256 or mtls: true", where, t.ID)
			}
			if _, dup := d.byToken[sum]; dup {
				return nil, fmt.Errorf("%s: the token is used by another terminal", where)
			}
			d.byToken[sum] = terminalRef{inst: inst, terminal: t.ID}
			inst.Terminals = append(inst.Terminals, gateway.Terminal{ID: t.ID, TokenSHA256: hex.EncodeToString(sum[:]), MTLS: t.MTLS})
		}
		d.byID[in.ID] = inst
	}
	if err := d.loadGroups(path, &f); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Directory) loadGroups(path string, f *institutionsFile) error {
	d.groups = map[string]*gateway.InstitutionGroup{}
	ids := map[string]bool{}
	for i, g := range f.Groups {
		where := fmt.Sprintf("%s: groups[%d]", path, i)
		switch {
		case g.ID == "":
			return fmt.Errorf("%s.id: required", where)
		case ids[g.ID]:
			return fmt.Errorf("%s.id: %q given twice", where, g.ID)
		case g.Head == "":
			return fmt.Errorf("%s.head: required", where)
		case g.EnrolledPersons <= 0:
			return fmt.Errorf("%s.enrolled_persons: %d; want a number of persons above 0", where, g.EnrolledPersons)
		}
		ids[g.ID] = true
		quota, err := decimal.NewFromString(g.OutpatientQuotaPerPerson)
		switch {
		case g.OutpatientQuotaPerPerson == "":
			return fmt.Errorf("%s.outpatient_quota_per_person: required", where)
		case err != nil:
			return fmt.Errorf("%s.outpatient_quota_per_person: %q is not an amount", where, g.OutpatientQuotaPerPerson)
		case quota.IsNegative():
			return fmt.Errorf("%s.outpatient_quota_per_person: %s is negative", where, g.OutpatientQuotaPerPerson)
		case !quota.Equal(quota.Round(2)):
			return fmt.Errorf("%s.outpatient_quota_per_person: %s has more than two decimals", where, g.OutpatientQuotaPerPerson)
		}
		group := &gateway.InstitutionGroup{ID: g.ID, Name: g.Name, EnrolledPersons: g.EnrolledPersons, QuotaPerPerson: quota}
		keys := append([]string{"head"}, make([]string, len(g.Members))...)
		for j := range g.Members {
			keys[j+1] = fmt.Sprintf("members[%d]", j)
		}
		for j, id := range append([]string{g.Head}, g.Members...) {
			key := where + "." + keys[j]
			if _, ok := d.byID[id]; !ok {
				return fmt.Errorf("%s: unknown institution %q", key, id)
			}
			if other, ok := d.groups[id]; ok {
				if other == group {
					return fmt.Errorf("%s: %q is listed twice in group %s", key, id, g.ID)
				}
				return fmt.Errorf("%s: %q already belongs to group %s", key, id, other.ID)
			}
			d.groups[id] = group
			group.Members = append(group.Members, id)
		}
	}
	return nil
}

// Group returns the group an institution belongs to (as its head or a member).
func (d *Directory) Group(institutionID string) (*gateway.InstitutionGroup, bool) {
	g, ok := d.groups[institutionID]
	return g, ok
}

// Authenticate finds a terminal by the SHA-256 of its token: the map is keyed by the digest,
// so comparing a guessed token's digest reveals nothing useful about the real token.
func (d *Directory) Authenticate(token string) (*gateway.Institution, string, bool) {
	if token == "" {
		return nil, "", false
	}
	ref, ok := d.byToken[sha256.Sum256([]byte(token))]
	if !ok {
		return nil, "", false
	}
	return ref.inst, ref.terminal, true
}

func (d *Directory) Institution(id string) (*gateway.Institution, bool) {
	inst, ok := d.byID[id]
	return inst, ok
}

func (d *Directory) Terminal(institutionID, terminalID string) (*gateway.Institution, *gateway.Terminal, bool) {
	inst, ok := d.byID[institutionID]
	if !ok || terminalID == "" {
		return nil, nil, false
	}
	for i := range inst.Terminals {
		if inst.Terminals[i].ID == terminalID {
			return inst, &inst.Terminals[i], true
		}
	}
	return nil, nil, false
}
