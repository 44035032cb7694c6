package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEveryRoute walks every route with an admin key: the success answers and
// the state they leave behind.
func TestEveryRoute(t *testing.T) {
	e := newEnv(t)
	recv := receiver.New()
	hook := httptest.NewServer(recv)
	defer hook.Close()
	A := e.admin

	e.must(200, "GET", "/healthz", "", nil)
	e.must(200, "GET", "/readyz", "", nil)

	// keys
	auditor := e.must(201, "POST", "/v1/keys", A, map[string]any{"role": "auditor", "name": "compliance"})
	if !strings.HasPrefix(auditor.str("key"), "hlk_") || auditor.str("id") == "" {
		t.Fatalf("key answer %s", auditor.body)
	}
	keys := e.must(200, "GET", "/v1/keys", A, nil)
	if len(keys.items()) != 2 || strings.Contains(string(keys.body), "sha256:") || strings.Contains(string(keys.body), auditor.str("key")) {
		t.Fatalf("key listing must show 2 keys and no key material: %s", keys.body)
	}
	e.must(200, "GET", "/v1/ledger/events", auditor.str("key"), nil)
	e.must(204, "DELETE", "/v1/keys/"+auditor.str("id"), A, nil)
	e.must(401, "GET", "/v1/ledger/events", auditor.str("key"), nil)

	// applications
	app := e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "Shop A"})
	if app.str("id") != "app_a" || app.str("name") != "Shop A" {
		t.Fatalf("application %s", app.body)
	}
	if r := e.must(409, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "again"}); r.str("code") != "already_exists" {
		t.Fatal(string(r.body))
	}
	generated := e.must(201, "POST", "/v1/applications", A, map[string]any{"name": "generated id"})
	if !strings.HasPrefix(generated.str("id"), "app_") {
		t.Fatalf("generated application id %q", generated.str("id"))
	}
	if n := len(e.must(200, "GET", "/v1/applications", A, nil).items()); n != 2 {
		t.Fatalf("%d applications listed", n)
	}
	e.must(200, "GET", "/v1/applications/app_a", A, nil)
	e.must(404, "GET", "/v1/applications/app_zz", A, nil)

	// subscriptions
	sub := e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{
		"id": "sub_a", "url": hook.URL + "/sub_a", "event_types": []string{"order.*"}, "description": "orders", "headers": map[string]string{"X-Env": "test"},
	})
	secret := sub.str("secret")
	if !strings.HasPrefix(secret, "whsec_") || sub.str("status") != "active" {
		t.Fatalf("subscription %s", sub.body)
	}
	recv.Add("sub_a", secret)
	got := e.must(200, "GET", "/v1/applications/app_a/subscriptions/sub_a", A, nil)
	if strings.Contains(string(got.body), secret) || got.str("url") != hook.URL+"/sub_a" {
		t.Fatalf("GET subscription must not show the secret: %s", got.body)
	}
	if n := len(e.must(200, "GET", "/v1/applications/app_a/subscriptions", A, nil).items()); n != 1 {
		t.Fatalf("%d subscriptions listed", n)
	}
	patched := e.must(200, "PATCH", "/v1/applications/app_a/subscriptions/sub_a", A, map[string]any{"event_types": []string{"order.*", "refund.created"}})
	if fmt.Sprint(patched.json()["event_types"]) != "[order.* refund.created]" || patched.json()["revision"].(float64) != 1 {
		t.Fatalf("patch %s", patched.body)
	}
	if e.must(200, "POST", "/v1/applications/app_a/subscriptions/sub_a/pause", A, nil).str("status") != "paused" {
		t.Fatal("pause")
	}
	if e.must(200, "POST", "/v1/applications/app_a/subscriptions/sub_a/resume", A, nil).str("status") != "active" {
		t.Fatal("resume")
	}
	rot := e.must(200, "POST", "/v1/applications/app_a/subscriptions/sub_a/rotate-secret", A, map[string]any{"grace_seconds": 3600})
	if rot.str("secret") == secret || len(rot.json()["keys"].([]any)) != 2 {
		t.Fatalf("rotate %s", rot.body)
	}
	recv.Add("sub_a", rot.str("secret"))
	if r := e.must(200, "POST", "/v1/applications/app_a/subscriptions/sub_a/recover", A, map[string]any{"since": "2020-01-01T00:00:00Z"}); r.json()["recovered"].(float64) != 0 {
		t.Fatal(string(r.body))
	}
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_gone", "url": hook.URL + "/x", "event_types": []string{"*"}})
	e.must(204, "DELETE", "/v1/applications/app_a/subscriptions/sub_gone", A, nil)
	e.must(404, "GET", "/v1/applications/app_a/subscriptions/sub_gone", A, nil)

	// messages
	pub := e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{"order": 1}, "idempotency_key": "ord-1"})
	msgID := pub.str("id")
	if msgID != domain.MessageIDForKey("app_a", "ord-1") || pub.json()["position"].(float64) <= 0 {
		t.Fatalf("publish %s", pub.body)
	}
	dup := e.must(200, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{"order": 1}, "idempotency_key": "ord-1"})
	if _, said := pub.json()["duplicate"]; said {
		t.Fatalf("a first publish is no duplicate: %s", pub.body)
	}
	if dup.str("id") != msgID || dup.json()["position"] != pub.json()["position"] || dup.json()["duplicate"] != true {
		t.Fatalf("duplicate publish must answer the first message: %s", dup.body)
	}
	if r := e.must(409, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{"order": 2}, "idempotency_key": "ord-1"}); r.str("code") != "idempotency_conflict" {
		t.Fatal(string(r.body))
	}
	for _, notObject := range []any{"plain string", 1, []int{1}, true} {
		if r := e.must(400, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "user.created", "payload": notObject}); r.str("code") != "invalid_type" || r.str("field") != "payload" {
			t.Fatalf("payload %v: %s", notObject, r.body)
		}
	}
	msg := e.must(200, "GET", "/v1/applications/app_a/messages/"+msgID, A, nil)
	if fmt.Sprint(msg.json()["payload"]) != "map[order:1]" || msg.str("payload_hash") == "" {
		t.Fatalf("message %s", msg.body)
	}
	listed := e.must(200, "GET", "/v1/applications/app_a/messages?event_type=order.paid", A, nil)
	if len(listed.items()) != 1 || listed.items()[0]["id"] != msgID {
		t.Fatalf("message listing %s", listed.body)
	}
	if len(e.must(200, "GET", "/v1/applications/app_a/messages?limit=1", A, nil).items()) != 1 {
		t.Fatal("limit")
	}

	// deliveries
	dlvID := domain.DeliveryIDFor(msgID, "sub_a")
	waitFor(t, "delivery acknowledged", func() bool {
		return e.do("GET", "/v1/deliveries/"+dlvID, A, nil).str("status") == "acknowledged" // 404 until the fan-out schedules it
	})
	if recv.Count("sub_a", msgID) != 1 {
		t.Fatalf("receiver got %d", recv.Count("sub_a", msgID))
	}
	dl := e.must(200, "GET", "/v1/applications/app_a/deliveries?status=acknowledged&subscription_id=sub_a", A, nil)
	if len(dl.items()) != 1 || dl.items()[0]["id"] != dlvID {
		t.Fatalf("delivery listing %s", dl.body)
	}
	tl := e.must(200, "GET", "/v1/deliveries/"+dlvID+"/timeline", A, nil)
	var types []string
	for _, it := range tl.items() {
		types = append(types, it["type"].(string))
	}
	if strings.Join(types, ",") != "delivery.scheduled,delivery.attempt_started,delivery.attempt_acknowledged" {
		t.Fatalf("timeline %v", types)
	}
	first := tl.items()[2]
	if first["position"].(float64) <= 0 || first["recorded_at"] == nil || first["data"].(map[string]any)["status_code"].(float64) != 200 {
		t.Fatalf("timeline item %v", first)
	}
	if len(first["data"].(map[string]any)["key_ids"].([]any)) != 2 {
		t.Fatalf("during the rotation grace the attempt is signed with both keys: %v", first["data"])
	}
	e.must(202, "POST", "/v1/deliveries/"+dlvID+"/redeliver", A, map[string]any{"reason": "customer asked"})
	waitFor(t, "redelivered", func() bool { return recv.Count("sub_a", msgID) == 2 })

	// ledger
	page1 := e.must(200, "GET", "/v1/ledger/events?from=0&limit=5", A, nil)
	if len(page1.items()) != 5 || page1.str("next_cursor") == "" {
		t.Fatalf("ledger page %s", page1.body)
	}
	page2 := e.must(200, "GET", "/v1/ledger/events?limit=5&cursor="+page1.str("next_cursor"), A, nil)
	if page2.items()[0]["position"].(float64) != page1.items()[4]["position"].(float64)+1 {
		t.Fatal("ledger cursor does not continue after the last event")
	}
	stream := e.must(200, "GET", "/v1/ledger/streams/subscription-sub_a", A, nil)
	if strings.Contains(string(stream.body), secret) || !strings.Contains(string(stream.body), "[redacted]") {
		t.Fatalf("signing secrets must be redacted from raw events: %s", stream.body)
	}
	e.must(404, "GET", "/v1/ledger/streams/nothing-here", A, nil)
}

// TestRenameApplication: PATCH renames (admin only), recorded as
// application.updated; the same name again changes nothing.
func TestRenameApplication(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/v1/applications", e.admin, map[string]any{"id": "app_n", "name": "Old"})
	own := e.key("application", "app_n")
	e.must(403, "PATCH", "/v1/applications/app_n", own, map[string]any{"name": "Mine"})
	if r := e.must(200, "PATCH", "/v1/applications/app_n", e.admin, map[string]any{"name": "New"}); r.str("name") != "New" {
		t.Fatalf("rename: %s", r.body)
	}
	e.must(200, "PATCH", "/v1/applications/app_n", e.admin, map[string]any{"name": "New"})
	e.must(422, "PATCH", "/v1/applications/app_n", e.admin, map[string]any{"name": ""})
	e.must(404, "PATCH", "/v1/applications/app_none", e.admin, map[string]any{"name": "x"})
	if e.must(200, "GET", "/v1/applications/app_n", own, nil).str("name") != "New" {
		t.Fatal("the rename is not shown")
	}
	evs := e.must(200, "GET", "/v1/ledger/streams/application-app_n", e.admin, nil).items()
	if len(evs) != 2 || evs[1]["type"] != "application.updated" {
		t.Fatalf("the ledger holds %v", evs)
	}
}

// TestUpdateSubscriptionOfNothingRecordsNothing: a PATCH that leaves every
// setting as it was answers the subscription as it is and appends nothing;
// one that changes a setting is recorded.
func TestUpdateSubscriptionOfNothingRecordsNothing(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_u", "name": "U"})
	path := "/v1/applications/app_u/subscriptions/sub_u"
	e.must(201, "POST", "/v1/applications/app_u/subscriptions", A, map[string]any{"id": "sub_u", "url": "https://hooks.example.com/u", "event_types": []string{"order.*"}})
	stream := "/v1/ledger/streams/subscription-sub_u"
	for _, body := range []any{
		map[string]any{},
		map[string]any{"url": "https://hooks.example.com/u", "event_types": []string{"order.*"}},
		map[string]any{"description": ""},
	} {
		before, _ := e.store.Head(context.Background())
		r := e.must(200, "PATCH", path, A, body)
		if rev, _ := r.json()["revision"].(float64); rev != 0 || r.str("url") != "https://hooks.example.com/u" {
			t.Errorf("PATCH %v answered %s, want the subscription unchanged at revision 0", body, r.body)
		}
		if after, _ := e.store.Head(context.Background()); after != before {
			t.Errorf("PATCH %v appended %d events", body, after-before)
		}
	}
	if evs := e.must(200, "GET", stream, A, nil).items(); len(evs) != 1 {
		t.Fatalf("the subscription's stream holds %d events, want only its creation", len(evs))
	}
	if r := e.must(200, "PATCH", path, A, map[string]any{"description": "orders"}); r.str("description") != "orders" {
		t.Fatalf("a real change: %s", r.body)
	}
	if evs := e.must(200, "GET", stream, A, nil).items(); len(evs) != 2 || evs[1]["type"] != "subscription.updated" {
		t.Fatalf("the ledger holds %v after a change", evs)
	}
}

// TestRedeliveryToADeletedSubscriptionIsRefused: the pipeline cancels a
// deleted subscription's deliveries, so a redelivery accepted for one would
// only turn an acknowledged delivery into a cancelled one. It is refused,
// and nothing is recorded.
func TestRedeliveryToADeletedSubscriptionIsRefused(t *testing.T) {
	e := newEnv(t)
	recv := receiver.New()
	hook := httptest.NewServer(recv)
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	sub := e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": hook.URL + "/sub_a", "event_types": []string{"*"}})
	recv.Add("sub_a", sub.str("secret"))
	msgID := e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{}}).str("id")
	dlvID := domain.DeliveryIDFor(msgID, "sub_a")
	waitFor(t, "delivery acknowledged", func() bool {
		return e.do("GET", "/v1/deliveries/"+dlvID, A, nil).str("status") == "acknowledged"
	})
	e.must(204, "DELETE", "/v1/applications/app_a/subscriptions/sub_a", A, nil)
	before, _ := e.store.Head(context.Background())
	r := e.must(409, "POST", "/v1/deliveries/"+dlvID+"/redeliver", A, map[string]any{"reason": "customer asked"})
	if r.str("code") != "conflict" || !strings.Contains(r.str("detail"), "sub_a was deleted") {
		t.Errorf("redelivery to a deleted subscription: %s", r.body)
	}
	if after, _ := e.store.Head(context.Background()); after != before {
		t.Errorf("the refused redelivery appended %d events", after-before)
	}
	if st := e.must(200, "GET", "/v1/deliveries/"+dlvID, A, nil).str("status"); st != "acknowledged" {
		t.Errorf("the delivery reads %s after a refused redelivery, want acknowledged", st)
	}
}
