package httpapi_test

import (
	"encoding/json"
	"testing"
)

// doIf sends a JSON body (or none) with an If-Match header.
func (e *env) doIf(method, path, key, ifMatch string, body any) resp {
	e.t.Helper()
	h := map[string]string{"If-Match": ifMatch}
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
		h["Content-Type"] = "application/json"
	}
	return e.doWith(method, path, key, b, h)
}

// TestIfMatchPreventsALostUpdate: two clients read a subscription and each
// change it on what they read; with If-Match the second change is refused
// (412, nothing recorded) instead of overwriting the first unseen.
func TestIfMatchPreventsALostUpdate(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	created := e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": "https://hooks.example.com/a", "event_types": []string{"order.*"}})
	if got := created.header.Get("ETag"); got != `"0"` {
		t.Fatalf("a created subscription's ETag is %q, want \"0\"", got)
	}
	base := "/v1/applications/app_a/subscriptions/sub_a"
	read := e.must(200, "GET", base, A, nil)
	tag := read.header.Get("ETag")
	if tag != `"0"` {
		t.Fatalf("GET's ETag is %q, want the revision \"0\"", tag)
	}

	first := e.doIf("PATCH", base, A, tag, map[string]any{"event_types": []string{"order.*", "invoice.*"}})
	if first.status != 200 || first.header.Get("ETag") != `"1"` {
		t.Fatalf("the first change on what it read: %d ETag %q %s", first.status, first.header.Get("ETag"), first.body)
	}
	second := e.doIf("PATCH", base, A, tag, map[string]any{"event_types": []string{"order.*", "refund.*"}})
	if second.status != 412 || second.str("code") != "precondition_failed" || second.header.Get("ETag") != `"1"` {
		t.Fatalf("the second change on a stale read: %d ETag %q %s, want 412 naming the revision now", second.status, second.header.Get("ETag"), second.body)
	}
	now := e.must(200, "GET", base, A, nil)
	var sub struct {
		EventTypes []string `json:"event_types"`
		Revision   int      `json:"revision"`
	}
	if err := json.Unmarshal(now.body, &sub); err != nil {
		t.Fatal(err)
	}
	if len(sub.EventTypes) != 2 || sub.EventTypes[1] != "invoice.*" || sub.Revision != 1 || now.header.Get("ETag") != `"1"` {
		t.Fatalf("the first change was overwritten or the refused one recorded: %s", now.body)
	}

	// Every change of state honours it, and answers the new tag.
	for _, step := range []struct{ method, path string }{
		{"POST", base + "/pause"}, {"POST", base + "/resume"}, {"POST", base + "/rotate-secret"},
	} {
		if r := e.doIf(step.method, step.path, A, `"0"`, nil); r.status != 412 {
			t.Fatalf("%s %s on a stale tag: %d %s", step.method, step.path, r.status, r.body)
		}
		cur := e.must(200, "GET", base, A, nil).header.Get("ETag")
		r := e.doIf(step.method, step.path, A, cur, nil)
		if r.status != 200 || r.header.Get("ETag") == cur || r.header.Get("ETag") == "" {
			t.Fatalf("%s %s on the current tag %s: %d ETag %q %s", step.method, step.path, cur, r.status, r.header.Get("ETag"), r.body)
		}
	}
	cur := e.must(200, "GET", base, A, nil).header.Get("ETag")
	if r := e.doIf("POST", base+"/disable", A, `"1"`, map[string]any{"reason": "r"}); r.status != 412 {
		t.Fatalf("disable on a stale tag: %d %s", r.status, r.body)
	}
	if r := e.doIf("DELETE", base, A, `"1"`, nil); r.status != 412 {
		t.Fatalf("delete on a stale tag: %d %s", r.status, r.body)
	}
	if r := e.doIf("DELETE", base, A, `W/`+cur, nil); r.status != 412 {
		t.Fatalf("a weak tag matched (If-Match compares strongly): %d %s", r.status, r.body)
	}
	if r := e.doIf("DELETE", base, A, `"99", `+cur, nil); r.status != 204 || r.header.Get("ETag") == "" {
		t.Fatalf("delete with the current tag among others: %d %s", r.status, r.body)
	}
	// Once deleted, a change is refused for that, whatever its tag.
	if r := e.doIf("PATCH", base, A, `"0"`, map[string]any{"description": "x"}); r.status == 412 || r.status < 400 {
		t.Fatalf("a change of a deleted subscription with a stale tag: %d %s, want the deletion's own answer", r.status, r.body)
	}
}

// TestIfMatchStarAndBadHeaders: "*" is any subscription there is; a header
// that is no list of entity tags is a 400 and changes nothing.
func TestIfMatchStarAndBadHeaders(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": "https://hooks.example.com/a", "event_types": []string{"*"}})
	base := "/v1/applications/app_a/subscriptions/sub_a"
	for _, h := range []string{`3`, `"3`, `"a b"`, ` , `} {
		r := e.doIf("POST", base+"/pause", A, h, nil)
		if r.status != 400 || r.str("code") != "invalid_header" || r.str("field") != "If-Match" {
			t.Fatalf("If-Match: %s: %d %s", h, r.status, r.body)
		}
	}
	if e.must(200, "GET", base, A, nil).str("status") != "active" {
		t.Fatal("a request with a bad If-Match changed the subscription")
	}
	if r := e.doIf("PATCH", base, A, `"etag-of-something-else"`, map[string]any{"description": "x"}); r.status != 412 {
		t.Fatalf("a tag that is no revision: %d %s", r.status, r.body)
	}
	if r := e.doIf("POST", base+"/pause", A, `*`, nil); r.status != 200 {
		t.Fatalf("If-Match: * on a subscription there is: %d %s", r.status, r.body)
	}
	if r := e.doIf("POST", "/v1/applications/app_a/subscriptions/sub_none/pause", A, `*`, nil); r.status != 404 {
		t.Fatalf("If-Match: * on none: %d %s", r.status, r.body)
	}
}

// TestIfMatchOnApplicationsAndEventTypes: applications and catalog entries
// answer their revision as their ETag, and a PATCH (or an application's
// DELETE) on a stale one is refused with 412, recording nothing.
func TestIfMatchOnApplicationsAndEventTypes(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	if r := e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"}); r.header.Get("ETag") != `"0"` || r.json()["revision"] != 0.0 {
		t.Fatalf("a created application: ETag %q %s", r.header.Get("ETag"), r.body)
	}
	// Created with its settings: two events, revision 1.
	if r := e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_s", "name": "S", "strict_event_types": true}); r.header.Get("ETag") != `"1"` {
		t.Fatalf("an application created with settings: ETag %q", r.header.Get("ETag"))
	}
	app := "/v1/applications/app_a"
	tag := e.must(200, "GET", app, A, nil).header.Get("ETag")
	if r := e.doIf("PATCH", app, A, tag, map[string]any{"name": "first"}); r.status != 200 || r.header.Get("ETag") != `"1"` || r.json()["revision"] != 1.0 {
		t.Fatalf("a change on what was read: %d %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	if r := e.doIf("PATCH", app, A, tag, map[string]any{"name": "second"}); r.status != 412 || r.str("code") != "precondition_failed" || r.header.Get("ETag") != `"1"` {
		t.Fatalf("a change on a stale read: %d %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	if r := e.must(200, "GET", app, A, nil); r.str("name") != "first" || r.header.Get("ETag") != `"1"` {
		t.Fatalf("the refused change was recorded: %s", r.body)
	}
	if r := e.doIf("DELETE", app, A, tag, nil); r.status != 412 {
		t.Fatalf("a deletion on a stale read: %d %s", r.status, r.body)
	}
	if r := e.doIf("DELETE", app, A, "3", nil); r.status != 400 || r.str("code") != "invalid_header" {
		t.Fatalf("an If-Match that is no entity tag: %d %s", r.status, r.body)
	}
	e.must(200, "GET", app, A, nil) // still there
	if r := e.doIf("DELETE", app, A, `"1"`, nil); r.status != 204 {
		t.Fatalf("a deletion on the current tag: %d %s", r.status, r.body)
	}

	et := "/v1/event-types/order.paid"
	if r := e.must(201, "POST", "/v1/event-types", A, map[string]any{"name": "order.paid"}); r.header.Get("ETag") != `"0"` {
		t.Fatalf("a defined event type: ETag %q", r.header.Get("ETag"))
	}
	tag = e.must(200, "GET", et, A, nil).header.Get("ETag")
	if r := e.doIf("PATCH", et, A, tag, map[string]any{"description": "one"}); r.status != 200 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("an event type changed on what was read: %d %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	if r := e.doIf("PATCH", et, A, tag, map[string]any{"description": "two"}); r.status != 412 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("an event type changed on a stale read: %d %q %s", r.status, r.header.Get("ETag"), r.body)
	}
	if r := e.must(200, "GET", et, A, nil); r.str("description") != "one" || r.json()["revision"] != 1.0 {
		t.Fatalf("the refused change was recorded: %s", r.body)
	}
	if r := e.doIf("PATCH", et, A, "*", map[string]any{"description": "three"}); r.status != 200 {
		t.Fatalf("If-Match * on an entry there is: %d %s", r.status, r.body)
	}
}
