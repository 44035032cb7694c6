// Package ids draws the random identifiers the domain takes as arguments:
// ledger event ids (UUIDs), aggregate ids, secrets and jitter.
package ids

import (
	"crypto/rand"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// NewEventID returns a random (version 4) UUID for a ledger event.
func NewEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return domain.FormatUUID(b[:])
}

// New returns a time-ordered id with the given prefix (domain.PrefixMessage,
// ...): the time now, then random bits.
func New(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return domain.NewTimeOrderedID(prefix, time.Now().UnixMilli(), b)
}

// NewSecret returns a fresh whsec_ signing secret of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return domain.NewSecret(b)
}

// NewSigningKeyPair draws an ed25519 key pair for "v1a" signatures: the
// whsk_ secret (kept in the ledger) and its whpk_ public key.
func NewSigningKeyPair() (secret, public string) {
	seed := make([]byte, 32)
	rand.Read(seed)
	return domain.NewSigningKeyPair(seed)
}

// NewToken returns prefix and n random bytes in the id alphabet (for API keys).
func NewToken(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + domain.EncodeToken(b)
}
