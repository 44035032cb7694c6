package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// TestStartResumesFromTheViewStore: a clean stop commits the views with the
// ledger's head as checkpoint, so the next start folds nothing already
// folded; what was delivered stays visible and nothing is delivered twice.
func TestStartResumesFromTheViewStore(t *testing.T) {
	recv := receiver.New()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	h := newHarness(t, harnessOpts{})
	h.start()
	h.app("app")
	secret := h.sub("app", "sub_1", srv.URL+"/sub_1", "*")
	if err := recv.Add("sub_1", secret); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := 0; i < 30; i++ {
		last, _ = h.publish("app", "a.b", `{"i":1}`)
	}
	id := domain.DeliveryIDFor(last, "sub_1")
	waitUntil(t, 10*time.Second, "last delivery acknowledged", func() bool { return h.delivery(id).Status == domain.DeliveryStatusAcknowledged })
	waitUntil(t, 10*time.Second, "30 received", func() bool { return recv.Unique() == 30 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	head, err := h.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, state, err := h.views.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v.Checkpoint != head {
		t.Fatalf("after a clean stop the view store is at %d, the ledger at %d: the next start would fold again", v.Checkpoint, head)
	}
	if len(state) != 0 {
		t.Fatalf("fan-outs left open after every delivery was scheduled: %v", state)
	}
	if d := v.Delivery(id); d == nil || d.Status != domain.DeliveryStatusAcknowledged {
		t.Fatalf("delivery in the view store: %+v", d)
	}
	h.restart(nil)
	if got := h.delivery(id); got.Status != domain.DeliveryStatusAcknowledged {
		t.Fatalf("after the restart the delivery reads %+v", got)
	}
	time.Sleep(200 * time.Millisecond)
	if recv.Total() != 30 {
		t.Fatalf("the receiver got %d requests for 30 messages: a restart redelivered", recv.Total())
	}
}

// refusingSchedules refuses the appends to delivery streams while refuse is
// set, as invalid (the fan-out does not retry those).
type refusingSchedules struct {
	domain.EventStore
	refuse atomic.Bool
}

func (s *refusingSchedules) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if s.refuse.Load() && strings.HasPrefix(stream, domain.DeliveryStream("")) {
		return domain.AppendResult{}, fmt.Errorf("%w: refused by the test", domain.ErrInvalidArgument)
	}
	return s.EventStore.Append(ctx, stream, expected, events...)
}

// TestAFanoutOpenAtACommitIsSavedWithIt: a fan-out whose deliveries are not
// in the ledger when the views are committed is saved with them (its
// message is behind the checkpoint, so the next start would not fold it
// again), and the next start finishes it.
func TestAFanoutOpenAtACommitIsSavedWithIt(t *testing.T) {
	recv := receiver.New()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	gate := &refusingSchedules{}
	gate.refuse.Store(true)
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		gate.EventStore = o.Store
		o.Commands = &domain.Commands{Store: gate, Now: time.Now, NewEventID: ids.NewEventID}
	}})
	h.app("app")
	secret := h.sub("app", "sub_1", srv.URL+"/sub_1", "*")
	if err := recv.Add("sub_1", secret); err != nil {
		t.Fatal(err)
	}
	h.start()
	msg, pos := h.publish("app", "a.b", `{"i":1}`)
	waitUntil(t, 5*time.Second, "the message folded", func() bool {
		found := false
		h.runner.Read(func(v *projections.Views) { found = v.Message(msg) != nil })
		return found
	})
	time.Sleep(100 * time.Millisecond) // the refused schedule
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	v, state, err := h.views.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v.Checkpoint < pos {
		t.Fatalf("checkpoint %d, before the message at %d", v.Checkpoint, pos)
	}
	if len(state) != 1 {
		t.Fatalf("saved state %v, want the one open fan-out", state)
	}
	for _, b := range state {
		if !strings.Contains(string(b), msg) {
			t.Fatalf("saved fan-out %s, want message %s's", b, msg)
		}
	}
	gate.refuse.Store(false)
	h.restart(nil)
	id := domain.DeliveryIDFor(msg, "sub_1")
	waitUntil(t, 10*time.Second, "the delivery scheduled and acknowledged after the restart", func() bool {
		return h.delivery(id).Status == domain.DeliveryStatusAcknowledged
	})
	if recv.Unique() != 1 {
		t.Fatalf("the receiver got %d messages, want 1", recv.Unique())
	}
}

// countingRefusals counts the appends the store refuses because the stream
// is there already: a schedule appended a second time.
type countingRefusals struct {
	domain.EventStore
	refused atomic.Int64
}

func (s *countingRefusals) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	res, err := s.EventStore.Append(ctx, stream, expected, events...)
	if errors.Is(err, domain.ErrWrongRevision) {
		s.refused.Add(1)
	}
	return res, err
}

// TestAFoldFromTheStartSchedulesNothingAgain: a start that folds the ledger
// from position 0 (a new view store: after a restore, or a format change)
// finds each message's deliveries in the ledger instead of appending them
// again to be refused; a message whose fan-out a crash cut short still has
// its delivery scheduled, once the catch-up is over.
func TestAFoldFromTheStartSchedulesNothingAgain(t *testing.T) {
	recv := receiver.New()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	counting := &countingRefusals{}
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		counting.EventStore = o.Store
		o.Store = counting
		c := *o.Commands // the fan-out appends through the commands
		c.Store = counting
		o.Commands = &c
	}})
	h.start()
	h.app("app")
	secret := h.sub("app", "sub_1", srv.URL+"/sub_1", "*")
	if err := recv.Add("sub_1", secret); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		h.publish("app", "a.b", fmt.Sprintf(`{"i":%d}`, i))
	}
	waitUntil(t, 10*time.Second, "40 received", func() bool { return recv.Unique() == 40 })
	h.stop()
	// Published while no runner folds: its fan-out never ran.
	late, _ := h.publish("app", "a.b", `{"late":true}`)

	h.views.Close()
	h.views = nil
	if err := os.RemoveAll(h.dir + "/views"); err != nil {
		t.Fatal(err)
	}
	before := counting.refused.Load()
	h.restart(nil)
	waitUntil(t, 10*time.Second, "the late message delivered", func() bool {
		return h.delivery(domain.DeliveryIDFor(late, "sub_1")).Status == domain.DeliveryStatusAcknowledged
	})
	time.Sleep(200 * time.Millisecond)
	if n := counting.refused.Load() - before; n != 0 {
		t.Fatalf("the fold from position 0 appended %d schedules that were in the ledger already", n)
	}
	if recv.Total() != 41 {
		t.Fatalf("the receiver got %d requests for 41 messages", recv.Total())
	}
}
