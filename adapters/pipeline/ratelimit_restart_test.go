package pipeline_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// TestRateLimitHoldsAcrossARestart: the limit is ledger state, so a runner
// restarted in the middle of a backlog keeps applying it. The only slack is
// the restarted runner's bucket, which starts full: one extra burst.
func TestRateLimitHoldsAcrossARestart(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}))
	defer hook.Close()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(at) }
	h := newHarness(t, harnessOpts{})
	h.app("app")
	if _, _, err := h.cmds.CreateSubscription(t.Context(), domain.CreateSubscription{SubscriptionID: "sub_rl", ApplicationID: "app",
		URL: hook.URL, EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret(), RateLimit: &domain.RateLimit{PerSecond: 10, Burst: 3}}, md); err != nil {
		t.Fatal(err)
	}
	const n, rate, burst = 30, 10, 3
	for i := 0; i < n; i++ {
		h.publish("app", "a.b", `{"i":`+itoa(i)+`}`)
	}
	h.start()
	waitUntil(t, 10*time.Second, "a third delivered", func() bool { return count() >= n/3 })
	h.stop()
	h.restart(nil)
	waitUntil(t, 20*time.Second, "all delivered", func() bool { return count() >= n })
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	for i := range at {
		in := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < 900*time.Millisecond; j++ {
			in++
		}
		if in > burst+rate+burst {
			t.Fatalf("%d requests within 900 ms from request %d: over 2 bursts of %d + %d/s", in, i, burst, rate)
		}
	}
	if span := at[len(at)-1].Sub(at[0]); span < 2*time.Second {
		t.Fatalf("%d requests in %s: the limit was not applied after the restart", n, span)
	}
}
