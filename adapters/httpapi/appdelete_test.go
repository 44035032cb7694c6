package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDeleteApplication: deleting an application records it, deletes its
// subscriptions, revokes its keys, and refuses anything written to it after
// (publish, subscribe, settings), while its history stays readable and its
// payloads erasable; a second deletion finishes and changes nothing.
func TestDeleteApplication(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_b", "name": "B"})
	for _, id := range []string{"sub_a1", "sub_a2"} {
		e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": id, "url": "https://hooks.example.com/" + id, "event_types": []string{"*"}})
	}
	e.must(201, "POST", "/v1/applications/app_b/subscriptions", A, map[string]any{"id": "sub_b", "url": "https://hooks.example.com/b", "event_types": []string{"*"}})
	own := e.key("application", "app_a")
	other := e.key("application", "app_b")
	msg := e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{"o": 1}}).str("id")

	e.must(403, "DELETE", "/v1/applications/app_a", own, nil)
	e.must(404, "DELETE", "/v1/applications/app_none", A, nil)
	e.must(201, "POST", "/v1/operational-subscriptions", A, map[string]any{"url": "https://hooks.example.com/ops", "event_types": []string{"hookledger.*"}})
	if r := e.do("DELETE", "/v1/applications/app_hookledger", A, nil); r.status != 409 {
		t.Fatalf("deleting hookledger's own application: %d %s", r.status, r.body)
	}
	e.must(204, "DELETE", "/v1/applications/app_a", A, map[string]any{"reason": "customer left"})

	a := e.must(200, "GET", "/v1/applications/app_a", A, nil).json()
	if a["deleted_at"] == nil || a["deleted_reason"] != "customer left" {
		t.Fatalf("the deleted application reads as %v", a)
	}
	for _, it := range e.must(200, "GET", "/v1/applications", A, nil).items() {
		if it["id"] == "app_a" {
			t.Fatal("a deleted application is listed")
		}
	}
	if gone := e.must(200, "GET", "/v1/applications?deleted=true", A, nil).items(); len(gone) != 1 || gone[0]["id"] != "app_a" {
		t.Fatalf("the deleted applications: %v", gone)
	}
	e.must(400, "GET", "/v1/applications?deleted=yes", A, nil)
	if e.must(200, "GET", "/v1/applications/app_a/messages/"+msg, A, nil).str("id") != msg {
		t.Fatal("a deleted application's message is not readable")
	}
	for _, id := range []string{"sub_a1", "sub_a2"} {
		if r := e.do("GET", "/v1/applications/app_a/subscriptions/"+id, A, nil); r.status != 404 || !strings.Contains(r.str("detail"), "was deleted") {
			t.Fatalf("%s after its application's deletion: %d %s", id, r.status, r.body)
		}
	}
	if e.must(200, "GET", "/v1/applications/app_b/subscriptions/sub_b", A, nil).str("status") != "active" {
		t.Fatal("another application's subscription was touched")
	}
	if r := e.do("GET", "/v1/me", own, nil); r.status != 401 {
		t.Fatalf("the deleted application's key still authenticates: %d", r.status)
	}
	if r := e.do("POST", "/v1/keys", A, map[string]any{"role": "application", "application": "app_a"}); r.status != 409 || !strings.Contains(r.str("detail"), "deleted") {
		t.Fatalf("a key issued to the deleted application: %d %s", r.status, r.body)
	}
	e.must(200, "GET", "/v1/me", other, nil)

	for _, w := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/applications/app_a/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{}}},
		{"POST", "/v1/applications/app_a/subscriptions", map[string]any{"url": "https://hooks.example.com/x", "event_types": []string{"*"}}},
		{"PATCH", "/v1/applications/app_a", map[string]any{"name": "again"}},
	} {
		if r := e.do(w.method, w.path, A, w.body); r.status != 409 || !strings.Contains(r.str("detail"), "was deleted") {
			t.Fatalf("%s %s on a deleted application: %d %s", w.method, w.path, r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1/applications/app_a/erasures", A, map[string]any{"scope": "application", "reason": "offboarding"}); r.status >= 300 {
		t.Fatalf("erasing a deleted application's payloads: %d %s", r.status, r.body)
	}

	// Again: nothing new in its stream.
	e.must(204, "DELETE", "/v1/applications/app_a", A, nil)
	var stream struct {
		Items []struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	json.Unmarshal(e.must(200, "GET", "/v1/ledger/streams/application-app_a", A, nil).body, &stream)
	var types []string
	for _, it := range stream.Items {
		types = append(types, it.Type)
	}
	if strings.Join(types, ",") != "application.created,application.deleted" {
		t.Fatalf("the application's stream: %v", types)
	}
	sub := string(e.must(200, "GET", "/v1/ledger/streams/subscription-sub_a1", A, nil).body)
	if !strings.Contains(sub, "subscription.deleted") || !strings.Contains(sub, "the application was deleted: customer left") {
		t.Fatalf("the subscription's deletion does not say why: %s", sub)
	}
}
