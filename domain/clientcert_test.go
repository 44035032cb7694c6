package domain_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

func selfSigned(t *testing.T, cn string, notAfter time.Time) domain.ClientCertificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return domain.ClientCertificate{
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})),
	}
}

func TestClientCertificateValidation(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	good := selfSigned(t, "hookledger-client", now.Add(24*time.Hour))
	other := selfSigned(t, "other", now.Add(24*time.Hour))
	expired := selfSigned(t, "old", now.Add(-time.Hour))
	cases := []struct {
		name string
		cert domain.ClientCertificate
		ok   bool
	}{
		{"a certificate and its key", good, true},
		{"a key of another certificate", domain.ClientCertificate{CertPEM: good.CertPEM, KeyPEM: other.KeyPEM}, false},
		{"no key", domain.ClientCertificate{CertPEM: good.CertPEM}, false},
		{"not PEM", domain.ClientCertificate{CertPEM: "hello", KeyPEM: "world"}, false},
		{"expired", expired, false},
		{"too large", domain.ClientCertificate{CertPEM: strings.Repeat("x", 70<<10), KeyPEM: good.KeyPEM}, false},
	}
	for _, c := range cases {
		err := domain.ValidateClientCertificate(&c.cert, now)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, domain.ErrInvalidArgument)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if info := good.Info(); info.Subject != "CN=hookledger-client" || len(info.Fingerprint) != 64 || !info.NotAfter.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("info: %+v", info)
	}
}

// Given a subscription, when a client certificate is set, changed or removed,
// then the events carry the full new value and the key never leaves the
// ledger unredacted.
func TestSubscriptionClientCertificate(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	cert := selfSigned(t, "c1", now.Add(24*time.Hour))
	create := domain.CreateSubscription{SubscriptionID: "sub_m", ApplicationID: "app", URL: "https://example.com/h", EventTypes: domain.Filters{"*"},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ClientCert: &cert}
	evs, err := domain.DecideSubscription(domain.Subscription{}, create, now)
	if err != nil {
		t.Fatal(err)
	}
	s := domain.EvolveSubscription(domain.Subscription{}, evs[0])
	if s.ClientCert == nil || s.ClientCert.KeyPEM != cert.KeyPEM {
		t.Fatal("the created subscription has no client certificate")
	}
	data, _ := json.Marshal(evs[0])
	shown, _ := domain.RedactEventData(domain.TypeSubscriptionCreated, data)
	if strings.Contains(string(shown), "PRIVATE KEY") || !strings.Contains(string(shown), "BEGIN CERTIFICATE") {
		t.Fatalf("redacted event: %s", shown)
	}
	bad := create
	bad.ClientCert = &domain.ClientCertificate{CertPEM: cert.CertPEM}
	if _, err := domain.DecideSubscription(domain.Subscription{}, bad, now); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("a certificate without its key: %v", err)
	}
	desc := "d"
	evs, err = domain.DecideSubscription(s, domain.UpdateSubscription{Description: &desc}, now)
	if err != nil {
		t.Fatal(err)
	}
	if s2 := domain.EvolveSubscription(s, evs[0]); s2.ClientCert == nil {
		t.Fatal("an update that does not name the certificate removed it")
	}
	evs, err = domain.DecideSubscription(s, domain.UpdateSubscription{ClientCert: &domain.ClientCertificate{}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if s3 := domain.EvolveSubscription(s, evs[0]); s3.ClientCert != nil {
		t.Fatal("an empty certificate did not remove it")
	}
}
