package httpapi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEventTypeCatalog: types are defined as ledger events, listed to every
// key, enforced for strict applications, and their schemas refuse payloads
// naming the failing path; deprecated types warn; nothing refused is
// appended.
func TestEventTypeCatalog(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_c", "name": "C"})
	own := e.key("application", "app_c")
	schema := map[string]any{"type": "object", "required": []string{"order"}, "properties": map[string]any{
		"order":  map[string]any{"type": "string"},
		"amount": map[string]any{"type": "integer", "minimum": 0},
	}}
	e.must(403, "POST", "/v1/event-types", own, map[string]any{"name": "order.paid"})
	e.must(201, "POST", "/v1/event-types", A, map[string]any{"name": "order.paid", "description": "an order was paid", "schema": schema})
	e.must(409, "POST", "/v1/event-types", A, map[string]any{"name": "order.paid"})
	e.must(422, "POST", "/v1/event-types", A, map[string]any{"name": "bad.schema", "schema": map[string]any{"type": 12}})
	e.must(422, "POST", "/v1/event-types", A, map[string]any{"name": "bad name"})
	if items := e.must(200, "GET", "/v1/event-types", own, nil).items(); len(items) != 1 || items[0]["name"] != "order.paid" {
		t.Fatalf("the catalog as an application key sees it: %v", items)
	}
	msgs := "/v1/applications/app_c/messages"
	before, _ := e.store.Head(context.Background())
	r := e.do("POST", msgs, own, map[string]any{"event_type": "order.paid", "payload": map[string]any{"order": "1", "amount": -5}})
	if r.status != 422 || r.str("field") != "payload/amount" || !strings.Contains(r.str("detail"), "/amount") {
		t.Fatalf("a payload against the schema: %d %s", r.status, r.body)
	}
	r = e.do("POST", msgs, own, map[string]any{"event_type": "order.paid", "payload": map[string]any{"amount": 5}})
	if r.status != 422 || !strings.Contains(r.str("detail"), "order") {
		t.Fatalf("a payload missing a required property: %d %s", r.status, r.body)
	}
	if after, _ := e.store.Head(context.Background()); after != before {
		t.Fatalf("refused publishes appended %d events", after-before)
	}
	e.must(202, "POST", msgs, own, map[string]any{"event_type": "order.paid", "payload": map[string]any{"order": "1", "amount": 5}})
	e.must(202, "POST", msgs, own, map[string]any{"event_type": "user.created", "payload": map[string]any{}}) // not strict yet

	e.must(403, "PATCH", "/v1/applications/app_c", own, map[string]any{"strict_event_types": true})
	if e.must(200, "PATCH", "/v1/applications/app_c", A, map[string]any{"strict_event_types": true}).json()["strict_event_types"] != true {
		t.Fatal("strict_event_types not set")
	}
	r = e.do("POST", msgs, own, map[string]any{"event_type": "user.created", "payload": map[string]any{}})
	if r.status != 422 || r.str("field") != "event_type" {
		t.Fatalf("a strict application publishing an unknown type: %d %s", r.status, r.body)
	}
	e.must(200, "PATCH", "/v1/event-types/order.paid", A, map[string]any{"deprecated": true, "schema": nil})
	r = e.must(202, "POST", msgs, own, map[string]any{"event_type": "order.paid", "payload": map[string]any{"anything": true}})
	if !strings.Contains(r.header.Get("Warning"), "deprecated") {
		t.Fatalf("a deprecated type publishes with a warning: %v", r.header)
	}
	hist := string(e.must(200, "GET", "/v1/ledger/streams/eventtype-order.paid", A, nil).body)
	if strings.Count(hist, "event_type.defined") != 2 {
		t.Fatalf("the catalog's history is not in the ledger: %s", hist)
	}

	// An application created strict, with a retention, is so from its
	// first event on: the settings are appended with the creation.
	a := e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_strict", "name": "S", "strict_event_types": true, "payload_retention_days": 30}).json()
	if a["strict_event_types"] != true || a["payload_retention_days"] != 30.0 {
		t.Fatalf("the created application: %v", a)
	}
	if r := e.do("POST", "/v1/applications/app_strict/messages", A, map[string]any{"event_type": "user.created", "payload": map[string]any{}}); r.status != 422 || r.str("field") != "event_type" {
		t.Fatalf("an application created strict publishing an unknown type: %d %s", r.status, r.body)
	}
	var stream struct {
		Items []struct {
			Type     string `json:"type"`
			Position uint64 `json:"position"`
		} `json:"items"`
	}
	json.Unmarshal(e.must(200, "GET", "/v1/ledger/streams/application-app_strict", A, nil).body, &stream)
	if len(stream.Items) != 2 || stream.Items[0].Type != "application.created" || stream.Items[1].Type != "application.updated" || stream.Items[1].Position != stream.Items[0].Position+1 {
		t.Fatalf("the application's stream: %+v", stream.Items)
	}
	if r := e.do("POST", "/v1/applications", A, map[string]any{"id": "app_bad", "name": "B", "payload_retention_days": 40000}); r.status != 422 || r.str("field") != "payload_retention_days" {
		t.Fatalf("a retention out of range at creation: %d %s", r.status, r.body)
	}
	e.must(404, "GET", "/v1/applications/app_bad", A, nil)
}

// A schema's $ref is never loaded from the server's disk or the network:
// the default loader read file:// URLs (an error showed a file's first
// bytes, and a schema could stand on a file of one node). A schema that
// refers to itself and a metaschema still compiles.
func TestSchemasLoadNoFiles(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	local := filepath.Join(t.TempDir(), "local.json")
	if err := os.WriteFile(local, []byte(`{"type":"object","required":["secret_field"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, ref := range map[string]string{"probe.file": "file://" + local, "probe.passwd": "file:///etc/passwd", "probe.remote": "http://127.0.0.1:9/schema.json"} {
		r := e.must(422, "POST", "/v1/event-types", A, map[string]any{"name": name, "schema": map[string]any{"$ref": ref}})
		if r.str("field") != "schema" || !strings.Contains(r.str("detail"), "no file or remote $ref is loaded") {
			t.Errorf("%s: %s", ref, r.body)
		}
	}
	self := map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": map[string]any{"id": map[string]any{"type": "string"}},
		"type": "object", "properties": map[string]any{"id": map[string]any{"$ref": "#/$defs/id"}}}
	e.must(201, "POST", "/v1/event-types", A, map[string]any{"name": "probe.self", "schema": self})
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	if r := e.must(422, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "probe.self", "payload": map[string]any{"id": 5}}); r.str("field") != "payload/id" {
		t.Errorf("a payload against a schema's own $defs: %s", r.body)
	}
	e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "probe.self", "payload": map[string]any{"id": "u1"}})
}

// A refusal quotes a failing value short: a 200 KB string against a
// pattern was echoed whole in the problem's detail.
func TestSchemaRefusalsQuoteLongValuesShort(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_l", "name": "L"})
	e.must(201, "POST", "/v1/event-types", A, map[string]any{"name": "note.added", "schema": map[string]any{"type": "object",
		"properties": map[string]any{"text": map[string]any{"type": "string", "pattern": "^[a-z]*$"}, "tag": map[string]any{"enum": []string{"x", "y"}}}}})
	long := strings.Repeat("a", 200_000) + "!"
	r := e.do("POST", "/v1/applications/app_l/messages", A, map[string]any{"event_type": "note.added", "payload": map[string]any{"text": long}})
	detail := r.str("detail")
	if r.status != 422 || r.str("field") != "payload/text" || !strings.Contains(detail, "^[a-z]*$") || !strings.Contains(detail, "aaaa") {
		t.Fatalf("refusal %d, field %q, detail %.300q: want 422 on payload/text naming the pattern and the value's start", r.status, r.str("field"), detail)
	}
	if len(detail) > 600 || !strings.Contains(detail, "200001 bytes") {
		t.Fatalf("detail of %d bytes (%.300q...): want the value cut short, saying how long it was", len(detail), detail)
	}
	r = e.do("POST", "/v1/applications/app_l/messages", A, map[string]any{"event_type": "note.added", "payload": map[string]any{"tag": "z"}})
	if r.status != 422 || !strings.Contains(r.str("detail"), "'x', 'y'") {
		t.Fatalf("short values are quoted whole: %d %s", r.status, r.body)
	}
}
