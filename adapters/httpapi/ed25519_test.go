package httpapi_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestEd25519Subscription: a subscription created with "signing": "ed25519"
// never shows its private key, exposes its public key, and its webhooks carry
// v1a signatures that verify with the public key alone (crypto/ed25519 over
// id.timestamp.body); a rotation keeps the scheme and signs with both keys
// during the grace period.
func TestEd25519Subscription(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []http.Header
	var bodies [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r.Header.Clone()), append(bodies, b)
		mu.Unlock()
	}))
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_e", "name": "E"})
	base := "/v1/applications/app_e/subscriptions"
	created := e.must(201, "POST", base, A, map[string]any{"id": "sub_e", "url": hook.URL, "event_types": []string{"*"}, "signing": "ed25519"})
	if strings.Contains(string(created.body), "whsk_") || created.str("secret") != "" || created.str("signing") != "ed25519" || !strings.HasPrefix(created.str("public_key"), "whpk_") {
		t.Fatalf("create answer: %s", created.body)
	}
	key := e.must(200, "GET", base+"/sub_e/signing-key", A, nil).json()
	keys := key["keys"].([]any)
	if key["algorithm"] != "ed25519" || len(keys) != 1 || keys[0].(map[string]any)["public_key"] != created.str("public_key") {
		t.Fatalf("signing-key: %v", key)
	}
	e.must(201, "POST", base, A, map[string]any{"id": "sub_h", "url": hook.URL, "event_types": []string{"none.*"}})
	e.must(409, "GET", base+"/sub_h/signing-key", A, nil)
	e.must(422, "POST", base, A, map[string]any{"url": hook.URL, "event_types": []string{"*"}, "signing": "rsa"})
	e.must(422, "POST", base, A, map[string]any{"url": hook.URL, "event_types": []string{"*"}, "signing": "ed25519", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})

	verify := func(public string, h http.Header, body []byte) bool {
		pub, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(public, "whpk_"))
		content := []byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body))
		for _, sig := range strings.Fields(h.Get("webhook-signature")) {
			if v, b64, _ := strings.Cut(sig, ","); v == "v1a" {
				s, _ := base64.StdEncoding.DecodeString(b64)
				if ed25519.Verify(ed25519.PublicKey(pub), content, s) {
					return true
				}
			}
		}
		return false
	}
	publish := func() (http.Header, []byte) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		e.must(202, "POST", "/v1/applications/app_e/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": n}})
		waitFor(t, "delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > n })
		mu.Lock()
		defer mu.Unlock()
		return got[n], bodies[n]
	}
	h, body := publish()
	old := created.str("public_key")
	if !verify(old, h, body) || strings.Contains(h.Get("webhook-signature"), "v1,") {
		t.Fatalf("the webhook does not carry a v1a signature that verifies with the public key: %v", h.Get("webhook-signature"))
	}

	rot := e.must(200, "POST", base+"/sub_e/rotate-secret", A, nil)
	if strings.Contains(string(rot.body), "whsk_") || rot.str("signing") != "ed25519" || rot.str("public_key") == old {
		t.Fatalf("rotation answer: %s", rot.body)
	}
	if keys := e.must(200, "GET", base+"/sub_e/signing-key", A, nil).json()["keys"].([]any); len(keys) != 2 {
		t.Fatalf("during the grace period both keys sign: %v", keys)
	}
	h, body = publish()
	if !verify(old, h, body) || !verify(rot.str("public_key"), h, body) {
		t.Fatalf("during the grace period both public keys verify: %v", h.Get("webhook-signature"))
	}
	if raw := e.must(200, "GET", "/v1/ledger/streams/subscription-sub_e", A, nil).body; strings.Contains(string(raw), "whsk_") {
		t.Fatal("the raw ledger shows the private key")
	}
}
