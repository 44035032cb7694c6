package pipeline_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// TestPausedSubscriptionHoldsItsDeliveries: messages published while a
// subscription is paused are scheduled and wait; nothing is attempted until
// the resume, then every one goes out. A disabled subscription gets no new
// deliveries at all.
func TestPausedSubscriptionHoldsItsDeliveries(t *testing.T) {
	sc := &script{calls: map[string]int{}, plans: map[string][]string{"/p": {"200"}, "/d": {"200"}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	h := newHarness(t, harnessOpts{})
	h.app("app")
	h.sub("app", "sub_p", srv.URL+"/p", "*")
	h.sub("app", "sub_d", srv.URL+"/d", "*")
	ctx := context.Background()
	if _, _, err := h.cmds.ChangeSubscription(ctx, "app", "sub_p", domain.PauseSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.cmds.ChangeSubscription(ctx, "app", "sub_d", domain.DisableSubscription{Reason: domain.DisabledByOperator}, md); err != nil {
		t.Fatal(err)
	}
	h.start()
	var msgs []string
	for i := 0; i < 5; i++ {
		m, _ := h.publish("app", "order.paid", `{}`)
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		id := domain.DeliveryIDFor(m, "sub_p")
		waitUntil(t, 5*time.Second, "scheduled while paused", func() bool { return h.delivery(id).ID != "" })
		if d := h.delivery(domain.DeliveryIDFor(m, "sub_d")); d.ID != "" {
			t.Fatalf("a disabled subscription got a delivery: %+v", d)
		}
	}
	// Give the dispatcher every chance to (wrongly) send.
	time.Sleep(100 * time.Millisecond)
	if n := sc.count("/p"); n != 0 {
		t.Fatalf("%d attempts while paused", n)
	}
	for _, m := range msgs {
		if d := h.delivery(domain.DeliveryIDFor(m, "sub_p")); d.Status != domain.DeliveryStatusPending || d.Attempts != 0 {
			t.Fatalf("while paused: %s after %d attempts", d.Status, d.Attempts)
		}
	}
	if _, _, err := h.cmds.ChangeSubscription(ctx, "app", "sub_p", domain.ResumeSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		id := domain.DeliveryIDFor(m, "sub_p")
		waitUntil(t, 5*time.Second, "delivered after the resume", func() bool {
			return h.delivery(id).Status == domain.DeliveryStatusAcknowledged
		})
	}
	if n := sc.count("/p"); n != len(msgs) {
		t.Fatalf("%d attempts after the resume, want %d", n, len(msgs))
	}
	if n := sc.count("/d"); n != 0 {
		t.Fatalf("%d attempts to the disabled subscription", n)
	}
}
