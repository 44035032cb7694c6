package httpapi_test

import (
	"strings"
	"testing"

	"github.com/hookledger/hookledger/adapters/sender/sendertest"
)

// TestSubscriptionClientCertificate: a client certificate is accepted at
// creation and update, described (subject, expiry, fingerprint) but its key
// is never shown, not in the answers nor in the ledger's events; a broken
// one is refused; an empty one removes it.
func TestSubscriptionClientCertificate(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	ca := sendertest.NewCA(t)
	cert := ca.ClientCert(t, "shop-client")
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_m", "name": "M"})
	base := "/v1/applications/app_m/subscriptions"
	created := e.must(201, "POST", base, A, map[string]any{"id": "sub_m", "url": "https://example.com/h", "event_types": []string{"*"},
		"client_certificate": map[string]any{"cert_pem": cert.CertPEM, "key_pem": cert.KeyPEM}})
	info, _ := created.json()["client_certificate"].(map[string]any)
	if info["subject"] != "CN=shop-client" || len(info["fingerprint_sha256"].(string)) != 64 || info["not_after"] == nil {
		t.Fatalf("client_certificate in the answer: %v", info)
	}
	for _, r := range []resp{created, e.must(200, "GET", base+"/sub_m", A, nil), e.must(200, "GET", "/v1/ledger/streams/subscription-sub_m", A, nil)} {
		if strings.Contains(string(r.body), "PRIVATE KEY") {
			t.Fatalf("the certificate's key is shown: %s", r.body)
		}
	}
	if !strings.Contains(string(e.must(200, "GET", "/v1/ledger/streams/subscription-sub_m", A, nil).body), "BEGIN CERTIFICATE") {
		t.Fatal("the ledger event should still show the (public) certificate")
	}
	e.must(422, "POST", base, A, map[string]any{"url": "https://example.com/h", "event_types": []string{"*"},
		"client_certificate": map[string]any{"cert_pem": cert.CertPEM}})
	e.must(422, "PATCH", base+"/sub_m", A, map[string]any{"client_certificate": map[string]any{"cert_pem": "x", "key_pem": "y"}})
	if got := e.must(200, "PATCH", base+"/sub_m", A, map[string]any{"description": "d"}).json()["client_certificate"]; got == nil {
		t.Fatal("an update not naming the certificate removed it")
	}
	if got := e.must(200, "PATCH", base+"/sub_m", A, map[string]any{"client_certificate": map[string]any{}}).json()["client_certificate"]; got != nil {
		t.Fatalf("an empty client_certificate should remove it: %v", got)
	}
}
