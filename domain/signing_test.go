package domain_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// The known-answer vector of the Standard Webhooks reference libraries.
const (
	kaSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	kaID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	kaTS     = 1614265330
	kaBody   = `{"test": 2432232314}`
	kaSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignKnownAnswer(t *testing.T) {
	got, err := domain.Sign(kaSecret, kaID, kaTS, []byte(kaBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != kaSig {
		t.Fatalf("Sign = %q, want %q", got, kaSig)
	}
}

func TestSignerOneSignaturePerSecret(t *testing.T) {
	other := domain.NewSecret(make([]byte, 32))
	s, err := domain.NewSigner(kaSecret, other)
	if err != nil {
		t.Fatal(err)
	}
	sigs := strings.Fields(s.Sign(kaID, kaTS, []byte(kaBody)))
	if len(sigs) != 2 || sigs[0] != kaSig {
		t.Fatalf("signatures = %q, want 2 with the first %q", sigs, kaSig)
	}
	now := time.Unix(kaTS, 0)
	// A receiver that only knows the second secret accepts the header too.
	if err := domain.Verify(other, kaID, "1614265330", strings.Join(sigs, " "), []byte(kaBody), now); err != nil {
		t.Fatalf("verify with the rotated-in secret: %v", err)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(kaTS, 0)
	cases := []struct {
		name string
		ts   string
		sig  string
		body string
		now  time.Time
		ok   bool
	}{
		{"valid", "1614265330", kaSig, kaBody, now, true},
		{"valid among unknown versions", "1614265330", "v2,abc " + kaSig + " v1a,xyz", kaBody, now, true},
		{"body changed", "1614265330", kaSig, `{"test": 2432232315}`, now, false},
		{"timestamp changed", "1614265331", kaSig, kaBody, now, false},
		{"too old", "1614265330", kaSig, kaBody, now.Add(6 * time.Minute), false},
		{"in the future", "1614265330", kaSig, kaBody, now.Add(-6 * time.Minute), false},
		{"not a number", "abc", kaSig, kaBody, now, false},
		{"no signature", "1614265330", "", kaBody, now, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := domain.Verify(kaSecret, kaID, c.ts, c.sig, []byte(c.body), c.now)
			if c.ok && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if !c.ok && !errors.Is(err, domain.ErrInvalidArgument) {
				t.Fatalf("want ErrInvalidArgument, got %v", err)
			}
		})
	}
}

func TestValidateSecret(t *testing.T) {
	for secret, ok := range map[string]bool{
		kaSecret:                           true,
		domain.NewSecret(make([]byte, 64)): true,
		domain.NewSecret(make([]byte, 23)): false,
		domain.NewSecret(make([]byte, 65)): false,
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw": false,
		"whsec_not base64!!":               false,
	} {
		if err := domain.ValidateSecret(secret); (err == nil) != ok {
			t.Errorf("ValidateSecret(%q) = %v, want ok=%v", secret, err, ok)
		}
	}
}

// TestEd25519SignaturesVerifyIndependently: a v1a signature is the ed25519
// signature of "{id}.{timestamp}.{body}", checked here with crypto/ed25519
// alone (what a receiver holding only the public key does).
func TestEd25519SignaturesVerifyIndependently(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	secret, public := domain.NewSigningKeyPair(seed)
	if !strings.HasPrefix(secret, "whsk_") || !strings.HasPrefix(public, "whpk_") || domain.ValidateSecret(secret) != nil {
		t.Fatalf("key pair %s %s", secret, public)
	}
	if pub, ok := domain.PublicKeyOf(secret); !ok || pub != public {
		t.Fatalf("PublicKeyOf: %s %v", pub, ok)
	}
	s, err := domain.NewSigner(secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"order":"1001"}`)
	header := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	parts := strings.Fields(header)
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "v1a,") || !strings.HasPrefix(parts[1], "v1,") {
		t.Fatalf("header %q", header)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(parts[0], "v1a,"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(public, "whpk_"))
	if !ed25519.Verify(ed25519.PublicKey(pub), []byte("msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330."+string(body)), sig) {
		t.Fatal("crypto/ed25519 does not verify the v1a signature over id.timestamp.body")
	}
	if ed25519.Verify(ed25519.PublicKey(pub), []byte("msg_p5jXN8AQM9LWM0D4loKWxJek.1614265331."+string(body)), sig) {
		t.Fatal("the signature verifies another timestamp")
	}
	now := time.Unix(1614265330, 0)
	if err := domain.VerifyAsym(public, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", header, body, now); err != nil {
		t.Fatalf("VerifyAsym: %v", err)
	}
	if err := domain.VerifyAsym(public, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", header, []byte(`{"order":"1002"}`), now); err == nil {
		t.Fatal("VerifyAsym accepted another body")
	}
}

// BenchmarkSignerSign: one HMAC signature of a 1 KiB body, as each attempt makes.
func BenchmarkSignerSign(b *testing.B) {
	s, err := domain.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		s.Sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231, body)
	}
}
