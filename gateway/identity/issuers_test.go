package identity_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"onestop/gateway/identity"
)

const devPublicKey = "BX4y9vEiEA6QXQhlYy1LWXnHphDHgRzccvt0fjf14xw="

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "issuers.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadIssuers(t *testing.T) {
	keys, err := identity.LoadIssuers(writeFile(t, `
issuers:
  - id: dev
    public_key: `+devPublicKey+`
  - {id: city, public_key: "DqR7KWRZf3u3jm+3FU6aF0f5kX1pmrHRLnnUtoxjrcQ="}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys["dev"].Equal(identity.DevIssuer().Key.Public()) || len(keys["city"]) != ed25519.PublicKeySize {
		t.Errorf("keys = %v", keys)
	}
}

func TestLoadIssuersRejects(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"empty file", "", "no issuers"},
		{"empty list", "issuers: []", "no issuers"},
		{"unknown key", "issuers:\n  - {id: dev, public_key: " + devPublicKey + ", name: x}", "field name not found"},
		{"unknown top-level key", "issuers: []\nkeys: []", "field keys not found"},
		{"missing id", "issuers:\n  - {public_key: " + devPublicKey + "}", "issuers[0]: id is required"},
		{"duplicate id", "issuers:\n  - {id: dev, public_key: " + devPublicKey + "}\n  - {id: dev, public_key: " + devPublicKey + "}", "issuers[1] (dev): id given twice"},
		{"key too short", "issuers:\n  - {id: dev, public_key: AAAA}", "issuers[0] (dev): public_key is 3 bytes, want 32"},
		{"private key", "issuers:\n  - {id: dev, public_key: " + strings.Repeat("A", 86) + "==}", "public_key is 64 bytes"},
		{"no key", "issuers:\n  - {id: dev}", "public_key is 0 bytes"},
		{"url base64", "issuers:\n  - {id: dev, public_key: " + "DqR7KWRZf3u3jm-3FU6aF0f5kX1pmrHRLnnUtoxjrcQ=" + "}", "not standard base64"},
		{"not YAML", "issuers: [", "yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := identity.LoadIssuers(writeFile(t, c.text))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	if _, err := identity.LoadIssuers(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}
