package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// TestOperationalAnnouncementsAreOncePerEvent: an exhausted delivery and a
// disabled subscription are announced to the operational subscription; a
// restart that folds the whole ledger again (no snapshot) publishes and
// delivers nothing twice.
func TestOperationalAnnouncementsAreOncePerEvent(t *testing.T) {
	var opsCalls atomic.Int32
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { opsCalls.Add(1) }))
	defer ops.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()

	h := newHarness(t, harnessOpts{})
	h.app(domain.SystemApplicationID)
	h.sub(domain.SystemApplicationID, "sub_ops", ops.URL, "hookledger.*")
	h.app("app_t")
	if _, _, err := h.cmds.CreateSubscription(t.Context(), domain.CreateSubscription{SubscriptionID: "sub_t", ApplicationID: "app_t",
		URL: failing.URL, EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret(), RetryScheduleMS: []int64{0}}, md); err != nil {
		t.Fatal(err)
	}
	h.start()
	msg, _ := h.publish("app_t", "order.paid", `{"n":1}`)
	waitUntil(t, 10*time.Second, "exhausted", func() bool {
		return h.delivery(domain.DeliveryIDFor(msg, "sub_t")).Status == domain.DeliveryStatusExhausted
	})
	if _, _, err := h.cmds.ChangeSubscription(t.Context(), "app_t", "sub_t", domain.DisableSubscription{Reason: domain.DisabledByOperator, Detail: "x"}, md); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "two announcements delivered", func() bool { return opsCalls.Load() == 2 })
	if n := announcements(t, h.store); n != 2 {
		t.Fatalf("%d operational messages, want 2", n)
	}

	h.stop()
	// Closed first: Pebble's background jobs on an open store find their
	// files gone and report corruption (a panic the test once hit).
	h.views.Close()
	h.views = nil
	os.RemoveAll(h.dir + "/views")
	h.restart(nil)
	time.Sleep(300 * time.Millisecond)
	if n := announcements(t, h.store); n != 2 || opsCalls.Load() != 2 {
		t.Fatalf("after folding the ledger again: %d operational messages, %d deliveries; want 2 and 2", n, opsCalls.Load())
	}
}

func announcements(t *testing.T, store domain.EventStore) int {
	t.Helper()
	evs, err := store.ReadAll(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range evs {
		if ev, _, err := domain.Decode(rec); err == nil {
			if m, ok := ev.(domain.MessagePublished); ok && m.ApplicationID == domain.SystemApplicationID {
				n++
			}
		}
	}
	return n
}
