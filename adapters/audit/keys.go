package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyPath is where the seal signing key lives in a data directory.
func KeyPath(dataDir string) string { return filepath.Join(dataDir, "audit", "seal.key") }

// LoadOrCreateKey reads the ed25519 private key at path (base64 of the 64-byte
// key), creating it with mode 0600 when it does not exist.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParsePrivateKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("seal key %s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(priv) + "\n"); err != nil {
		return nil, false, err
	}
	return priv, true, f.Sync()
}

// ParsePrivateKey reads base64 of a 64-byte ed25519 private key.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PrivateKeySize {
		return nil, errors.New("want base64 of a 64-byte ed25519 private key")
	}
	return ed25519.PrivateKey(b), nil
}

// ParsePublicKey reads base64 of a 32-byte ed25519 public key, or the
// answer of GET /v1/audit/public-key (a JSON object with public_key), so
// that what an auditor saved from the API pins the key as it is.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var doc struct {
			Algorithm string `json:"algorithm"`
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal([]byte(s), &doc); err != nil || doc.PublicKey == "" {
			return nil, errors.New("want base64 of a 32-byte ed25519 public key, or the JSON answer of GET /v1/audit/public-key")
		}
		if doc.Algorithm != "" && doc.Algorithm != "ed25519" {
			return nil, fmt.Errorf("the key's algorithm is %q, want ed25519", doc.Algorithm)
		}
		s = doc.PublicKey
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil && len(b) == ed25519.PrivateKeySize {
		// The server's seal key (audit/seal.key) given where its public
		// key belongs: a verification is only as trustworthy as a key the
		// verifier holds apart from the ledger's writer, so it is not
		// taken; the key to pin is named.
		return nil, fmt.Errorf("this is a private seal key (the server's audit/seal.key), not a public key: pin its public key, %s (what GET /v1/audit/public-key answers), and keep the private key with the server only",
			EncodePublicKey(ed25519.PrivateKey(b).Public().(ed25519.PublicKey)))
	}
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("want base64 of a 32-byte ed25519 public key, or the JSON answer of GET /v1/audit/public-key")
	}
	return ed25519.PublicKey(b), nil
}

// EncodePublicKey is the base64 form ParsePublicKey reads.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }
