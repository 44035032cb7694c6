package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (v1.0.0) header names.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// SecretPrefix starts every symmetric signing secret.
const SecretPrefix = "whsec_"

// SignatureTolerance is how far a receiver accepts a timestamp from its clock.
const SignatureTolerance = 5 * time.Minute

// ValidateSecret accepts whsec_<base64 of 24 to 64 bytes>.
func ValidateSecret(secret string) error {
	_, err := secretBytes(secret)
	return err
}

func secretBytes(secret string) ([]byte, error) {
	body, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, invalid("secret", "must start with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, invalid("secret", "the part after %q must be standard base64", SecretPrefix)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, invalid("secret", "must encode 24 to 64 bytes, not %d", len(key))
	}
	return key, nil
}

// NewSecret formats random bytes (24 to 64, drawn by the caller) as a secret.
func NewSecret(random []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(random)
}

// Signer signs bodies for one set of secrets. Building it decodes the secrets
// once, so signing many requests costs one HMAC each.
type Signer struct {
	keys [][]byte
}

// NewSigner decodes the secrets; one signature is produced per secret.
func NewSigner(secrets ...string) (*Signer, error) {
	s := &Signer{keys: make([][]byte, 0, len(secrets))}
	for _, sec := range secrets {
		k, err := secretBytes(sec)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// Sign returns the webhook-signature header value: space-separated
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per secret.
func (s *Signer) Sign(msgID string, timestamp int64, body []byte) string {
	ts := strconv.FormatInt(timestamp, 10)
	var b strings.Builder
	for i, k := range s.keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(msgID))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}

// Sign is the one-shot form of Signer.Sign.
func Sign(secret, msgID string, timestamp int64, body []byte) (string, error) {
	s, err := NewSigner(secret)
	if err != nil {
		return "", err
	}
	return s.Sign(msgID, timestamp, body), nil
}

// ErrBadSignature: no signature in the header matched, or the timestamp is
// outside the tolerance. It matches ErrInvalidArgument.
var ErrBadSignature = &ValidationError{Field: "webhook-signature", Reason: "no valid signature"}

// Verify checks a received webhook as a Standard Webhooks receiver does: the
// timestamp within SignatureTolerance of now, and at least one v1 signature
// equal (in constant time) to the expected one. Unknown versions are ignored.
func Verify(secret, msgID, timestampHeader, signatureHeader string, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return invalid("webhook-timestamp", "not an integer")
	}
	t := time.Unix(ts, 0)
	if now.Sub(t) > SignatureTolerance || t.Sub(now) > SignatureTolerance {
		return invalid("webhook-timestamp", "outside the %s tolerance", SignatureTolerance)
	}
	expected, err := Sign(secret, msgID, ts, body)
	if err != nil {
		return err
	}
	want := []byte(strings.TrimPrefix(expected, "v1,"))
	for _, sig := range strings.Fields(signatureHeader) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		if hmac.Equal([]byte(value), want) {
			return nil
		}
	}
	return ErrBadSignature
}
