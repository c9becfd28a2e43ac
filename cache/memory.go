package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"onestop/gateway"
)

// Memory serves eligibility from a snapshot held in process.
type Memory struct {
	keyer  Keyer
	byKey  map[string]*gateway.Person
	byCard map[string]string // card key → person key
}

var _ gateway.Eligibility = (*Memory)(nil)

// LoadSnapshotFile reads a snapshot (JSON Lines, or CSV for a .csv name) into memory. Bad lines are reported together
// (with line numbers) and nothing is loaded: a gateway must not start on half a snapshot.
func LoadSnapshotFile(path string, k Keyer) (*Memory, error) {
	f, err := OpenSnapshot(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := &Memory{keyer: k, byKey: map[string]*gateway.Person{}, byCard: map[string]string{}}
	bad, err := f.Each(func(n int, l *Line) error {
		if l.Op != "" {
			return fmt.Errorf("op: %q belongs in a delta file, not a snapshot", l.Op)
		}
		p, err := l.Person(k, f.AsOf)
		if err != nil {
			return err
		}
		if _, dup := m.byKey[p.Key]; dup {
			return errors.New("id_number: this person is already in the snapshot")
		}
		m.byKey[p.Key] = p
		if l.SocialSecurityCard != "" {
			m.byCard[k.CardKey(l.SocialSecurityCard)] = p.Key
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		msgs := make([]string, 0, min(len(bad), 10))
		for _, b := range bad[:min(len(bad), 10)] {
			msgs = append(msgs, b.Error())
		}
		return nil, fmt.Errorf("%s: %d bad lines: %s", path, len(bad), strings.Join(msgs, "; "))
	}
	return m, nil
}

// Lookup finds a person by ID number or social-security card. The gateway's Identity has
// checked the number and turned an e-voucher into the ID number it carries.
func (m *Memory) Lookup(_ context.Context, c gateway.Credential) (*gateway.Person, error) {
	var key string
	switch c.Type {
	case gateway.CredentialIDCard:
		key = m.keyer.IDKey(c.Value)
	case gateway.CredentialSocialCard:
		key = m.byCard[m.keyer.CardKey(c.Value)]
	default:
		return nil, &gateway.Error{Kind: gateway.KindInvalidArgument, Reason: gateway.ReasonInvalidCredential, Field: "credential.type",
			Message: fmt.Sprintf("%s is not looked up in the eligibility snapshot", c.Type)}
	}
	p, ok := m.byKey[key]
	if !ok {
		return nil, gateway.Errorf(gateway.ErrPersonNotFound, "credential", "no insured person with this credential")
	}
	cp := *p
	return &cp, nil
}

// Len is the number of persons.
func (m *Memory) Len() int { return len(m.byKey) }
