package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestEndpointAuthFields: basic and bearer credentials given as the auth
// field reach the endpoint, are never shown back (write-only), can be
// replaced and removed, and a malformed one is refused without a write.
func TestEndpointAuthFields(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var seen []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_e", "name": "E"})
	subs := "/v1/applications/app_e/subscriptions"
	before, _ := e.store.Head(context.Background())
	for _, bad := range []map[string]any{
		{"type": "basic", "username": "a:b", "password": "p"},
		{"type": "bearer", "token": "two words"},
		{"type": "digest"},
		{"type": "bearer", "token": "t", "extra": 1},
	} {
		if r := e.do("POST", subs, A, map[string]any{"url": hook.URL, "event_types": []string{"*"}, "auth": bad}); r.status/100 != 4 {
			t.Fatalf("auth %v accepted: %d %s", bad, r.status, r.body)
		}
	}
	if r := e.do("POST", subs, A, map[string]any{"url": hook.URL, "event_types": []string{"*"}, "auth": map[string]any{"type": "bearer", "token": "t"},
		"headers": map[string]string{"Authorization": "Bearer x"}}); r.status != 422 || r.str("field") != "auth" {
		t.Fatalf("auth and an Authorization header together: %d %s", r.status, r.body)
	}
	if after, _ := e.store.Head(context.Background()); after != before {
		t.Fatal("a refused request appended to the ledger")
	}

	created := e.must(201, "POST", subs, A, map[string]any{"id": "sub_e", "url": hook.URL, "event_types": []string{"*"},
		"auth": map[string]any{"type": "basic", "username": "alice", "password": "pw-s3cret"}})
	base := subs + "/sub_e"
	for what, body := range map[string][]byte{
		"create answer": created.body,
		"GET":           e.must(200, "GET", base, A, nil).body,
		"raw stream":    e.must(200, "GET", "/v1/ledger/streams/subscription-sub_e", e.key("auditor", ""), nil).body,
	} {
		if strings.Contains(string(body), "pw-s3cret") || strings.Contains(string(body), "YWxpY2U6cHctczNjcmV0") {
			t.Fatalf("the %s shows the credential: %s", what, body)
		}
	}
	publish := func(n int) {
		e.must(202, "POST", "/v1/applications/app_e/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": n}})
		waitFor(t, "delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == n })
	}
	publish(1)
	e.must(200, "PATCH", base, A, map[string]any{"auth": map[string]any{"type": "bearer", "token": "tok-2"}})
	publish(2)
	e.must(200, "PATCH", base, A, map[string]any{"auth": map[string]any{"type": "none"}})
	publish(3)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"Basic YWxpY2U6cHctczNjcmV0", "Bearer tok-2", ""}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("Authorization sent: %q, want %q", seen, want)
		}
	}
}
