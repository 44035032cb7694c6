package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// startCounter counts the attempt starts appended on their own (the
// dispatcher's path), and can hold or refuse the first multi-stream append.
type startCounter struct {
	domain.EventStore
	alone atomic.Int32 // appends whose first event is an attempt's start

	multi      atomic.Int32  // multi-stream appends asked for
	holdNext   atomic.Bool   // hold the next multi-stream append until release
	held       chan struct{} // closed when it is held
	release    chan struct{} // closed by the test to let it go on
	refuseNext atomic.Bool   // the next multi-stream append fails, writing nothing
	subEnded   chan struct{} // closed when the ledger subscription returns
}

func newStartCounter(s domain.EventStore) *startCounter {
	return &startCounter{EventStore: s, held: make(chan struct{}), release: make(chan struct{}), subEnded: make(chan struct{})}
}

func (c *startCounter) Append(ctx context.Context, stream string, exp domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if events[0].Type == domain.TypeAttemptStarted {
		c.alone.Add(1)
	}
	return c.EventStore.Append(ctx, stream, exp, events...)
}

func (c *startCounter) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	c.multi.Add(1)
	if c.refuseNext.CompareAndSwap(true, false) {
		return nil, errors.New("the disk hiccuped")
	}
	if c.holdNext.CompareAndSwap(true, false) {
		close(c.held)
		<-c.release
	}
	return c.EventStore.(domain.MultiAppender).AppendMulti(ctx, parts...)
}

func (c *startCounter) SubscribeAll(ctx context.Context, from domain.Position, fn func(domain.RecordedEvent) error) error {
	defer close(c.subEnded)
	return c.EventStore.SubscribeAll(ctx, from, fn)
}

func startHarness(t *testing.T, c **startCounter, opt func(*pipeline.Options)) *harness {
	t.Helper()
	return newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		if *c == nil { // a restart keeps the first wrapper's counts
			*c = newStartCounter(o.Store)
		}
		o.Store = *c
		cmds := *o.Commands
		cmds.Store = o.Store
		o.Commands = &cmds
		if opt != nil {
			opt(o)
		}
	}})
}

// noContent starts an endpoint that answers every request 204 and returns
// its URL.
func noContent(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// waitAcked waits until delivery id is acknowledged.
func waitAcked(t *testing.T, h *harness, id string) {
	t.Helper()
	waitUntil(t, 10*time.Second, "delivery "+id+" acknowledged", func() bool { return h.delivery(id).Status == domain.DeliveryStatusAcknowledged })
}

// acked publishes a message and waits until its delivery to sub is
// acknowledged; it returns the delivery's id. Once one is, the workers run,
// and a delivery due at once can be started with its schedule.
func acked(t *testing.T, h *harness, app, sub string) string {
	t.Helper()
	msg, _ := h.publish(app, "order.paid", `{"n":1}`)
	id := domain.DeliveryIDFor(msg, sub)
	waitAcked(t, h, id)
	return id
}

// A delivery due at once is started in the write that schedules it: the
// same events as the dispatcher's path, with the same actors and
// causation, at consecutive positions.
func TestAttemptStartsInTheWriteThatSchedulesIt(t *testing.T) {
	url := noContent(t)
	var c *startCounter
	h := startHarness(t, &c, nil)
	h.app("app_s")
	h.sub("app_s", "sub_s", url, "*")
	h.start()
	acked(t, h, "app_s", "sub_s") // the workers run
	before := c.alone.Load()
	msg, _ := h.publish("app_s", "order.paid", `{"n":2}`)
	id := domain.DeliveryIDFor(msg, "sub_s")
	waitAcked(t, h, id)

	recs, err := h.store.ReadStream(context.Background(), domain.DeliveryStream(id), 0, domain.Forward, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(h.timeline(id)); got != "delivery.scheduled delivery.attempt_started delivery.attempt_acknowledged" {
		t.Fatalf("timeline %q", got)
	}
	if recs[1].Position != recs[0].Position+1 {
		t.Fatalf("scheduled at %d, started at %d: want one write", recs[0].Position, recs[1].Position)
	}
	if n := c.alone.Load() - before; n != 0 {
		t.Fatalf("%d attempt starts appended on their own, want none", n)
	}
	published, err := h.store.ReadStream(context.Background(), domain.MessageStream(msg), 0, domain.Forward, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Metadata{
		{Actor: "fanout", CorrelationID: msg, CausationID: published[0].ID},
		{Actor: "delivery-worker", CorrelationID: msg, CausationID: recs[0].ID},
		{Actor: "delivery-worker", CorrelationID: msg, CausationID: recs[1].ID},
	}
	for i, w := range want {
		_, got, err := domain.Decode(recs[i])
		if err != nil || got.Actor != w.Actor || got.CorrelationID != w.CorrelationID || got.CausationID != w.CausationID {
			t.Fatalf("event %d (%s): metadata %+v (%v), want %+v", i, recs[i].Type, got, err, w)
		}
	}
	ev, _, _ := domain.Decode(recs[1])
	if s := ev.(domain.AttemptStarted); s.Attempt != 1 || s.Worker != "delivery-worker" {
		t.Fatalf("start %+v", s)
	}
}

// What the dispatcher would hold is not started with its schedule: a FIFO
// subscription's deliveries, and those not due at once.
func TestAttemptsNotDueOrInOrderAreDispatched(t *testing.T) {
	url := noContent(t)
	var c *startCounter
	h := startHarness(t, &c, nil)
	h.app("app_s")
	h.sub("app_s", "sub_plain", url, "*")
	for _, s := range []domain.CreateSubscription{
		{SubscriptionID: "sub_fifo", Ordering: domain.OrderingFIFO},
		{SubscriptionID: "sub_later", RetryScheduleMS: []int64{300, 1000}},
	} {
		s.ApplicationID, s.URL, s.EventTypes, s.Secret = "app_s", url, domain.Filters{"*"}, ids.NewSecret()
		if _, _, err := h.cmds.CreateSubscription(context.Background(), s, md); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	acked(t, h, "app_s", "sub_plain")
	msg, _ := h.publish("app_s", "order.paid", `{"n":2}`)
	for _, sub := range []string{"sub_fifo", "sub_later", "sub_plain"} {
		id := domain.DeliveryIDFor(msg, sub)
		waitAcked(t, h, id)
		recs, err := h.store.ReadStream(context.Background(), domain.DeliveryStream(id), 0, domain.Forward, 2)
		if err != nil {
			t.Fatal(err)
		}
		_, started, _ := domain.Decode(recs[1])
		_, scheduled, _ := domain.Decode(recs[0])
		together := recs[1].Position == recs[0].Position+1 && started.RecordedAt.Equal(scheduled.RecordedAt)
		if together != (sub == "sub_plain") {
			t.Fatalf("%s: scheduled at %d, started at %d (together: %v)", sub, recs[0].Position, recs[1].Position, together)
		}
	}
	if n := c.alone.Load(); n < 2 {
		t.Fatalf("%d attempt starts appended on their own, want the FIFO one's and the later one's", n)
	}
}

// Attempts started with their schedule count against the subscription's
// concurrency limit like dispatched ones.
func TestAttemptsStartedWithTheirScheduleKeepTheConcurrencyLimit(t *testing.T) {
	var now, most atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	var c *startCounter
	h := startHarness(t, &c, func(o *pipeline.Options) { o.PerSubscription = 2 })
	h.app("app_s")
	h.sub("app_s", "sub_s", srv.URL, "*")
	h.start()
	acked(t, h, "app_s", "sub_s")
	var msgs []string
	for i := 0; i < 12; i++ {
		m, _ := h.publish("app_s", "order.paid", `{"n":3}`)
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		id := domain.DeliveryIDFor(m, "sub_s")
		waitAcked(t, h, id)
	}
	if m := most.Load(); m > 2 {
		t.Fatalf("%d attempts at once, want at most the limit of 2", m)
	}
}

// A write of claimed starts that fails gives the claims back: the
// deliveries are scheduled one by one (claimed again there). With two
// workers, a slot or an in-flight mark not given back leaves them stuck.
func TestClaimsOfAFailedWriteAreGivenBack(t *testing.T) {
	url := noContent(t)
	var c *startCounter
	h := startHarness(t, &c, func(o *pipeline.Options) { o.Workers, o.PerSubscription = 2, 2 })
	h.app("app_s")
	h.sub("app_s", "sub_s1", url, "*")
	h.sub("app_s", "sub_s2", url, "*")
	h.start()
	acked(t, h, "app_s", "sub_s1")
	multi := c.multi.Load()
	c.refuseNext.Store(true)
	msg, _ := h.publish("app_s", "order.paid", `{"n":4}`)
	for _, sub := range []string{"sub_s1", "sub_s2"} {
		id := domain.DeliveryIDFor(msg, sub)
		waitAcked(t, h, id)
		if got := types(h.timeline(id)); got != "delivery.scheduled delivery.attempt_started delivery.attempt_acknowledged" {
			t.Fatalf("%s: timeline %q", id, got)
		}
	}
	if c.refuseNext.Load() || c.multi.Load() != multi+1 {
		t.Fatalf("%d multi-stream appends (refused one: %v), want the one refused", c.multi.Load()-multi, !c.refuseNext.Load())
	}
	// And the slots are free: the next message goes as usual.
	acked(t, h, "app_s", "sub_s2")
}

// On a store without multi-stream appends (EventStoreDB), a delivery due at
// once has its attempt started in the append of its schedule all the same.
func TestAttemptStartsWithItsScheduleOnAStoreWithoutMultiStreamAppends(t *testing.T) {
	url := noContent(t)
	var asked atomic.Int32
	var c *startCounter
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		c = newStartCounter(o.Store)
		o.Store = onlyOneByOne{EventStore: c, asked: &asked}
		cmds := *o.Commands
		cmds.Store = o.Store
		o.Commands = &cmds
	}})
	h.app("app_s")
	h.sub("app_s", "sub_s", url, "*")
	h.start()
	acked(t, h, "app_s", "sub_s")
	before := c.alone.Load()
	id := acked(t, h, "app_s", "sub_s")
	recs, err := h.store.ReadStream(context.Background(), domain.DeliveryStream(id), 0, domain.Forward, 2)
	if err != nil {
		t.Fatal(err)
	}
	if recs[1].Type != domain.TypeAttemptStarted || recs[1].Position != recs[0].Position+1 || c.alone.Load() != before {
		t.Fatalf("start at %d after the schedule at %d (%d starts appended on their own): want one append", recs[1].Position, recs[0].Position, c.alone.Load()-before)
	}
	_, started, err := domain.Decode(recs[1])
	if err != nil || started.Actor != "delivery-worker" || started.CausationID != recs[0].ID {
		t.Fatalf("start's metadata %+v (%v), want the worker's, caused by the schedule", started, err)
	}
}

// An attempt started with its schedule while the process stops, after the
// workers have stopped taking jobs, is closed as not sent: no attempt is
// left open and nothing is sent after the stop.
func TestAnAttemptStartedAsTheWorkersStopIsRecordedNotSent(t *testing.T) {
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent.Add(1); w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	var c *startCounter
	h := startHarness(t, &c, nil)
	h.app("app_s")
	h.sub("app_s", "sub_s", srv.URL, "*")
	h.start()
	acked(t, h, "app_s", "sub_s")
	c.holdNext.Store(true)
	msg, _ := h.publish("app_s", "order.paid", `{"n":5}`)
	select {
	case <-c.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the schedule was not written with a multi-stream append")
	}
	h.cancel()
	h.cancel = nil
	<-c.subEnded // the workers are stopped by then
	close(c.release)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	id := domain.DeliveryIDFor(msg, "sub_s")
	evs := h.timeline(id)
	if got := types(evs); got != "delivery.scheduled delivery.attempt_started delivery.attempt_failed delivery.retry_scheduled" {
		t.Fatalf("timeline %q", got)
	}
	if f := evs[2].(domain.AttemptFailed); f.ErrorClass != domain.ErrorClassInternal || !strings.HasPrefix(f.Error, "not sent: ") {
		t.Fatalf("outcome %+v, want an internal failure saying it was not sent", f)
	}
	if n := sent.Load(); n != 1 {
		t.Fatalf("%d requests sent, want only the first message's", n)
	}
}
