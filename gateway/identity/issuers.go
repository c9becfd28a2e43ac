package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// DevIssuerID and DevIssuerSeed make the dev issuer: onestop dev trusts it, and
// `onestop voucher issue` signs with it by default. The seed is published in this source
// and is NOT a secret: a production issuers file must never list the dev issuer's key.
const (
	DevIssuerID   = "dev"
	DevIssuerSeed = "onestop-dev-voucher-issuer-seed!" // 32 bytes, the Ed25519 seed
)

// DevIssuer is the dev and test issuer; see DevIssuerSeed.
func DevIssuer() Issuer {
	return Issuer{ID: DevIssuerID, Key: ed25519.NewKeyFromSeed([]byte(DevIssuerSeed))}
}

type issuersFile struct {
	Issuers []struct {
		ID        string `yaml:"id"`
		PublicKey string `yaml:"public_key"`
	} `yaml:"issuers"`
}

// LoadIssuers reads the issuers a Verifier trusts: a list under "issuers:" of
// {id, public_key}, the key being the standard base64 of the 32-byte Ed25519 public key.
// Unknown keys, a missing id, an id given twice and a key of the wrong length are errors,
// as is a file with no issuers.
func LoadIssuers(path string) (map[string]ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f issuersFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Issuers) == 0 {
		return nil, fmt.Errorf("%s: no issuers", path)
	}
	keys := make(map[string]ed25519.PublicKey, len(f.Issuers))
	for i, is := range f.Issuers {
		where := fmt.Sprintf("%s: issuers[%d]", path, i)
		if is.ID == "" {
			return nil, fmt.Errorf("%s: id is required", where)
		}
		where += fmt.Sprintf(" (%s)", is.ID)
		if _, dup := keys[is.ID]; dup {
			return nil, fmt.Errorf("%s: id given twice", where)
		}
		key, err := base64.StdEncoding.DecodeString(is.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%s: public_key is not standard base64: %w", where, err)
		}
		if len(key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: public_key is %d bytes, want %d", where, len(key), ed25519.PublicKeySize)
		}
		keys[is.ID] = ed25519.PublicKey(key)
	}
	return keys, nil
}
