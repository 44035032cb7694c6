package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// countingStore counts the appends of delivery.scheduled events that go
// through it, one stream at a time or several at once.
type countingStore struct {
	domain.EventStore
	mu                         sync.Mutex
	single, multi, multiFailed int
	multiParts                 []int
}

func (c *countingStore) Append(ctx context.Context, stream string, exp domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if strings.HasPrefix(stream, "delivery-") && events[0].Type == domain.TypeDeliveryScheduled {
		c.mu.Lock()
		c.single++
		c.mu.Unlock()
	}
	return c.EventStore.Append(ctx, stream, exp, events...)
}

// AppendMulti counts an append as made before it is made: once it is in
// the ledger a test may see its schedules and read the counts at once (it
// did, on a loaded machine). A refused one is moved to the refused count
// before the caller can go on to anything else.
func (c *countingStore) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	c.mu.Lock()
	c.multi++
	c.multiParts = append(c.multiParts, len(parts))
	at := len(c.multiParts) - 1
	c.mu.Unlock()
	res, err := c.EventStore.(domain.MultiAppender).AppendMulti(ctx, parts...)
	if err != nil {
		c.mu.Lock()
		c.multi--
		c.multiParts[at] = -1 // refused: left out of counts
		c.multiFailed++
		c.mu.Unlock()
	}
	return res, err
}

func (c *countingStore) counts() (single, multi, failed int, parts []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.multiParts {
		if n >= 0 {
			parts = append(parts, n)
		}
	}
	return c.single, c.multi, c.multiFailed, parts
}

// onlyOneByOne is a store without multi-stream appends, wrapped as the
// metrics wrapper wraps one: it answers errors.ErrUnsupported, and counts
// how often it was asked.
type onlyOneByOne struct {
	domain.EventStore
	asked *atomic.Int32
}

func (o onlyOneByOne) AppendMulti(context.Context, ...domain.StreamAppend) ([]domain.AppendResult, error) {
	o.asked.Add(1)
	return nil, errors.ErrUnsupported
}

func fanoutHarness(t *testing.T, wrap func(domain.EventStore) domain.EventStore) (*harness, string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		o.Store = wrap(o.Store)
		cmds := *o.Commands
		cmds.Store = o.Store
		o.Commands = &cmds
	}})
	h.app("app_f")
	return h, srv.URL
}

// scheduledOnce checks that each delivery of msg to subs was scheduled
// exactly once, and returns the positions of the schedules.
func scheduledOnce(t *testing.T, h *harness, msg string, subs []string) []domain.Position {
	t.Helper()
	var at []domain.Position
	for _, sub := range subs {
		id := domain.DeliveryIDFor(msg, sub)
		waitUntil(t, 10*time.Second, "delivery "+id+" scheduled", func() bool { return h.delivery(id).ID != "" })
		recs, err := h.store.ReadStream(context.Background(), domain.DeliveryStream(id), 0, domain.Forward, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Type == domain.TypeDeliveryScheduled {
				n++
			}
		}
		if n != 1 || recs[0].Type != domain.TypeDeliveryScheduled {
			t.Fatalf("%s: %d schedules, first event %s; want exactly one, first", id, n, recs[0].Type)
		}
		at = append(at, recs[0].Position)
	}
	return at
}

func TestFanoutSchedulesAMessagesDeliveriesInOneAppend(t *testing.T) {
	var counting *countingStore
	h, url := fanoutHarness(t, func(s domain.EventStore) domain.EventStore { counting = &countingStore{EventStore: s}; return counting })
	subs := []string{"sub_f1", "sub_f2", "sub_f3", "sub_f4"}
	for _, s := range subs {
		h.sub("app_f", s, url, "*")
	}
	h.start()
	msg, _ := h.publish("app_f", "order.paid", `{"n":1}`)
	at := scheduledOnce(t, h, msg, subs)
	single, multi, failed, parts := counting.counts()
	if single != 0 || multi != 1 || failed != 0 || len(parts) != 1 || parts[0] != len(subs) {
		t.Fatalf("%d schedules appended one by one, %d multi-stream appends (%v parts, %d refused); want one of %d", single, multi, parts, failed, len(subs))
	}
	var dlv []string
	for _, sub := range subs {
		dlv = append(dlv, domain.DeliveryIDFor(msg, sub))
	}
	oneWrite(t, h, dlv, at)
}

// oneWrite checks that the deliveries dlv, scheduled at at, were written
// together: their schedules, and the attempts started with them, fill
// consecutive positions.
func oneWrite(t *testing.T, h *harness, dlv []string, at []domain.Position) {
	t.Helper()
	var all []domain.Position
	for i, id := range dlv {
		all = append(all, at[i])
		recs, err := h.store.ReadStream(context.Background(), domain.DeliveryStream(id), 0, domain.Forward, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) < 2 || recs[1].Type != domain.TypeAttemptStarted {
			continue
		}
		_, scheduled, _ := domain.Decode(recs[0])
		_, started, _ := domain.Decode(recs[1])
		if recs[1].Position == at[i]+1 && started.RecordedAt.Equal(scheduled.RecordedAt) {
			all = append(all, recs[1].Position) // started in the same write
		}
	}
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i] != all[0]+domain.Position(i) {
			t.Fatalf("schedules at %v, with their starts %v: want consecutive positions (one atomic append)", at, all)
		}
	}
}

// A fan-out resumed after a restart (saved open with the views), one of its
// deliveries already in the ledger: the multi-stream append is refused
// whole, and the schedules go one by one, the one already there counted as
// done; nothing is scheduled twice. (A message folded again during a
// catch-up is not resumed this way: the fold finds its deliveries,
// catchup.go.)
func TestFanoutFallsBackOneByOneWhenADeliveryIsAlreadyScheduled(t *testing.T) {
	var counting *countingStore
	refusing := &refusingSchedules{}
	h, url := fanoutHarness(t, func(s domain.EventStore) domain.EventStore {
		refusing.EventStore = s
		counting = &countingStore{EventStore: multiRefusing{refusing}}
		return counting
	})
	subs := []string{"sub_g1", "sub_g2", "sub_g3"}
	for _, s := range subs {
		h.sub("app_f", s, url, "*")
	}
	// The fan-out fails (the store refuses the schedules), so it is saved
	// open with the views at the stop; one of its deliveries is then
	// scheduled by hand (a process stopped mid fan-out).
	refusing.refuse.Store(true)
	h.start()
	msg, pos := h.publish("app_f", "order.paid", `{"n":2}`)
	waitUntil(t, 10*time.Second, "the message folded", func() bool { return h.runner.Checkpoint() >= pos })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	refusing.refuse.Store(false)
	evs, err := domain.DecideDelivery(domain.Delivery{}, domain.ScheduleDelivery{MessageID: msg, SubscriptionID: subs[1], ApplicationID: "app_f",
		EventType: "order.paid", MatchedPattern: "*", MessagePosition: pos}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.cmds.AppendDecided(context.Background(), domain.DeliveryStream(domain.DeliveryIDFor(msg, subs[1])), 0, false, evs, md); err != nil {
		t.Fatal(err)
	}
	h.restart(nil) // a new runner: a new countingStore
	scheduledOnce(t, h, msg, subs)
	// Each schedule is tried once, whether one by one or together: a
	// multi-stream append holding the one already there is refused whole
	// (not counted), and its schedules go one by one.
	waitUntil(t, 10*time.Second, "the fan-out settled", func() bool { s, _, _, p := counting.counts(); return s+sum(p) == len(subs) })
	if single, _, failed, parts := counting.counts(); failed > 1 || single+sum(parts) != len(subs) {
		t.Fatalf("%d one by one, multi-stream appends of %v, %d refused; want each of the %d schedules tried once", single, parts, failed, len(subs))
	}
}

// multiRefusing passes refusingSchedules' refusal on to multi-stream
// appends of schedules.
type multiRefusing struct{ *refusingSchedules }

func (m multiRefusing) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	if m.refuse.Load() {
		return nil, fmt.Errorf("%w: refused by the test", domain.ErrInvalidArgument)
	}
	return m.EventStore.(domain.MultiAppender).AppendMulti(ctx, parts...)
}

// A fan-out of a message folded again during a catch-up (published while no
// runner ran), one of its deliveries already in the ledger: the fold finds
// that one, and only the others are appended, none refused.
func TestACatchUpAppendsOnlyTheSchedulesItDidNotFind(t *testing.T) {
	var counting *countingStore
	h, url := fanoutHarness(t, func(s domain.EventStore) domain.EventStore { counting = &countingStore{EventStore: s}; return counting })
	subs := []string{"sub_g1", "sub_g2", "sub_g3"}
	for _, s := range subs {
		h.sub("app_f", s, url, "*")
	}
	msg, pos := h.publish("app_f", "order.paid", `{"n":2}`)
	evs, err := domain.DecideDelivery(domain.Delivery{}, domain.ScheduleDelivery{MessageID: msg, SubscriptionID: subs[1], ApplicationID: "app_f",
		EventType: "order.paid", MatchedPattern: "*", MessagePosition: pos}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.cmds.AppendDecided(context.Background(), domain.DeliveryStream(domain.DeliveryIDFor(msg, subs[1])), 0, false, evs, md); err != nil {
		t.Fatal(err)
	}
	h.start()
	scheduledOnce(t, h, msg, subs)
	single, multi, failed, parts := counting.counts()
	if failed != 0 || single+multi == 0 || single+sum(parts) != 2 {
		t.Fatalf("%d one by one, %d multi-stream appends of %v schedules, %d refused; want the 2 missing schedules appended, none refused", single, multi, parts, failed)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// On a store without multi-stream appends the schedules go one by one, and
// the store is asked once, not for every message.
func TestFanoutOnAStoreWithoutMultiStreamAppends(t *testing.T) {
	var counting *countingStore
	var asked atomic.Int32
	h, url := fanoutHarness(t, func(s domain.EventStore) domain.EventStore {
		counting = &countingStore{EventStore: s}
		return onlyOneByOne{EventStore: counting, asked: &asked}
	})
	subs := []string{"sub_h1", "sub_h2", "sub_h3"}
	for _, s := range subs {
		h.sub("app_f", s, url, "*")
	}
	h.start()
	first, _ := h.publish("app_f", "order.paid", `{"n":3}`)
	scheduledOnce(t, h, first, subs)
	second, _ := h.publish("app_f", "order.paid", `{"n":4}`)
	scheduledOnce(t, h, second, subs)
	if single, multi, failed, _ := counting.counts(); single != 2*len(subs) || multi+failed != 0 {
		t.Fatalf("%d one by one, %d multi-stream appends; want %d one by one", single, multi+failed, 2*len(subs))
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the store was asked for a multi-stream append %d times, want once", n)
	}
}

// gatedStore, once armed, holds the next schedule appended (alone or with
// others) until released, so that the fan-outs published meanwhile wait
// for the (only) fan-out worker together.
type gatedStore struct {
	*countingStore
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (g *gatedStore) gate() {
	if g.armed.CompareAndSwap(true, false) {
		close(g.held)
		<-g.release
	}
}

func (g *gatedStore) Append(ctx context.Context, stream string, exp domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if strings.HasPrefix(stream, "delivery-") && events[0].Type == domain.TypeDeliveryScheduled {
		g.gate()
	}
	return g.countingStore.Append(ctx, stream, exp, events...)
}

func (g *gatedStore) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	g.gate()
	return g.countingStore.AppendMulti(ctx, parts...)
}

// Fan-outs waiting together go in one multi-stream append, each schedule
// with its own message's metadata.
func TestFanoutSchedulesSeveralMessagesInOneAppend(t *testing.T) {
	gated := &gatedStore{held: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		gated.countingStore = &countingStore{EventStore: o.Store}
		o.Store = gated
		cmds := *o.Commands
		cmds.Store = o.Store
		o.Commands = &cmds
		o.FanoutWorkers = 1
	}})
	h.app("app_f")
	h.sub("app_f", "sub_k", srv.URL, "*")
	h.start()
	// Once a delivery is acknowledged the workers run: from then on each
	// fan-out goes in a multi-stream append, its attempt started with it.
	warm, _ := h.publish("app_f", "order.paid", `{"n":-1}`)
	waitUntil(t, 10*time.Second, "first delivery acknowledged", func() bool {
		return h.delivery(domain.DeliveryIDFor(warm, "sub_k")).Status == domain.DeliveryStatusAcknowledged
	})
	single0, multi0, _, parts0 := gated.counts()
	gated.armed.Store(true)
	first, _ := h.publish("app_f", "order.paid", `{"n":0}`)
	<-gated.held // the worker is inside the first append
	var msgs []string
	for i := range 5 {
		m, pos := h.publish("app_f", "order.paid", fmt.Sprintf(`{"n":%d}`, i+1))
		msgs = append(msgs, m)
		if err := h.runner.WaitFor(context.Background(), pos); err != nil { // folded: its fan-out is waiting
			t.Fatal(err)
		}
	}
	close(gated.release)
	scheduledOnce(t, h, first, []string{"sub_k"})
	at := []domain.Position{}
	for _, m := range msgs {
		at = append(at, scheduledOnce(t, h, m, []string{"sub_k"})...)
	}
	single, multi, failed, parts := gated.counts()
	single, multi, parts = single-single0, multi-multi0, parts[len(parts0):]
	if single != 0 || multi != 2 || failed != 0 || parts[0] != 1 || parts[1] != len(msgs) {
		t.Fatalf("%d one by one, %d multi-stream appends of %v (%d refused); want the first alone, then one of %d", single, multi, parts, failed, len(msgs))
	}
	for _, m := range msgs {
		recs, err := h.store.ReadStream(context.Background(), domain.DeliveryStream(domain.DeliveryIDFor(m, "sub_k")), 0, domain.Forward, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := domain.Decode(recs[0])
		if err != nil || got.CorrelationID != m || got.Actor != "fanout" {
			t.Fatalf("schedule of %s: metadata %+v (%v), want its own message's", m, got, err)
		}
	}
	var dlv []string
	for _, m := range msgs {
		dlv = append(dlv, domain.DeliveryIDFor(m, "sub_k"))
	}
	oneWrite(t, h, dlv, at)
}
