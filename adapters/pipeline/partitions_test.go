package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/cluster"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// nodeStore is one node's way to the shared ledger: it counts the
// schedules the node tried to append, and can cut the node off from the
// cluster stream (its appends and reads there hang), as a partition would.
type nodeStore struct {
	domain.EventStore
	schedules atomic.Int64
	cut       atomic.Bool
}

func (s *nodeStore) Append(ctx context.Context, stream string, e domain.ExpectedRevision, evs ...domain.EventData) (domain.AppendResult, error) {
	if stream == domain.ClusterStream && s.cut.Load() {
		<-ctx.Done()
		return domain.AppendResult{}, ctx.Err()
	}
	if evs[0].Type == domain.TypeDeliveryScheduled {
		s.schedules.Add(1)
	}
	return s.EventStore.Append(ctx, stream, e, evs...)
}

func (s *nodeStore) ReadStream(ctx context.Context, stream string, from uint64, d domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if stream == domain.ClusterStream && s.cut.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.EventStore.ReadStream(ctx, stream, from, d, max)
}

type clusterNode struct {
	id     string
	store  *nodeStore
	keeper *cluster.Keeper
	runner *pipeline.Runner
	stop   func()
}

var clusterTiming = domain.LeaseTiming{Lease: 800 * time.Millisecond, Renew: 200 * time.Millisecond, Margin: 100 * time.Millisecond}

func startNode(t *testing.T, ledger domain.EventStore, id string, partitions int) *clusterNode {
	t.Helper()
	n := &clusterNode{id: id, store: &nodeStore{EventStore: ledger}}
	views, err := viewstore.Open(t.TempDir(), viewstore.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	cmds := &domain.Commands{Store: n.store, Now: time.Now, NewEventID: ids.NewEventID}
	k, err := cluster.New(cluster.Options{Store: n.store, NodeID: id, Partitions: partitions, Timing: clusterTiming, Tick: 20 * time.Millisecond,
		NewEventID: ids.NewEventID, Log: zerolog.Nop(), OnChange: func() {
			if n.runner != nil {
				n.runner.OwnershipChanged()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.New(pipeline.Options{Store: n.store, Commands: cmds, Sender: sender.New(sender.Options{AllowPrivate: true, Timeout: 10 * time.Second}),
		Random: func() float64 { return 0 }, Log: zerolog.Nop(), ViewStore: views, WorkerName: id, Ownership: k})
	if err != nil {
		t.Fatal(err)
	}
	n.keeper, n.runner = k, r
	ctx, cancel := context.WithCancel(context.Background())
	kdone, rdone := make(chan struct{}), make(chan struct{})
	go func() { defer close(rdone); r.Run(ctx) }()
	go func() { defer close(kdone); k.Run(ctx) }()
	var once sync.Once
	n.stop = func() { once.Do(func() { cancel(); <-rdone; <-kdone; views.Close() }) }
	t.Cleanup(n.stop)
	waitUntil(t, 10*time.Second, id+" ready", r.Ready)
	return n
}

// overlapReceiver records, per delivery (message and subscription), how many
// requests are in flight at once; hang makes the first request of a message
// wait until released.
type overlapReceiver struct {
	mu       sync.Mutex
	inflight map[string]int
	overlaps []string
	got      map[string]int
	hang     map[string]chan struct{}
	log      []string
}

func (o *overlapReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("webhook-id") + r.URL.Path
	// Read as a real endpoint does; only then does the server notice a
	// client that went away (its context ends).
	io.Copy(io.Discard, r.Body)
	o.mu.Lock()
	o.inflight[key]++
	if o.inflight[key] > 1 {
		o.overlaps = append(o.overlaps, key)
	}
	o.got[key]++
	o.log = append(o.log, fmt.Sprintf("%s start %s", time.Now().Format("05.000"), key))
	hang := o.hang[r.Header.Get("webhook-id")]
	delete(o.hang, r.Header.Get("webhook-id"))
	o.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}
	o.mu.Lock()
	o.inflight[key]--
	o.log = append(o.log, fmt.Sprintf("%s end %s", time.Now().Format("05.000"), key))
	o.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func newOverlapReceiver(t *testing.T) (*overlapReceiver, string) {
	o := &overlapReceiver{inflight: map[string]int{}, got: map[string]int{}, hang: map[string]chan struct{}{}}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, srv.URL
}

func allAcknowledged(r *pipeline.Runner, ids []string) bool {
	ok := true
	r.Read(func(v *projections.Views) {
		for _, id := range ids {
			if d := v.Delivery(id); d == nil || d.Status != domain.DeliveryStatusAcknowledged {
				ok = false
				return
			}
		}
	})
	return ok
}

// Two nodes split the partitions: each delivery is scheduled once and
// attempted once, by the node holding its subscription's partition, under
// that partition's epoch.
func TestTwoNodesSplitTheDeliveryWork(t *testing.T) {
	ledger, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ledger.Close() }) // after the nodes stop
	recv, url := newOverlapReceiver(t)
	a := startNode(t, ledger, "node-a", 8)
	b := startNode(t, ledger, "node-b", 8)
	waitUntil(t, 10*time.Second, "4 partitions each", func() bool { return len(a.keeper.Owned()) == 4 && len(b.keeper.Owned()) == 4 })

	cmds := &domain.Commands{Store: ledger, Now: time.Now, NewEventID: ids.NewEventID}
	ctx := context.Background()
	cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_1", Name: "a"}, md)
	var subs []string
	for i := 0; i < 10; i++ {
		id := ids.New(domain.PrefixSubscription)
		subs = append(subs, id)
		if _, _, err := cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: id, ApplicationID: "app_1", URL: url + "/" + id,
			EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret()}, md); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := 0; i < 30; i++ {
		id := ids.New(domain.PrefixMessage)
		if _, _, err := cmds.PublishNew(ctx, domain.PublishMessage{MessageID: id, ApplicationID: "app_1", EventType: "a.b", Payload: []byte(`{}`)}, md); err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			want = append(want, domain.DeliveryIDFor(id, s))
		}
	}
	waitUntil(t, 30*time.Second, "every delivery acknowledged on both nodes", func() bool { return allAcknowledged(a.runner, want) && allAcknowledged(b.runner, want) })
	if n := a.store.schedules.Load() + b.store.schedules.Load(); n != int64(len(want)) {
		t.Fatalf("%d schedules appended or tried for %d deliveries: fan-out ran on more than one node", n, len(want))
	}
	if a.store.schedules.Load() == 0 || b.store.schedules.Load() == 0 {
		t.Fatalf("fan-out ran on one node only: %d and %d", a.store.schedules.Load(), b.store.schedules.Load())
	}
	owners := map[string]*clusterNode{}
	for p := range a.keeper.Owned() {
		owners[domain.PartitionLease(p)] = a
	}
	for p := range b.keeper.Owned() {
		owners[domain.PartitionLease(p)] = b
	}
	for _, id := range want {
		recs, err := ledger.ReadStream(ctx, domain.DeliveryStream(id), 0, domain.Forward, 100)
		if err != nil {
			t.Fatal(err)
		}
		started := 0
		for _, rec := range recs {
			ev, _ := domain.DecodeEvent(rec)
			if s, ok := ev.(domain.AttemptStarted); ok {
				started++
				sub := id // the receiver path names the subscription; the view knows it too
				var subID string
				a.runner.Read(func(v *projections.Views) { subID = v.Delivery(sub).SubscriptionID })
				owner := owners[domain.PartitionLease(domain.PartitionOf(subID, 8))]
				if s.Partition == nil || *s.Partition != domain.PartitionOf(subID, 8) || s.NodeID != owner.id || s.Epoch == 0 {
					t.Fatalf("%s attempted by %s under partition %v epoch %d; its partition %d is %s's", id, s.NodeID, s.Partition, s.Epoch, domain.PartitionOf(subID, 8), owner.id)
				}
			}
		}
		if started != 1 {
			t.Fatalf("%s: %d attempts", id, started)
		}
	}
	if len(recv.overlaps) > 0 {
		t.Fatalf("overlapping requests: %v", recv.overlaps)
	}
}

// nodePair is two nodes on a ledger of one partition, a owning it and b
// waiting, with an application and one subscription on the receiver.
type nodePair struct {
	ledger *pebblestore.Store
	recv   *overlapReceiver
	a, b   *clusterNode
	cmds   *domain.Commands
	sub    string
}

func newNodePair(t *testing.T) *nodePair {
	t.Helper()
	ledger, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ledger.Close() }) // after the nodes stop
	p := &nodePair{ledger: ledger, cmds: &domain.Commands{Store: ledger, Now: time.Now, NewEventID: ids.NewEventID}, sub: ids.New(domain.PrefixSubscription)}
	var url string
	p.recv, url = newOverlapReceiver(t)
	p.a = startNode(t, ledger, "node-a", 1)
	waitUntil(t, 10*time.Second, "a owns the partition", func() bool { return len(p.a.keeper.Owned()) == 1 })
	p.b = startNode(t, ledger, "node-b", 1)
	ctx := context.Background()
	if _, _, err := p.cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_1", Name: "a"}, md); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: p.sub, ApplicationID: "app_1", URL: url + "/" + p.sub,
		EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret()}, md); err != nil {
		t.Fatal(err)
	}
	return p
}

// A node cut off from the cluster stream stops its attempts when its lease
// ends: the attempt in flight is closed as outcome unknown, the other node
// takes the partition over and delivers, and the endpoint never has two
// requests of one delivery at once.
func TestACutOffNodesAttemptIsTakenOverWithoutOverlap(t *testing.T) {
	pr := newNodePair(t)
	ledger, recv, a, b, cmds, sub := pr.ledger, pr.recv, pr.a, pr.b, pr.cmds, pr.sub
	ctx := context.Background()
	msg := ids.New(domain.PrefixMessage)
	release := make(chan struct{})
	recv.mu.Lock()
	recv.hang[msg] = release // the endpoint holds a's request
	recv.mu.Unlock()
	defer close(release)
	cmds.PublishNew(ctx, domain.PublishMessage{MessageID: msg, ApplicationID: "app_1", EventType: "a.b", Payload: []byte(`{}`)}, md)
	dlv := domain.DeliveryIDFor(msg, sub)
	waitUntil(t, 10*time.Second, "a's attempt in flight", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return recv.got[msg+"/"+sub] == 1
	})
	a.store.cut.Store(true)
	waitUntil(t, 10*time.Second, "b delivers", func() bool { return allAcknowledged(b.runner, []string{dlv}) })
	recs, _ := ledger.ReadStream(ctx, domain.DeliveryStream(dlv), 0, domain.Forward, 100)
	var seq []string
	for _, rec := range recs {
		ev, _ := domain.DecodeEvent(rec)
		switch e := ev.(type) {
		case domain.AttemptStarted:
			seq = append(seq, "started:"+e.NodeID)
		case domain.AttemptOutcomeUnknown:
			seq = append(seq, "unknown")
		case domain.AttemptAcknowledged:
			seq = append(seq, "acknowledged")
		}
	}
	if got := strings.Join(seq, " "); got != "started:node-a unknown started:node-b acknowledged" {
		t.Fatalf("timeline: %s", got)
	}
	a.store.cut.Store(false) // a stops cleanly
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.overlaps) > 0 || recv.got[msg+"/"+sub] != 2 {
		t.Fatalf("overlaps %v, requests %d\n%s", recv.overlaps, recv.got[msg+"/"+sub], strings.Join(recv.log, "\n"))
	}
}

// A node that saw a subscription's deliveries while another node owned its
// partition, and takes the partition over when nothing of it is open, still
// delivers what is scheduled next (the subscription it had parked is
// unparked at the takeover).
func TestATakenOverSubscriptionWithNothingOpenGetsItsNextDeliveries(t *testing.T) {
	pr := newNodePair(t)
	a, b, cmds, sub := pr.a, pr.b, pr.cmds, pr.sub
	ctx := context.Background()
	publish := func() string {
		msg := ids.New(domain.PrefixMessage)
		if _, _, err := cmds.PublishNew(ctx, domain.PublishMessage{MessageID: msg, ApplicationID: "app_1", EventType: "a.b", Payload: []byte(`{}`)}, md); err != nil {
			t.Fatal(err)
		}
		return domain.DeliveryIDFor(msg, sub)
	}
	first := publish()
	waitUntil(t, 10*time.Second, "a delivers the first, b sees it", func() bool { return allAcknowledged(b.runner, []string{first}) })
	a.stop() // a clean stop releases the partition: b takes it over
	waitUntil(t, 10*time.Second, "b owns the partition", func() bool { return len(b.keeper.Owned()) == 1 })
	second := publish()
	waitUntil(t, 10*time.Second, "b delivers the second", func() bool { return allAcknowledged(b.runner, []string{second}) })
}

// An attempt a former owner appends after the takeover (its append was in
// flight) carries the former epoch: the new owner closes it as outcome
// unknown when it folds it, naming the epoch, so the delivery is not left
// "attempting" for ever.
func TestAnAttemptOfAFormerEpochIsFencedOff(t *testing.T) {
	pr := newNodePair(t)
	ledger, a, b, cmds, sub := pr.ledger, pr.a, pr.b, pr.cmds, pr.sub
	ctx := context.Background()
	a.stop()
	waitUntil(t, 10*time.Second, "b took the partition over", func() bool { return b.keeper.Owned()[0] == 2 })
	// Paused: b schedules the delivery and does not attempt it.
	if _, _, err := cmds.ChangeSubscription(ctx, "app_1", sub, domain.PauseSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	msg := ids.New(domain.PrefixMessage)
	cmds.PublishNew(ctx, domain.PublishMessage{MessageID: msg, ApplicationID: "app_1", EventType: "a.b", Payload: []byte(`{}`)}, md)
	dlv := domain.DeliveryIDFor(msg, sub)
	var d projections.DeliveryView
	waitUntil(t, 10*time.Second, "the delivery scheduled", func() bool {
		b.runner.Read(func(v *projections.Views) {
			if p := v.Delivery(dlv); p != nil {
				d = *p
			}
		})
		return d.ID != ""
	})
	late, err := domain.DecideDelivery(d.Delivery, domain.StartAttempt{Worker: "delivery-worker@node-a",
		Lease: &domain.AttemptLease{NodeID: "node-a", Partition: 0, Epoch: 1}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cmds.AppendDecided(ctx, domain.DeliveryStream(dlv), d.Revision(), true, late, md); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "b closes the fenced attempt", func() bool {
		recs, _ := ledger.ReadStream(ctx, domain.DeliveryStream(dlv), 0, domain.Forward, 10)
		for _, r := range recs {
			if ev, _ := domain.DecodeEvent(r); ev != nil {
				if u, ok := ev.(domain.AttemptOutcomeUnknown); ok {
					if !strings.Contains(u.Reason, "node-a under epoch 1 of partition 0") {
						t.Fatalf("closed with reason %q", u.Reason)
					}
					return true
				}
			}
		}
		return false
	})
}

// In a cluster too, a delivery due at once is started in the append of its
// schedule, under the lease of its partition held by the node that
// schedules it.
func TestAClusterNodeStartsAnAttemptWithItsScheduleUnderItsLease(t *testing.T) {
	pr := newNodePair(t)
	a, cmds, sub := pr.a, pr.cmds, pr.sub
	ctx := context.Background()
	publish := func() string {
		msg := ids.New(domain.PrefixMessage)
		if _, _, err := cmds.PublishNew(ctx, domain.PublishMessage{MessageID: msg, ApplicationID: "app_1", EventType: "a.b", Payload: []byte(`{}`)}, md); err != nil {
			t.Fatal(err)
		}
		dlv := domain.DeliveryIDFor(msg, sub)
		waitUntil(t, 10*time.Second, dlv+" acknowledged", func() bool { return allAcknowledged(a.runner, []string{dlv}) })
		return dlv
	}
	publish() // a works on its partition from then on
	before := a.runner.Stats().StartedWithSchedule.Load()
	dlv := publish()
	recs, err := pr.ledger.ReadStream(ctx, domain.DeliveryStream(dlv), 0, domain.Forward, 3)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := domain.DecodeEvent(recs[1])
	if err != nil {
		t.Fatal(err)
	}
	s, ok := ev.(domain.AttemptStarted)
	epoch := a.keeper.Owned()[0]
	if !ok || recs[1].Position != recs[0].Position+1 || s.NodeID != "node-a" || s.Partition == nil || *s.Partition != 0 || s.Epoch != epoch || epoch == 0 {
		t.Fatalf("second event %s at %d after the schedule at %d: %+v; want node-a's start under partition 0, epoch %d, in the same append", recs[1].Type, recs[1].Position, recs[0].Position, ev, epoch)
	}
	if n := a.runner.Stats().StartedWithSchedule.Load() - before; n != 1 {
		t.Fatalf("%d attempts started with their schedule, want 1", n)
	}
}
