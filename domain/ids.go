package domain

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
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

// idAlphabet is in ASCII order, so encoded ids sort as their bytes do.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

var idEncoding = base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)

// derive hashes parts (NUL-separated) into a 26-character id body.
func derive(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + idEncoding.EncodeToString(h[:16])
}

// A time-ordered id body is 10 characters of creation time (Unix
// milliseconds, 50 bits) then 17 random ones (85 bits): 27 characters, one
// more than a random or derived body (26), so the two kinds are told apart
// by length alone. Ids drawn one after another sort in the order drawn (to
// the millisecond), so the keys of the streams and views of recent messages
// and deliveries sit together in the stores' tables and caches instead of
// anywhere among all the keys ever written (docs/benchmarks.md).
const (
	idTimeChars     = 10
	idRandomChars   = 17
	timeOrderedBody = idTimeChars + idRandomChars
)

// NewTimeOrderedID makes an id with prefix whose body starts with unixMilli
// (the caller reads the clock and draws the random bytes; 11 of them are
// used). Ids made later sort after ids made earlier, to the millisecond.
func NewTimeOrderedID(prefix string, unixMilli int64, random [16]byte) string {
	var b [timeOrderedBody]byte
	ms := uint64(max(unixMilli, 0))
	for i := idTimeChars - 1; i >= 0; i-- {
		b[i] = idAlphabet[ms&31]
		ms >>= 5
	}
	idEncoding.Encode(b[idTimeChars:], random[:idRandomChars*5/8]) // 10 bytes: 16 characters
	b[timeOrderedBody-1] = idAlphabet[random[10]&31]
	return prefix + string(b[:])
}

// IDTime is the creation time a time-ordered id carries (false for a random
// or derived id).
func IDTime(prefix, id string) (time.Time, bool) {
	body, ok := strings.CutPrefix(id, prefix)
	if !ok || len(body) != timeOrderedBody {
		return time.Time{}, false
	}
	var ms int64
	for i := 0; i < timeOrderedBody; i++ {
		v := strings.IndexByte(idAlphabet, body[i])
		if v < 0 {
			return time.Time{}, false
		}
		if i < idTimeChars {
			ms = ms<<5 | int64(v)
		}
	}
	return time.UnixMilli(ms).UTC(), true
}

// MessageIDForKey derives a message id from (application, idempotency key), so
// that a duplicate publish lands on the same stream.
func MessageIDForKey(applicationID, idempotencyKey string) string {
	return derive(PrefixMessage, "idempotency", applicationID, idempotencyKey)
}

// DeliveryIDFor derives a delivery id from (message, subscription): scheduling
// the same pair twice appends to the same stream and is refused. A
// time-ordered message id lends its time to its deliveries' ids (the rest is
// the hash); any other message id keeps the derivation it always had, so a
// ledger written before time-ordered ids schedules nothing twice.
func DeliveryIDFor(messageID, subscriptionID string) string {
	d := derive(PrefixDelivery, messageID, subscriptionID)
	if body, ok := strings.CutPrefix(messageID, PrefixMessage); ok && len(body) == timeOrderedBody {
		return PrefixDelivery + body[:idTimeChars] + d[len(PrefixDelivery):len(PrefixDelivery)+idRandomChars]
	}
	return d
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
