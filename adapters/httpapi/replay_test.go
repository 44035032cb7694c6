package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// TestDisableThenReplayDeliversWhatWasMissed: an operator disables a
// subscription with a reason, messages are published meanwhile (none is
// scheduled to it), it is resumed, and a replay schedules exactly the
// messages that matched its filter then; a second replay schedules nothing,
// and explain says "scheduled by replay".
func TestDisableThenReplayDeliversWhatWasMissed(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	got := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("Webhook-Id")]++
		mu.Unlock()
	}))
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_r", "name": "R"})
	e.must(201, "POST", "/v1/applications/app_r/subscriptions", A, map[string]any{"id": "sub_r", "url": hook.URL, "event_types": []string{"order.*"}})
	own := e.key("application", "app_r")
	auditor := e.key("auditor", "")
	base := "/v1/applications/app_r/subscriptions/sub_r"

	e.must(403, "POST", base+"/disable", auditor, map[string]any{"reason": "x"})
	if r := e.must(422, "POST", base+"/disable", own, map[string]any{"reason": "  "}); r.str("field") != "reason" {
		t.Fatalf("disable without a reason: %s", r.body)
	}
	d := e.must(200, "POST", base+"/disable", own, map[string]any{"reason": "endpoint maintenance"}).json()
	if d["status"] != "disabled" || d["disabled_reason"] != domain.DisabledByOperator || d["disabled_detail"] != "endpoint maintenance" {
		t.Fatalf("disabled: %v", d)
	}
	since := time.Now().UTC().Add(-time.Second)
	var msgs []string
	for _, typ := range []string{"order.paid", "order.shipped", "user.created"} {
		msgs = append(msgs, e.must(202, "POST", "/v1/applications/app_r/messages", A, map[string]any{"event_type": typ, "payload": map[string]any{"n": 1}}).str("id"))
	}
	e.must(200, "POST", base+"/resume", own, nil)
	time.Sleep(200 * time.Millisecond)
	for _, m := range msgs {
		if r := e.do("GET", "/v1/deliveries/"+domain.DeliveryIDFor(m, "sub_r"), A, nil); r.status != 404 {
			t.Fatalf("a message published while disabled was scheduled: %d", r.status)
		}
	}

	e.must(403, "POST", base+"/replay", auditor, map[string]any{"since": since})
	if r := e.do("POST", base+"/replay", own, map[string]any{"until": since}); r.status != 422 {
		t.Fatalf("replay without since: %d %s", r.status, r.body)
	}
	r := e.must(200, "POST", base+"/replay", own, map[string]any{"since": since, "reason": "missed during maintenance"}).json()
	if r["scheduled"] != float64(2) || r["considered"] != float64(3) {
		t.Fatalf("replay: %v", r)
	}
	waitFor(t, "the two replayed messages delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[msgs[0]] == 1 && got[msgs[1]] == 1
	})
	if again := e.must(200, "POST", base+"/replay", own, map[string]any{"since": since}).json(); again["scheduled"] != float64(0) {
		t.Fatalf("a second replay scheduled %v", again["scheduled"])
	}
	ex := e.must(200, "GET", "/v1/applications/app_r/messages/"+msgs[0]+"/explain?subscription_id=sub_r", A, nil).json()
	if ex["decision"] != "scheduled" || ex["reason"] != "replay" || !strings.Contains(ex["detail"].(string), "scheduled by replay") {
		t.Fatalf("explain of a replayed message: %v", ex)
	}
	if ex := e.must(200, "GET", "/v1/applications/app_r/messages/"+msgs[2]+"/explain?subscription_id=sub_r", A, nil).json(); ex["decision"] != "not_scheduled" {
		t.Fatalf("explain of a non-matching message: %v", ex)
	}
	hist := string(e.must(200, "GET", "/v1/ledger/streams/subscription-sub_r", auditor, nil).body)
	if !strings.Contains(hist, "subscription.replay_requested") || !strings.Contains(hist, "missed during maintenance") || !strings.Contains(hist, "endpoint maintenance") {
		t.Fatalf("the ledger does not record the disable and replay with their reasons: %s", hist)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[msgs[2]] != 0 {
		t.Fatal("a message that did not match the filter was replayed")
	}
}

// TestAReplayLeavesErasedMessagesOut: a message published while the
// subscription was disabled, then erased, is not scheduled by the replay
// (there is nothing to send: it would be cancelled at once); the answer
// counts it as erased.
func TestAReplayLeavesErasedMessagesOut(t *testing.T) {
	e := newEnv(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_e", "name": "E"})
	e.must(201, "POST", "/v1/applications/app_e/subscriptions", A, map[string]any{"id": "sub_e", "url": hook.URL, "event_types": []string{"*"}})
	base := "/v1/applications/app_e/subscriptions/sub_e"
	e.must(200, "POST", base+"/disable", A, map[string]any{"reason": "maintenance"})
	since := time.Now().UTC().Add(-time.Second)
	kept := e.must(202, "POST", "/v1/applications/app_e/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}}).str("id")
	gone := e.must(202, "POST", "/v1/applications/app_e/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 2}}).str("id")
	e.must(201, "POST", "/v1/applications/app_e/erasures", A, map[string]any{"scope": "messages", "message_ids": []string{gone}, "reason": "r"})
	e.must(200, "POST", base+"/resume", A, nil)

	r := e.must(200, "POST", base+"/replay", A, map[string]any{"since": since}).json()
	if r["scheduled"] != float64(1) || r["considered"] != float64(2) || r["erased"] != float64(1) {
		t.Fatalf("replay: %v, want 1 scheduled, 2 considered, 1 erased", r)
	}
	waitFor(t, "the kept message acknowledged", func() bool {
		return e.do("GET", "/v1/deliveries/"+domain.DeliveryIDFor(kept, "sub_e"), A, nil).str("status") == "acknowledged"
	})
	if st := e.do("GET", "/v1/deliveries/"+domain.DeliveryIDFor(gone, "sub_e"), A, nil).status; st != 404 {
		t.Fatalf("the erased message has a delivery (%d)", st)
	}
}
