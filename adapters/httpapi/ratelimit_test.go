package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestRateLimitIsNeverExceeded: a subscription limited to 10/s with a burst
// of 3 gets 30 messages at once; a receiver stamps every request; in no
// window of one second does it see more than burst + rate, deliveries held
// for tokens say "rate_limited", and all 30 arrive.
func TestRateLimitIsNeverExceeded(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var at []time.Time
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}))
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_rl", "name": "RL"})
	sub := e.must(201, "POST", "/v1/applications/app_rl/subscriptions", A, map[string]any{"id": "sub_rl", "url": hook.URL, "event_types": []string{"*"},
		"rate_limit": map[string]any{"per_second": 10, "burst": 3}}).json()
	if rl, _ := sub["rate_limit"].(map[string]any); rl == nil || rl["per_second"] != float64(10) || rl["burst"] != float64(3) {
		t.Fatalf("rate_limit not shown: %v", sub)
	}
	e.must(422, "POST", "/v1/applications/app_rl/subscriptions", A, map[string]any{"url": hook.URL, "event_types": []string{"*"}, "rate_limit": map[string]any{"per_second": 5, "burst": 0}})
	const n = 30
	for i := 0; i < n; i++ {
		e.must(202, "POST", "/v1/applications/app_rl/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"i": i}})
	}
	sawReason := false
	waitFor(t, "all delivered", func() bool {
		if !sawReason {
			for _, d := range e.must(200, "GET", "/v1/applications/app_rl/deliveries?status=pending&limit=100", A, nil).items() {
				sawReason = sawReason || d["waiting_reason"] == "rate_limited"
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return len(at) >= n
	})
	if !sawReason {
		t.Error("no pending delivery said it was waiting for the rate limit")
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	// Windows of 900 ms: the bucket allows at most 3 + 10 sends in any
	// second; the margin absorbs up to 100 ms of network jitter between a
	// send and its arrival.
	for i := range at {
		inWindow := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < 900*time.Millisecond; j++ {
			inWindow++
		}
		if inWindow > 3+10 {
			t.Fatalf("%d requests within 900 ms from request %d: over burst 3 + 10/s", inWindow, i)
		}
	}
	if span := at[len(at)-1].Sub(at[0]); span < 2*time.Second {
		t.Fatalf("30 requests in %s: the limit was not applied (30 at 10/s with a burst of 3 take at least 2.7 s)", span)
	}
}
