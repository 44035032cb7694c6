package domain

import (
	"crypto/ed25519"
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

// SecretPrefix starts every symmetric signing secret (signatures "v1",
// HMAC-SHA256).
const SecretPrefix = "whsec_"

// Asymmetric signing (Standard Webhooks "v1a", ed25519): the subscription's
// secret is the private key, whsk_<base64 of the 64-byte ed25519 private
// key>; receivers verify with the public key, whpk_<base64 of 32 bytes>.
const (
	AsymSecretPrefix = "whsk_"
	PublicKeyPrefix  = "whpk_"
)

// Signing schemes of a subscription.
const (
	SigningHMAC    = "v1"      // HMAC-SHA256 with a shared secret (the default)
	SigningEd25519 = "ed25519" // "v1a": ed25519, receivers hold the public key only
)

// SchemeOf names the signing scheme of a secret.
func SchemeOf(secret string) string {
	if strings.HasPrefix(secret, AsymSecretPrefix) {
		return SigningEd25519
	}
	return SigningHMAC
}

// NewSigningKeyPair makes an ed25519 key pair from a 32-byte seed drawn by
// the caller, as a whsk_ secret and its whpk_ public key.
func NewSigningKeyPair(seed []byte) (secret, public string) {
	priv := ed25519.NewKeyFromSeed(seed)
	return AsymSecretPrefix + base64.StdEncoding.EncodeToString(priv),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
}

// PublicKeyOf returns the whpk_ public key of a whsk_ secret (ok false for a
// symmetric secret, which has none).
func PublicKeyOf(secret string) (string, bool) {
	priv, err := asymKey(secret)
	if err != nil {
		return "", false
	}
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), true
}

func asymKey(secret string) (ed25519.PrivateKey, error) {
	body, ok := strings.CutPrefix(secret, AsymSecretPrefix)
	if !ok {
		return nil, invalid("secret", "must start with %q", AsymSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(key) != ed25519.PrivateKeySize {
		return nil, invalid("secret", "the part after %q must be the standard base64 of a 64-byte ed25519 private key", AsymSecretPrefix)
	}
	return ed25519.PrivateKey(key), nil
}

// SignatureTolerance is how far a receiver accepts a timestamp from its clock.
const SignatureTolerance = 5 * time.Minute

// ValidateSecret accepts whsec_<base64 of 24 to 64 bytes> and
// whsk_<base64 of a 64-byte ed25519 private key>.
func ValidateSecret(secret string) error {
	if strings.HasPrefix(secret, AsymSecretPrefix) {
		_, err := asymKey(secret)
		return err
	}
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
// once, so signing many requests costs one HMAC or one ed25519 signature
// each.
type Signer struct {
	keys []signingKey
}

type signingKey struct {
	hmac []byte
	ed   ed25519.PrivateKey
}

// NewSigner decodes the secrets; one signature is produced per secret.
func NewSigner(secrets ...string) (*Signer, error) {
	s := &Signer{keys: make([]signingKey, 0, len(secrets))}
	for _, sec := range secrets {
		if strings.HasPrefix(sec, AsymSecretPrefix) {
			k, err := asymKey(sec)
			if err != nil {
				return nil, err
			}
			s.keys = append(s.keys, signingKey{ed: k})
			continue
		}
		k, err := secretBytes(sec)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, signingKey{hmac: k})
	}
	return s, nil
}

// Sign returns the webhook-signature header value: space-separated
// "v1,<base64 HMAC-SHA256>" or "v1a,<base64 ed25519 signature>" of
// id.timestamp.body, one per secret.
func (s *Signer) Sign(msgID string, timestamp int64, body []byte) string {
	// "id.timestamp." once, with room after it for an HMAC's sum: a
	// signature per attempt, so the header is built with few allocations.
	signed := make([]byte, 0, len(msgID)+22+sha256.Size)
	signed = append(strconv.AppendInt(append(append(signed, msgID...), '.'), timestamp, 10), '.')
	var b strings.Builder
	b.Grow(len(s.keys) * (len("v1a,") + base64.StdEncoding.EncodedLen(ed25519.SignatureSize) + 1))
	var enc [88]byte // the base64 of an ed25519 signature, the longer one
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		var sig []byte
		if k.ed != nil {
			content := make([]byte, 0, len(signed)+len(body))
			sig = ed25519.Sign(k.ed, append(append(content, signed...), body...))
			b.WriteString("v1a,")
		} else {
			mac := hmac.New(sha256.New, k.hmac)
			mac.Write(signed)
			mac.Write(body)
			sig = mac.Sum(signed[len(signed):])
			b.WriteString("v1,")
		}
		n := base64.StdEncoding.EncodedLen(len(sig))
		base64.StdEncoding.Encode(enc[:n], sig)
		b.Write(enc[:n])
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

// VerifyAsym checks a received webhook with an ed25519 public key
// (whpk_...), as a Standard Webhooks receiver of "v1a" signatures does.
func VerifyAsym(publicKey, msgID, timestampHeader, signatureHeader string, body []byte, now time.Time) error {
	raw, ok := strings.CutPrefix(publicKey, PublicKeyPrefix)
	pub, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || len(pub) != ed25519.PublicKeySize {
		return invalid("public_key", "want whpk_<base64 of a 32-byte ed25519 public key>")
	}
	ts, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return invalid("webhook-timestamp", "not an integer")
	}
	t := time.Unix(ts, 0)
	if now.Sub(t) > SignatureTolerance || t.Sub(now) > SignatureTolerance {
		return invalid("webhook-timestamp", "outside the %s tolerance", SignatureTolerance)
	}
	content := []byte(msgID + "." + timestampHeader + "." + string(body))
	for _, sig := range strings.Fields(signatureHeader) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1a" {
			continue
		}
		if sb, err := base64.StdEncoding.DecodeString(value); err == nil && ed25519.Verify(ed25519.PublicKey(pub), content, sb) {
			return nil
		}
	}
	return ErrBadSignature
}
