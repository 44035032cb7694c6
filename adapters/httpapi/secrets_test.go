package httpapi_test

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/domain"
)

// TestCredentialHeadersAreNeverShown: values of Authorization, Cookie,
// headers marked secret and names with token/key/secret are redacted in every
// answer, for every role, in the raw ledger and in exports, while the sender
// still sends them, and a PATCH of what was read keeps them.
func TestCredentialHeadersAreNeverShown(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	e := newEnv(t, func(d *httpapi.Deps) { d.SealPublicKey, d.SealKey = key.Public().(ed25519.PublicKey), key })
	var mu sync.Mutex
	var seen []http.Header
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
	}))
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_s", "name": "S"})
	secrets := []string{"recv-token-1", "cookie-2", "apikey-3", "tok-4", "custom-5", "sekret-6"}
	created := e.must(201, "POST", "/v1/applications/app_s/subscriptions", A, map[string]any{
		"id": "sub_s", "url": hook.URL, "event_types": []string{"*"},
		"headers": map[string]string{
			"Authorization": "Bearer recv-token-1", "Cookie": "c=cookie-2", "X-Api-Key": "apikey-3",
			"X-Auth-Token": "tok-4", "X-Partner": "custom-5", "X-Client-Secret": "sekret-6", "X-Tenant": "visible-7",
		},
		"secret_headers": []string{"x-partner"},
	})
	own := e.key("application", "app_s")
	auditor := e.key("auditor", "")
	check := func(what string, body []byte) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(string(body), s) {
				t.Fatalf("%s shows the credential %q: %s", what, s, body)
			}
		}
	}
	check("the create answer", created.body)
	if !strings.Contains(string(created.body), "visible-7") || !strings.Contains(string(created.body), domain.RedactedValue) {
		t.Fatalf("the create answer redacts too much or nothing: %s", created.body)
	}
	for name, k := range map[string]string{"admin": A, "auditor": auditor, "own": own} {
		check(name+" GET", e.must(200, "GET", "/v1/applications/app_s/subscriptions/sub_s", k, nil).body)
		check(name+" list", e.must(200, "GET", "/v1/applications/app_s/subscriptions", k, nil).body)
		check(name+" as_of", e.must(200, "GET", "/v1/applications/app_s/subscriptions/sub_s?as_of=999999", k, nil).body)
	}
	// A PATCH of the headers as read keeps the stored credentials.
	got := e.must(200, "GET", "/v1/applications/app_s/subscriptions/sub_s", own, nil).json()
	e.must(200, "PATCH", "/v1/applications/app_s/subscriptions/sub_s", own, map[string]any{"headers": got["headers"], "description": "patched"})
	check("the raw ledger stream", e.must(200, "GET", "/v1/ledger/streams/subscription-sub_s", auditor, nil).body)
	check("the raw ledger", e.must(200, "GET", "/v1/ledger/events", auditor, nil).body)
	check("the export", e.must(200, "GET", "/v1/audit/export?subscription=sub_s", auditor, nil).body)

	e.must(202, "POST", "/v1/applications/app_s/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}})
	waitFor(t, "delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) > 0 })
	mu.Lock()
	h := seen[0]
	mu.Unlock()
	if h.Get("Authorization") != "Bearer recv-token-1" || h.Get("X-Partner") != "custom-5" || h.Get("X-Api-Key") != "apikey-3" || h.Get("X-Tenant") != "visible-7" {
		t.Fatalf("the sender must send the stored credentials (after the PATCH too): %v", h)
	}
}
