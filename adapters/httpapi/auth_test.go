package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
)

// TestAuthMatrix checks every route against every kind of caller: no key,
// admin, auditor, a key of the application the route is about, and a key of
// another application.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	hook := httptest.NewServer(receiver.New())
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_b", "name": "B"})
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": hook.URL + "/a", "event_types": []string{"*"}})
	msg := e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}}).str("id")
	dlv := domain.DeliveryIDFor(msg, "sub_a")
	waitFor(t, "delivery scheduled", func() bool { return e.do("GET", "/v1/deliveries/"+dlv, A, nil).status == 200 })
	revocable := e.key("auditor", "")

	keys := map[string]string{
		"admin":   A,
		"auditor": e.key("auditor", ""),
		"own":     e.key("application", "app_a"),
		"other":   e.key("application", "app_b"),
	}
	// rule: who may call the route. "admin": admin only. "read": admin and
	// auditor. "app-read": admin, auditor and the application's own key.
	// "app-write": admin and the application's own key.
	routes := []struct {
		method, path string
		body         any
		rule         string
	}{
		{"POST", "/v1/keys", map[string]any{"role": "auditor"}, "admin"},
		{"GET", "/v1/keys", nil, "admin"},
		{"DELETE", "/v1/keys/" + domain.KeyIDForHash(domain.HashAPIKey(revocable)), nil, "admin"},
		{"POST", "/v1/applications", map[string]any{"name": "x"}, "admin"},
		{"GET", "/v1/applications", nil, "read"},
		{"GET", "/v1/applications/app_a", nil, "app-read"},
		{"POST", "/v1/applications/app_a/subscriptions", map[string]any{"url": hook.URL + "/n", "event_types": []string{"*"}}, "app-write"},
		{"GET", "/v1/applications/app_a/subscriptions", nil, "app-read"},
		{"GET", "/v1/applications/app_a/subscriptions/sub_a", nil, "app-read"},
		{"PATCH", "/v1/applications/app_a/subscriptions/sub_a", map[string]any{"description": "d"}, "app-write"},
		{"POST", "/v1/applications/app_a/subscriptions/sub_a/pause", nil, "app-write"},
		{"POST", "/v1/applications/app_a/subscriptions/sub_a/resume", nil, "app-write"},
		{"POST", "/v1/applications/app_a/subscriptions/sub_a/rotate-secret", nil, "app-write"},
		{"POST", "/v1/applications/app_a/subscriptions/sub_a/recover", map[string]any{"since": "2020-01-01T00:00:00Z"}, "app-write"},
		{"DELETE", "/v1/applications/app_a/subscriptions/sub_missing", nil, "app-write"},
		{"POST", "/v1/applications/app_a/messages", map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}}, "app-write"},
		{"GET", "/v1/applications/app_a/messages", nil, "app-read"},
		{"GET", "/v1/applications/app_a/messages/" + msg, nil, "app-read"},
		{"GET", "/v1/applications/app_a/deliveries", nil, "app-read"},
		{"GET", "/v1/deliveries/" + dlv, nil, "app-read"},
		{"GET", "/v1/deliveries/" + dlv + "/timeline", nil, "app-read"},
		{"POST", "/v1/deliveries/" + dlv + "/redeliver", nil, "app-write"},
		{"GET", "/v1/ledger/events", nil, "read"},
		{"GET", "/v1/ledger/streams/message-" + msg, nil, "read"},
	}
	allowed := map[string]map[string]bool{
		"admin":     {"admin": true},
		"read":      {"admin": true, "auditor": true},
		"app-read":  {"admin": true, "auditor": true, "own": true},
		"app-write": {"admin": true, "own": true},
	}
	for _, r := range routes {
		if got := e.do(r.method, r.path, "", r.body); got.status != 401 || got.str("code") != "unauthorized" {
			t.Errorf("%s %s without a key: %d %s", r.method, r.path, got.status, got.body)
		}
		if got := e.do(r.method, r.path, "hlk_not_a_key", r.body); got.status != 401 {
			t.Errorf("%s %s with a wrong key: %d", r.method, r.path, got.status)
		}
		for _, role := range []string{"auditor", "own", "other", "admin"} { // admin last: its writes change state
			got := e.do(r.method, r.path, keys[role], r.body)
			ok := allowed[r.rule][role]
			appScoped := strings.HasPrefix(r.rule, "app-")
			switch {
			case ok && (got.status == 401 || got.status == 403 || got.status >= 500):
				t.Errorf("%s %s as %s: %d, want allowed: %s", r.method, r.path, role, got.status, got.body)
			case ok && got.status == 404 && !strings.Contains(r.path, "missing"):
				t.Errorf("%s %s as %s: 404, want allowed: %s", r.method, r.path, role, got.body)
			case !ok && role == "other" && appScoped && got.status != 404:
				t.Errorf("%s %s with another application's key: %d, want 404 (no hint that it exists)", r.method, r.path, got.status)
			case !ok && !(role == "other" && appScoped) && got.status != 403:
				t.Errorf("%s %s as %s: %d, want 403: %s", r.method, r.path, role, got.status, got.body)
			}
		}
	}
	// An application key cannot create keys for itself nor see other tenants' listings.
	if got := e.do("GET", "/v1/applications/app_b/deliveries", keys["own"], nil); got.status != 404 {
		t.Fatalf("own key on app_b: %d", got.status)
	}
}

// TestActorRecorded: the key id of the caller is the actor in the metadata
// of the events its changes append.
func TestActorRecorded(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/v1/applications", e.admin, map[string]any{"id": "app_a", "name": "A"})
	k := e.must(201, "POST", "/v1/keys", e.admin, map[string]any{"role": "application", "application": "app_a"})
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", k.str("key"), map[string]any{"id": "sub_1", "url": "http://127.0.0.1:1/", "event_types": []string{"*"}})
	ev := e.must(200, "GET", "/v1/ledger/streams/subscription-sub_1", e.admin, nil).items()[0]
	if ev["actor"] != k.str("id") {
		t.Fatalf("actor %v, want the key id %s", ev["actor"], k.str("id"))
	}
}

// TestLastAdminKeyCannotBeRevoked: revoking the only active admin key would
// leave the ledger with no one able to manage keys.
func TestLastAdminKeyCannotBeRevoked(t *testing.T) {
	e := newEnv(t)
	first := domain.KeyIDForHash(domain.HashAPIKey(e.admin))
	r := e.do("DELETE", "/v1/keys/"+first, e.admin, nil)
	if r.status != 409 || r.str("code") != "last_admin_key" {
		t.Fatalf("revoking the only admin key: %d %s", r.status, r.body)
	}
	second := e.key("admin", "")
	aud := e.key("auditor", "")
	e.must(204, "DELETE", "/v1/keys/"+first, second, nil)
	if r := e.do("GET", "/v1/keys", e.admin, nil); r.status != 401 {
		t.Fatalf("the revoked key still works: %d", r.status)
	}
	r = e.do("DELETE", "/v1/keys/"+domain.KeyIDForHash(domain.HashAPIKey(second)), second, nil)
	if r.status != 409 || r.str("code") != "last_admin_key" {
		t.Fatalf("revoking the new only admin key: %d %s", r.status, r.body)
	}
	// Auditor and application keys are not affected by the rule.
	e.must(204, "DELETE", "/v1/keys/"+domain.KeyIDForHash(domain.HashAPIKey(aud)), second, nil)
}

// TestAuthFailuresAreThrottled: past the burst of failures, an address gets
// 429 with Retry-After, whatever key it sends, until its bucket refills.
func TestAuthFailuresAreThrottled(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) { d.AuthFailuresPerSecond, d.AuthFailureBurst = 2, 5 })
	for i := 0; i < 5; i++ {
		if r := e.do("GET", "/v1/applications", "wrong-key-"+strings.Repeat("x", i), nil); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := e.do("GET", "/v1/applications", "wrong-key-again", nil)
	if r.status != 429 || r.str("code") != "too_many_auth_failures" || r.header.Get("Retry-After") == "" {
		t.Fatalf("after the burst: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/applications", e.admin, nil); r.status != 429 {
		t.Fatalf("a throttled address is answered 429 even with a good key (no oracle for guesses): %d", r.status)
	}
	time.Sleep(600 * time.Millisecond) // one token back at 2/s
	e.must(200, "GET", "/v1/applications", e.admin, nil)
	// Successes spend nothing.
	for i := 0; i < 20; i++ {
		e.must(200, "GET", "/v1/applications", e.admin, nil)
	}
}

// TestRequestIDIsSanitised: a client's X-Request-Id becomes the causation id
// of ledger events only when it is short and of safe characters.
func TestRequestIDIsSanitised(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		sent string
		kept bool
	}{
		{"abc-123_x.y:z", true},
		{strings.Repeat("a", 65), false},
		{"has space", false},
		{"<script>", false},
		{"caf\u00e9", false},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/applications", strings.NewReader(`{"name":"n"}`))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", tc.sent)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got := res.Header.Get("X-Request-Id")
		if tc.kept != (got == tc.sent) || (!tc.kept && !strings.HasPrefix(got, "req_")) {
			t.Fatalf("X-Request-Id %q answered as %q", tc.sent, got)
		}
		var app struct {
			ID string `json:"id"`
		}
		json.Unmarshal(body, &app)
		evs, err := e.store.ReadStream(context.Background(), domain.ApplicationStream(app.ID), 0, domain.Forward, 1)
		if err != nil {
			t.Fatal(err)
		}
		var md domain.Metadata
		json.Unmarshal(evs[0].Metadata, &md)
		if md.CausationID != got {
			t.Fatalf("causation id %q, answered request id %q", md.CausationID, got)
		}
	}
}

// TestTakenSubscriptionIDRevealsNoTenant: an application key creating a
// subscription with an id another tenant uses gets the same answer as for an
// id of its own, naming nothing about the owner.
func TestTakenSubscriptionIDRevealsNoTenant(t *testing.T) {
	e := newEnv(t)
	hook := httptest.NewServer(receiver.New())
	defer hook.Close()
	e.must(201, "POST", "/v1/applications", e.admin, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications", e.admin, map[string]any{"id": "app_b", "name": "B"})
	a, b := e.key("application", "app_a"), e.key("application", "app_b")
	body := func(id string) map[string]any {
		return map[string]any{"id": id, "url": hook.URL + "/x", "event_types": []string{"*"}}
	}
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", a, body("sub_secret_a"))
	e.must(201, "POST", "/v1/applications/app_b/subscriptions", b, body("sub_mine_b"))
	foreign := e.do("POST", "/v1/applications/app_b/subscriptions", b, body("sub_secret_a"))
	own := e.do("POST", "/v1/applications/app_b/subscriptions", b, body("sub_mine_b"))
	if foreign.status != 409 || foreign.str("code") != "id_unavailable" {
		t.Fatalf("foreign id: %d %s", foreign.status, foreign.body)
	}
	if foreign.str("detail") != own.str("detail") || foreign.status != own.status || strings.Contains(string(foreign.body), "app_a") {
		t.Fatalf("the answers differ or name the owner:\n%s\n%s", foreign.body, own.body)
	}
}

// TestExpiringKeys: a key created with expires_at authenticates until then
// and is refused after, saying so; listings show it expired; an expired
// admin key does not count as the other admin key.
func TestExpiringKeys(t *testing.T) {
	e := newEnv(t)
	at := time.Now().Add(1500 * time.Millisecond).UTC()
	k := e.must(201, "POST", "/v1/keys", e.admin, map[string]any{"role": "auditor", "expires_at": at.Format(time.RFC3339Nano)})
	if k.str("expires_at") == "" || k.json()["expired"] != false {
		t.Fatalf("an expiring key: %s", k.body)
	}
	admin2 := e.must(201, "POST", "/v1/keys", e.admin, map[string]any{"role": "admin", "expires_at": at.Format(time.RFC3339Nano)})
	e.must(200, "GET", "/v1/applications", k.str("key"), nil)
	for body, field := range map[string]string{
		`{"role":"auditor","expires_at":"2001-01-01T00:00:00Z"}`: "expires_at",
		`{"role":"auditor","expires_at":"next week"}`:            "expires_at",
		`{"role":"auditor","expires_at":"2999-01-01T00:00:00Z"}`: "expires_at",
	} {
		if r := e.doRaw("POST", "/v1/keys", e.admin, "application/json", body); r.status != 422 || r.str("field") != field {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}
	time.Sleep(time.Until(at) + 50*time.Millisecond)
	r := e.do("GET", "/v1/applications", k.str("key"), nil)
	if r.status != 401 || r.str("code") != "unauthorized" || !strings.Contains(r.str("detail"), "expired at "+at.Format(time.RFC3339)) {
		t.Fatalf("an expired key: %d %s", r.status, r.body)
	}
	var listed map[string]any
	for _, it := range e.must(200, "GET", "/v1/keys", e.admin, nil).items() {
		if it["id"] == k.str("id") {
			listed = it
		}
	}
	if listed["expired"] != true || listed["revoked"] != false {
		t.Fatalf("the expired key listed as %v", listed)
	}
	first := domain.KeyIDForHash(domain.HashAPIKey(e.admin))
	if r := e.do("DELETE", "/v1/keys/"+first, e.admin, nil); r.status != 409 || r.str("code") != "last_admin_key" {
		t.Fatalf("revoking the only admin key while another admin key (%s) has expired: %d %s", admin2.str("id"), r.status, r.body)
	}
}
