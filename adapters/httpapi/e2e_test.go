package httpapi_test

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/hookledger/hookledger/adapters/receiver"
)

// TestEndToEndThroughHTTP: an application, its key and subscriptions are made
// through the API; 32 concurrent clients publish 1,000 messages; a Standard
// Webhooks receiver gets them all; the listings and timelines agree with what
// the receiver saw.
func TestEndToEndThroughHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 messages end to end; skipped under -short")
	}
	e := newEnv(t)
	recv := receiver.New()
	hook := httptest.NewServer(recv)
	defer hook.Close()
	e.must(201, "POST", "/v1/applications", e.admin, map[string]any{"id": "app_e2e", "name": "e2e"})
	key := e.key("application", "app_e2e")
	filters := map[string][]string{"sub_orders": {"order.*"}, "sub_paid": {"order.paid"}, "sub_all": {"*"}}
	for id, f := range filters {
		r := e.must(201, "POST", "/v1/applications/app_e2e/subscriptions", key, map[string]any{"id": id, "url": hook.URL + "/" + id, "event_types": f})
		recv.Add(id, r.str("secret"))
	}
	types := []string{"order.paid", "order.refunded", "user.created"}
	var mu sync.Mutex
	published := map[string]string{} // message id -> event type
	var wg sync.WaitGroup
	next := make(chan int)
	for c := 0; c < 32; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				typ := types[i%3]
				r := e.do("POST", "/v1/applications/app_e2e/messages", key, map[string]any{"event_type": typ, "payload": map[string]any{"i": i}})
				if r.status != 202 {
					t.Errorf("publish %d: %d %s", i, r.status, r.body)
					continue
				}
				mu.Lock()
				published[r.str("id")] = typ
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 1000; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(published) != 1000 {
		t.Fatalf("%d messages published", len(published))
	}
	expected := map[[2]string]bool{}
	for id, typ := range published {
		for sub := range filters {
			if matchAny(filters[sub], typ) {
				expected[[2]string{sub, id}] = true
			}
		}
	}
	waitFor(t, "every pair received", func() bool { return recv.Unique() == int64(len(expected)) })
	if recv.Rejected() != 0 {
		t.Fatalf("%d signatures rejected", recv.Rejected())
	}
	for pair := range recv.Pairs() {
		if !expected[pair] {
			t.Fatalf("received %v, which does not match", pair)
		}
	}
	// The listing, paged with cursors, shows every delivery acknowledged.
	listed := map[string]bool{}
	waitFor(t, "listing complete", func() bool {
		clear(listed)
		cursor := ""
		for {
			r := e.must(200, "GET", "/v1/applications/app_e2e/deliveries?status=acknowledged&limit=500"+cursor, key, nil)
			for _, it := range r.items() {
				k := it["subscription_id"].(string) + "/" + it["message_id"].(string)
				if listed[k] {
					t.Fatalf("delivery %s listed twice across pages", k)
				}
				listed[k] = true
			}
			if r.str("next_cursor") == "" {
				break
			}
			cursor = "&cursor=" + r.str("next_cursor")
		}
		return len(listed) == len(expected)
	})
	for pair := range expected {
		if !listed[pair[0]+"/"+pair[1]] {
			t.Fatalf("pair %v received but not listed as acknowledged", pair)
		}
	}
	// Each message shows its deliveries; each timeline ends acknowledged.
	n := 0
	for id, typ := range published {
		m := e.must(200, "GET", "/v1/applications/app_e2e/messages/"+id, key, nil)
		ds := m.json()["deliveries"].([]any)
		want := 0
		for sub := range filters {
			if matchAny(filters[sub], typ) {
				want++
			}
		}
		if len(ds) != want {
			t.Fatalf("message %s (%s): %d deliveries, want %d", id, typ, len(ds), want)
		}
		for _, d := range ds {
			dm := d.(map[string]any)
			tl := e.must(200, "GET", "/v1/deliveries/"+dm["id"].(string)+"/timeline", key, nil).items()
			last := tl[len(tl)-1]
			if last["type"] != "delivery.attempt_acknowledged" || recv.Count(dm["subscription_id"].(string), id) == 0 {
				t.Fatalf("timeline of %s ends with %v", dm["id"], last["type"])
			}
			n++
		}
	}
	if n != len(expected) {
		t.Fatalf("checked %d timelines, want %d", n, len(expected))
	}
	t.Log(fmt.Sprintf("%d messages, %d deliveries, %d requests received", len(published), len(expected), recv.Total()))
}

func matchAny(patterns []string, typ string) bool {
	for _, p := range patterns {
		if p == "*" || p == typ || (len(p) > 2 && p[len(p)-2:] == ".*" && len(typ) > len(p)-1 && typ[:len(p)-1] == p[:len(p)-1]) {
			return true
		}
	}
	return false
}
