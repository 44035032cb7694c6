package domain

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Id prefixes. An id is prefix + a body of [A-Za-z0-9_-].
const (
	PrefixApplication  = "app_"
	PrefixSubscription = "sub_"
	PrefixMessage      = "msg_"
	PrefixDelivery     = "dlv_"
	PrefixKey          = "key_"
	PrefixErasure      = "era_"
)

// MaxIDLen bounds every id, so that stream names and URLs stay short.
const MaxIDLen = 64

// ValidateID accepts ids made of ASCII letters, digits, '_' and '-', 1 to 64
// bytes: safe in stream names, URL paths and file names (no path tricks).
func ValidateID(field, id string) error {
	if id == "" {
		return invalid(field, "empty id")
	}
	if len(id) > MaxIDLen {
		return invalid(field, "id longer than %d characters", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return invalid(field, "id %q may only contain letters, digits, '_' and '-'", id)
		}
	}
	return nil
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// derive hashes parts (NUL-separated) into a 26-character id body.
func derive(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + idEncoding.EncodeToString(h[:16])
}

// NewIDFromBytes makes an id with prefix from 16 random bytes (the caller
// draws them: the domain never reads a random source itself).
func NewIDFromBytes(prefix string, random [16]byte) string {
	return prefix + idEncoding.EncodeToString(random[:])
}

// MessageIDForKey derives a message id from (application, idempotency key), so
// that a duplicate publish lands on the same stream.
func MessageIDForKey(applicationID, idempotencyKey string) string {
	return derive(PrefixMessage, "idempotency", applicationID, idempotencyKey)
}

// DeliveryIDFor derives a delivery id from (message, subscription): scheduling
// the same pair twice appends to the same stream and is refused.
func DeliveryIDFor(messageID, subscriptionID string) string {
	return derive(PrefixDelivery, messageID, subscriptionID)
}

// DerivedEventID derives a UUID-formatted ledger event id from parts. Used
// where the same decision must produce the same event id on replay.
func DerivedEventID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return FormatUUID(h[:16])
}

// FormatUUID formats 16 bytes as an RFC 4122 version-4-style UUID string.
func FormatUUID(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j] = hex[c>>4]
		out[j+1] = hex[c&0x0f]
		j += 2
	}
	return string(out)
}

// EncodeToken encodes random bytes in the id alphabet.
func EncodeToken(b []byte) string { return idEncoding.EncodeToString(b) }
