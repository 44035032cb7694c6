package pipeline_test

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// TestEndToEnd: 2 applications, subscriptions with overlapping filters, 1,000
// messages. A receiver built on the Standard Webhooks reference library
// verifies every request. Every matching (message, subscription) pair is
// acknowledged exactly once in the ledger, non-matching pairs get nothing,
// and each delivery's stream is a complete timeline.
func TestEndToEnd(t *testing.T) {
	recv := receiver.New()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	h := newHarness(t, harnessOpts{})
	h.app("app_one")
	h.app("app_two")
	subs := []struct {
		app, id string
		filters []string
	}{
		{"app_one", "sub_orders", []string{"order.*"}},
		{"app_one", "sub_paid", []string{"order.paid"}},
		{"app_one", "sub_all", []string{"*"}},
		{"app_one", "sub_users", []string{"user.*", "invoice.paid"}},
		{"app_two", "sub_two_orders", []string{"order.*"}},
		{"app_two", "sub_two_invoices", []string{"invoice.paid"}},
	}
	appOf := map[string]string{}
	filtersOf := map[string]domain.Filters{}
	for _, s := range subs {
		secret := h.sub(s.app, s.id, srv.URL+"/"+s.id, s.filters...)
		if err := recv.Add(s.id, secret); err != nil {
			t.Fatal(err)
		}
		appOf[s.id], filtersOf[s.id] = s.app, s.filters
	}
	h.start()

	eventTypes := []string{"order.paid", "order.refunded", "user.created", "invoice.paid", "shipment.sent"}
	type msg struct{ id, app, typ string }
	var msgs []msg
	for i := 0; i < 1000; i++ {
		app := []string{"app_one", "app_two"}[i%2]
		typ := eventTypes[(i/2)%len(eventTypes)]
		id, _ := h.publish(app, typ, fmt.Sprintf(`{"n":%d,"type":%q}`, i, typ))
		msgs = append(msgs, msg{id, app, typ})
	}
	expected := map[[2]string]bool{}
	for _, m := range msgs {
		for _, s := range subs {
			if _, ok := filtersOf[s.id].Match(m.typ); ok && appOf[s.id] == m.app {
				expected[[2]string{s.id, m.id}] = true
			}
		}
	}
	acked := func() int {
		n := 0
		h.runner.Read(func(v *projections.Views) {
			v.Records().WalkDeliveries(func(d *projections.DeliveryView) error {
				if d.Status == domain.DeliveryStatusAcknowledged {
					n++
				}
				return nil
			})
		})
		return n
	}
	waitUntil(t, 90*time.Second, "every matching pair acknowledged", func() bool { return acked() == len(expected) })

	if recv.Rejected() != 0 {
		t.Fatalf("%d requests failed signature verification", recv.Rejected())
	}
	got := recv.Pairs()
	for pair := range expected {
		if got[pair] == 0 {
			t.Fatalf("pair %v never received", pair)
		}
	}
	for pair := range got {
		if !expected[pair] {
			t.Fatalf("pair %v received but does not match", pair)
		}
	}
	var deliveries int
	h.runner.Read(func(v *projections.Views) {
		v.Records().WalkDeliveries(func(*projections.DeliveryView) error { deliveries++; return nil })
	})
	if deliveries != len(expected) {
		t.Fatalf("%d deliveries scheduled, %d pairs match", deliveries, len(expected))
	}
	for pair := range expected {
		id := domain.DeliveryIDFor(pair[1], pair[0])
		tl := h.timeline(id)
		if got := types(tl); got != "delivery.scheduled delivery.attempt_started delivery.attempt_acknowledged" {
			t.Fatalf("delivery %s timeline: %s", id, got)
		}
		s := tl[0].(domain.DeliveryScheduled)
		if s.SubscriptionID != pair[0] || s.MessageID != pair[1] || s.SubscriptionRevision != 0 {
			t.Fatalf("scheduled event %+v", s)
		}
		if ack := tl[2].(domain.AttemptAcknowledged); ack.StatusCode != 200 || len(ack.KeyIDs) != 1 {
			t.Fatalf("ack %+v", ack)
		}
	}

	// Stop, then the views rebuilt from position 0 equal the live ones.
	live, pos := h.liveSnapshot()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if rebuilt := rebuild(t, h.store, pos); !bytes.Equal(rebuilt, live) {
		t.Fatal("views rebuilt from position 0 differ from the live views")
	}
}
