package pipeline_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// TestDeletingASubscriptionCancelsItsOpenDeliveriesAtOnce: a deletion ends
// every open delivery of the subscription now, not each at its due time: a
// retry an hour away, and deliveries held by a pause, are cancelled within
// moments, on a running pipeline and on one that starts after the deletion.
// A subscription beside it is not held up.
func TestDeletingASubscriptionCancelsItsOpenDeliveriesAtOnce(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "running"
		if restart {
			name = "deleted while stopped"
		}
		t.Run(name, func(t *testing.T) {
			sc := &script{calls: map[string]int{}, plans: map[string][]string{"/down": {"500"}, "/paused": {"200"}, "/ok": {"200"}}}
			srv := httptest.NewServer(sc)
			defer srv.Close()
			h := newHarness(t, harnessOpts{})
			h.app("app")
			ctx := context.Background()
			if _, _, err := h.cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: "sub_down", ApplicationID: "app",
				URL: srv.URL + "/down", EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret(), RetryScheduleMS: []int64{0, 3_600_000}}, md); err != nil {
				t.Fatal(err)
			}
			h.sub("app", "sub_paused", srv.URL+"/paused", "*")
			h.sub("app", "sub_ok", srv.URL+"/ok", "*")
			if _, _, err := h.cmds.ChangeSubscription(ctx, "app", "sub_paused", domain.PauseSubscription{}, md); err != nil {
				t.Fatal(err)
			}
			h.start()
			var msgs []string
			for range 3 {
				m, _ := h.publish("app", "order.paid", `{}`)
				msgs = append(msgs, m)
			}
			for _, m := range msgs {
				id := domain.DeliveryIDFor(m, "sub_down")
				waitUntil(t, 5*time.Second, "a first failed attempt", func() bool {
					d := h.delivery(id)
					return d.Status == domain.DeliveryStatusFailed && d.Attempts == 1
				})
				if d := h.delivery(id); time.Until(d.NextDueAt) < 50*time.Minute {
					t.Fatalf("the retry is due in %v, want an hour", time.Until(d.NextDueAt))
				}
			}
			if restart {
				h.stop()
			}
			for _, sub := range []string{"sub_down", "sub_paused"} {
				if _, _, err := h.cmds.ChangeSubscription(ctx, "app", sub, domain.DeleteSubscription{}, md); err != nil {
					t.Fatal(err)
				}
			}
			if restart {
				h.restart(nil)
			}
			more, _ := h.publish("app", "order.paid", `{}`) // to sub_ok alone now
			for _, m := range msgs {
				for _, sub := range []string{"sub_down", "sub_paused"} {
					id := domain.DeliveryIDFor(m, sub)
					waitUntil(t, 5*time.Second, "the deleted subscription's delivery cancelled", func() bool {
						return h.delivery(id).Status == domain.DeliveryStatusCancelled
					})
				}
			}
			for _, m := range append(msgs, more) {
				id := domain.DeliveryIDFor(m, "sub_ok")
				waitUntil(t, 5*time.Second, "the other subscription's deliveries", func() bool {
					return h.delivery(id).Status == domain.DeliveryStatusAcknowledged
				})
			}
			if n := sc.count("/down"); n != len(msgs) {
				t.Fatalf("%d attempts to the deleted endpoint, want the %d first ones", n, len(msgs))
			}
			if n := sc.count("/paused"); n != 0 {
				t.Fatalf("%d attempts to the paused, deleted endpoint", n)
			}
		})
	}
}

// TestANodeThatTakesOverADeletedSubscriptionCancelsItsDeliveries: a node
// that gains a partition holding a subscription deleted while nobody owned
// it cancels its open deliveries at once (a retry an hour away included).
func TestANodeThatTakesOverADeletedSubscriptionCancelsItsDeliveries(t *testing.T) {
	pr := newNodePair(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer down.Close()
	ctx := context.Background()
	if _, _, err := pr.cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: "sub_down", ApplicationID: "app_1",
		URL: down.URL, EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret(), RetryScheduleMS: []int64{0, 3_600_000}}, md); err != nil {
		t.Fatal(err)
	}
	msg := ids.New(domain.PrefixMessage)
	if _, _, err := pr.cmds.PublishNew(ctx, domain.PublishMessage{MessageID: msg, ApplicationID: "app_1", EventType: "a.b", Payload: []byte(`{}`)}, md); err != nil {
		t.Fatal(err)
	}
	dlv := domain.DeliveryIDFor(msg, "sub_down")
	status := func(r *pipeline.Runner) (st domain.DeliveryStatus) {
		r.Read(func(v *projections.Views) {
			if d := v.Delivery(dlv); d != nil {
				st = d.Status
			}
		})
		return st
	}
	waitUntil(t, 10*time.Second, "a first failed attempt", func() bool { return status(pr.a.runner) == domain.DeliveryStatusFailed })
	pr.a.stop()
	pr.b.stop()
	if _, _, err := pr.cmds.ChangeSubscription(ctx, "app_1", "sub_down", domain.DeleteSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	c := startNode(t, pr.ledger, "node-c", 1)
	waitUntil(t, 10*time.Second, "the new node cancels the deleted subscription's delivery", func() bool {
		return status(c.runner) == domain.DeliveryStatusCancelled
	})
}
