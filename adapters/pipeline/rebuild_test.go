package pipeline_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// TestRebuildFindsUnscheduledFanout: a message published while nothing ran
// has no deliveries yet; a rebuild reports its fan-out as unfinished, and a
// pipeline started on the rebuilt view store schedules and delivers it.
func TestRebuildFindsUnscheduledFanout(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.app("app")
	h.sub("app", "sub_1", "http://127.0.0.1:1/x", "*")
	h.sub("app", "sub_2", "http://127.0.0.1:1/y", "other.*")
	msg, _ := h.publish("app", "a.b", `{}`)
	res, err := pipeline.RebuildInto(context.Background(), h.store, h.views, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unscheduled) != 1 || len(res.Unscheduled[0].Schedules) != 1 || res.Unscheduled[0].Schedules[0].SubscriptionID != "sub_1" {
		t.Fatalf("unscheduled: %+v", res.Unscheduled)
	}
	if _, err := pipeline.RebuildInto(context.Background(), h.store, h.views, 0, nil); err == nil {
		t.Fatal("a rebuild into a view store that is not empty must be refused")
	}
	h.start()
	id := domain.DeliveryIDFor(msg, "sub_1")
	waitUntil(t, 5e9, "scheduled from the snapshot", func() bool { return h.delivery(id).Exists() })
	live, pos := h.liveSnapshot()
	again, err := pipeline.Rebuild(context.Background(), h.store, pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := again.Views.Snapshot()
	if !bytes.Equal(b, live) {
		t.Fatal("rebuild differs from live views")
	}
}

// TestRebuildCancelledReturnsAnError: a rebuild cut short by its context
// must not return the views folded so far as if they were complete.
func TestRebuildCancelledReturnsAnError(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.app("app")
	for i := 0; i < 20; i++ {
		h.publish("app", "a.b", `{}`)
	}
	head, err := h.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := pipeline.Rebuild(ctx, h.store, head, nil); err == nil {
		t.Fatalf("a cancelled rebuild returned %d events of views and no error", res.Views.Events)
	}
	res, err := pipeline.Rebuild(context.Background(), h.store, head, nil)
	if err != nil || res.Messages != 20 {
		t.Fatalf("rebuild: %v, %d messages", err, res.Messages)
	}
}
