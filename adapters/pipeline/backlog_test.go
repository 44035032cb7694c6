package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// gatedViews stops the first order-index scan after it is armed until the
// test releases it, so that a test can act while a reader is inside one.
type gatedViews struct {
	pipeline.ViewStore
	armed            atomic.Bool
	entered, release chan struct{}
}

func (g *gatedViews) OpenInOrder(sub string, pos domain.Position, id string, fn func(domain.Position, string) bool) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	g.ViewStore.OpenInOrder(sub, pos, id, fn)
}

// TestBacklogCountsAndOldest: the backlog gauge counts the open deliveries
// of every subscription and finds the oldest across them; while it reads a
// subscription's index, the fold goes on (a scrape over thousands of
// subscriptions must not stop the delivery process).
func TestBacklogCountsAndOldest(t *testing.T) {
	gate := &gatedViews{entered: make(chan struct{}), release: make(chan struct{})}
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		gate.ViewStore = o.ViewStore
		o.ViewStore = gate
	}})
	ctx := context.Background()
	h.app("app")
	// Nothing listens there: both subscriptions are paused, so their
	// deliveries stay open.
	h.sub("app", "sub_a", "http://127.0.0.1:1/a", "a.*")
	h.sub("app", "sub_b", "http://127.0.0.1:1/b", "b.*")
	for _, s := range []string{"sub_a", "sub_b"} {
		if _, _, err := h.cmds.ChangeSubscription(ctx, "app", s, domain.PauseSubscription{}, md); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	if b := h.runner.Backlog(); b != (pipeline.Backlog{}) {
		t.Fatalf("nothing published yet, backlog %+v", b)
	}
	first, _ := h.publish("app", "b.first", `{}`)
	var laterFirst string
	for i := 0; i < 3; i++ {
		if id, _ := h.publish("app", "a.later", `{}`); i == 0 {
			laterFirst = id
		}
	}
	oldest := domain.DeliveryIDFor(first, "sub_b")
	waitUntil(t, 10*time.Second, "four deliveries parked", func() bool {
		return h.subscription("sub_a").Open == 3 && h.subscription("sub_b").Open == 1
	})
	// The gauge reads each subscription's earliest-published open delivery
	// and takes the earliest scheduled of those (the fan-outs of two
	// messages may schedule in either order).
	want := h.delivery(oldest).ScheduledAt
	wantParked := h.delivery(domain.DeliveryIDFor(laterFirst, "sub_a")).ScheduledAt
	if want.IsZero() || wantParked.IsZero() {
		t.Fatal("a delivery has no scheduling time")
	}
	oldestOfAll := want
	if wantParked.Before(want) {
		oldestOfAll = wantParked
	}
	// Each subscription's index is read as committed: wait for the fold's
	// next commit.
	var b pipeline.Backlog
	waitUntil(t, 10*time.Second, "the oldest seen", func() bool { b = h.runner.Backlog(); return b.OldestParked.Equal(oldestOfAll) })
	if b.Parked != 4 || b.Pending != 0 || b.InFlight != 0 || !b.OldestPending.IsZero() {
		t.Errorf("backlog %+v, want 4 parked and none pending", b)
	}

	// A scan in progress: the fold must still apply what is appended.
	gate.armed.Store(true)
	done := make(chan pipeline.Backlog, 1)
	go func() { done <- h.runner.Backlog() }()
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the backlog never scanned an order index")
	}
	_, pos := h.publish("app", "a.during", `{}`)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := h.runner.WaitFor(wctx, pos)
	cancel()
	close(gate.release)
	if err != nil {
		t.Errorf("the fold stood still while the backlog read an index: %v", err)
	}
	if b := <-done; b.Parked < 4 || !b.OldestParked.Equal(oldestOfAll) {
		t.Errorf("backlog during the fold %+v, want at least 4 parked and the oldest %v", b, oldestOfAll)
	}

	// sub_b resumed: its delivery is pending (retried, nothing listens), and
	// is the oldest pending one; the parked ones are sub_a's alone.
	if _, _, err := h.cmds.ChangeSubscription(ctx, "app", "sub_b", domain.ResumeSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "sub_b's delivery pending, sub_a's parked", func() bool {
		b = h.runner.Backlog()
		return b.Parked == 4 && b.Pending+b.InFlight == 1 && b.OldestPending.Equal(want) && b.OldestParked.Equal(wantParked)
	})
}
