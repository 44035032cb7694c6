package httpapi_test

import (
	"strings"
	"testing"
)

// TestMeNamesTheKey: any key learns its own id, role, application and name
// (what the console signs in with), never its hash; a revoked or unknown key
// is refused.
func TestMeNamesTheKey(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_m", "name": "M"})
	created := e.must(201, "POST", "/v1/keys", A, map[string]any{"role": "application", "application": "app_m", "name": "shop-ci"})
	me := e.must(200, "GET", "/v1/me", created.str("key"), nil).json()
	if me["id"] != created.str("id") || me["role"] != "application" || me["application"] != "app_m" || me["name"] != "shop-ci" || me["key"] != nil {
		t.Fatalf("me: %v", me)
	}
	if r := e.must(200, "GET", "/v1/me", A, nil).json(); r["role"] != "admin" {
		t.Fatalf("admin's me: %v", r)
	}
	e.must(400, "GET", "/v1/me?x=1", A, nil)
	e.must(204, "DELETE", "/v1/keys/"+created.str("id"), A, nil)
	if r := e.must(401, "GET", "/v1/me", created.str("key"), nil); r.str("code") != "unauthorized" {
		t.Fatalf("revoked key: %s", r.body)
	}
	e.must(401, "GET", "/v1/me", "hlk_not_a_key", nil)
}

// TestEventsNameTheirActors: ledger reads and timelines name a key actor as
// "name (role)" beside its id, and a process by its name.
func TestEventsNameTheirActors(t *testing.T) {
	e := newEnv(t)
	ci := e.must(201, "POST", "/v1/keys", e.admin, map[string]any{"role": "admin", "name": "admin-ci"})
	e.must(201, "POST", "/v1/applications", ci.str("key"), map[string]any{"id": "app_n", "name": "N"})
	items := e.must(200, "GET", "/v1/ledger/streams/application-app_n", e.admin, nil).items()
	if len(items) != 1 || items[0]["actor"] != ci.str("id") || items[0]["actor_name"] != "admin-ci (admin)" {
		t.Fatalf("application event: %v", items)
	}
	anon := e.must(201, "POST", "/v1/keys", e.admin, map[string]any{"role": "auditor"})
	evs := e.must(200, "GET", "/v1/ledger/events", e.admin, nil).items()
	for _, ev := range evs {
		if ev["actor"] == "test" && ev["actor_name"] != "test" {
			t.Fatalf("a process actor is named %v", ev["actor_name"])
		}
	}
	keyEvents := e.must(200, "GET", "/v1/ledger/streams/apikey-"+anon.str("id"), e.admin, nil).items()
	if len(keyEvents) != 1 || !strings.HasSuffix(keyEvents[0]["actor_name"].(string), "(admin)") {
		t.Fatalf("the auditor key's creation: %v", keyEvents)
	}
}
