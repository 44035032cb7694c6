package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// TestOperationalWebhooks: an operator subscribed to hookledger's own events
// is told, through a signed delivery, when a tenant's delivery is exhausted
// and when a subscription is disabled and re-enabled; a pause and resume is
// not news, and each ledger event is announced once.
func TestOperationalWebhooks(t *testing.T) {
	e := newEnv(t)
	type op struct {
		Type    string
		Payload map[string]any
		Signed  bool
	}
	var mu sync.Mutex
	var got []op
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &m)
		mu.Lock()
		typ, _ := m["type"].(string)
		got = append(got, op{Type: typ, Payload: m, Signed: r.Header.Get("Webhook-Signature") != ""})
		mu.Unlock()
	}))
	defer ops.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	A := e.admin

	if r := e.do("POST", "/v1/applications", A, map[string]any{"id": domain.SystemApplicationID, "name": "mine"}); r.status != 409 {
		t.Fatalf("a tenant took the system application's id: %d %s", r.status, r.body)
	}
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_t", "name": "T"})
	own := e.key("application", "app_t")
	e.must(403, "POST", "/v1/operational-subscriptions", own, map[string]any{"url": ops.URL, "event_types": []string{"*"}})
	e.must(201, "POST", "/v1/operational-subscriptions", A, map[string]any{"id": "sub_ops", "url": ops.URL, "event_types": []string{"hookledger.*"}})
	if items := e.must(200, "GET", "/v1/operational-subscriptions", A, nil).items(); len(items) != 1 || items[0]["id"] != "sub_ops" {
		t.Fatalf("operational subscriptions: %v", items)
	}
	// A filter that matches no operational event type (the tenant event's
	// name, not hookledger's) would never fire: refused, on create and on
	// update, naming the types there are.
	if r := e.must(422, "POST", "/v1/operational-subscriptions", A, map[string]any{"url": ops.URL, "event_types": []string{"subscription.disabled"}}); r.str("field") != "event_types" || !strings.Contains(r.str("detail"), domain.OpSubscriptionDisabled) {
		t.Errorf("an operational subscription to nothing: %s", r.body)
	}
	if r := e.must(422, "PATCH", "/v1/applications/"+domain.SystemApplicationID+"/subscriptions/sub_ops", A, map[string]any{"event_types": []string{"delivery.*"}}); r.str("field") != "event_types" {
		t.Errorf("an operational subscription changed to nothing: %s", r.body)
	}
	// Only hookledger publishes operational events: through the API one
	// would be a forged alert, signed like a real one. No key may, and no
	// application key is issued for the system application.
	forged := map[string]any{"event_type": domain.OpSealFailed, "payload": map[string]any{"type": domain.OpSealFailed, "error": "forged"}}
	if r := e.must(403, "POST", "/v1/applications/"+domain.SystemApplicationID+"/messages", A, forged); !strings.Contains(r.str("detail"), "only hookledger publishes them") {
		t.Errorf("an admin published an operational event: %s", r.body)
	}
	if r := e.must(422, "POST", "/v1/keys", A, map[string]any{"role": "application", "application": domain.SystemApplicationID}); r.str("field") != "application" {
		t.Errorf("an application key for the system application: %s", r.body)
	}

	e.must(201, "POST", "/v1/applications/app_t/subscriptions", A, map[string]any{"id": "sub_t", "url": failing.URL, "event_types": []string{"*"}, "retry_schedule_ms": []int64{0}})
	msg := e.must(202, "POST", "/v1/applications/app_t/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{"n": 1}}).str("id")
	base := "/v1/applications/app_t/subscriptions/sub_t"
	e.must(200, "POST", base+"/pause", A, nil)
	e.must(200, "POST", base+"/resume", A, nil)
	e.must(200, "POST", base+"/disable", A, map[string]any{"reason": "endpoint maintenance"})
	e.must(200, "POST", base+"/resume", A, map[string]any{"reason": "maintenance done"})

	waitFor(t, "three operational events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 3 })
	time.Sleep(200 * time.Millisecond) // nothing more may come
	if items := e.must(200, "GET", "/v1/applications/"+domain.SystemApplicationID+"/messages", A, nil).items(); len(items) != 3 {
		t.Errorf("the system application holds %d messages, want 3 (one per announced event)", len(items))
	}
	mu.Lock()
	defer mu.Unlock()
	byType := map[string]op{}
	for _, o := range got {
		if !o.Signed {
			t.Errorf("an operational event came unsigned: %+v", o)
		}
		if _, dup := byType[o.Type]; dup {
			t.Errorf("%s announced twice", o.Type)
		}
		byType[o.Type] = o
	}
	if len(got) != 3 {
		t.Fatalf("want exactly exhausted, disabled, enabled; got %+v", got)
	}
	ex := byType[domain.OpDeliveryExhausted].Payload
	if ex["delivery_id"] != domain.DeliveryIDFor(msg, "sub_t") || ex["application_id"] != "app_t" || ex["attempts"] != 1.0 {
		t.Errorf("exhausted: %v", ex)
	}
	if d := byType[domain.OpSubscriptionDisabled].Payload; d["subscription_id"] != "sub_t" || d["reason"] != domain.DisabledByOperator || d["detail"] != "endpoint maintenance" {
		t.Errorf("disabled: %v", d)
	}
	if en := byType[domain.OpSubscriptionEnabled].Payload; en["subscription_id"] != "sub_t" || en["was_disabled_for"] != domain.DisabledByOperator || en["reason"] != "maintenance done" {
		t.Errorf("enabled: %v", en)
	}
}
