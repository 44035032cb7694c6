package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAMessageOfManyDeliveries: a message fanned out to more subscriptions
// than its answer lists inline says how many deliveries it has and where to
// page through them; the listing filtered by the message holds every one,
// newest first, each once, page after page.
func TestAMessageOfManyDeliveries(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(hook.Close)
	const subs = 130
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_m", "name": "M"})
	for i := range subs {
		e.must(201, "POST", "/v1/applications/app_m/subscriptions", A, map[string]any{"id": fmt.Sprintf("sub_%03d", i), "url": hook.URL, "event_types": []string{"order.paid"}})
	}
	msg := e.must(202, "POST", "/v1/applications/app_m/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{"o": 1}}).str("id")
	e.must(200, "PATCH", "/v1/applications/app_m/subscriptions/sub_000", A, map[string]any{"event_types": []string{"order.refunded"}})
	one := e.must(202, "POST", "/v1/applications/app_m/messages", A, map[string]any{"event_type": "order.refunded", "payload": map[string]any{"o": 2}}).str("id")
	var m map[string]any
	waitFor(t, "the fan-out", func() bool {
		m = e.must(200, "GET", "/v1/applications/app_m/messages/"+msg, A, nil).json()
		return m["delivery_count"] == float64(subs)
	})
	inline := m["deliveries"].([]any)
	if len(inline) != 100 || m["more_deliveries"] != "/v1/applications/app_m/deliveries?message_id="+msg {
		t.Fatalf("%d deliveries inline, more at %v", len(inline), m["more_deliveries"])
	}
	var listed []string
	for cursor := ""; ; {
		r := e.must(200, "GET", "/v1/applications/app_m/deliveries?limit=40&message_id="+msg+cursor, A, nil)
		for _, it := range r.items() {
			if it["message_id"] != msg {
				t.Fatalf("another message's delivery listed: %v", it)
			}
			listed = append(listed, it["id"].(string))
		}
		if r.str("next_cursor") == "" {
			break
		}
		cursor = "&cursor=" + r.str("next_cursor")
	}
	if len(listed) != subs {
		t.Fatalf("%d deliveries listed, want %d", len(listed), subs)
	}
	seen := map[string]bool{}
	for _, id := range listed {
		if seen[id] {
			t.Fatalf("delivery %s listed twice", id)
		}
		seen[id] = true
	}
	// Newest first: the inline ones, in the order they were scheduled, are
	// the listing's last hundred read backwards.
	for i, d := range inline {
		if id := d.(map[string]any)["id"]; id != listed[len(listed)-1-i] {
			t.Fatalf("inline delivery %d is %v, the listing's %d from the end is %s", i, id, i, listed[len(listed)-1-i])
		}
	}
	// A message of few deliveries lists them all and points nowhere else.
	var f map[string]any
	waitFor(t, "the second message's fan-out", func() bool {
		f = e.must(200, "GET", "/v1/applications/app_m/messages/"+one, A, nil).json()
		return f["delivery_count"] == 1.0
	})
	if ds, _ := f["deliveries"].([]any); len(ds) != 1 || ds[0].(map[string]any)["subscription_id"] != "sub_000" || f["more_deliveries"] != nil {
		t.Fatalf("a message of one delivery: %v", f)
	}
}
