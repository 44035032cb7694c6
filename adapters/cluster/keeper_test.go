package cluster_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/cluster"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/domain"
)

// cutStore is a store one node reaches through: cut, every call hangs until
// its context ends (a network partition, not a refusal).
type cutStore struct {
	domain.EventStore
	cut atomic.Bool
}

func (c *cutStore) wait(ctx context.Context) error {
	if !c.cut.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (c *cutStore) Append(ctx context.Context, s string, e domain.ExpectedRevision, evs ...domain.EventData) (domain.AppendResult, error) {
	if err := c.wait(ctx); err != nil {
		return domain.AppendResult{}, err
	}
	return c.EventStore.Append(ctx, s, e, evs...)
}

func (c *cutStore) ReadStream(ctx context.Context, s string, from uint64, d domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	return c.EventStore.ReadStream(ctx, s, from, d, max)
}

var fast = domain.LeaseTiming{Lease: 600 * time.Millisecond, Renew: 150 * time.Millisecond, Margin: 100 * time.Millisecond}

type node struct {
	k       *cluster.Keeper
	store   *cutStore
	cancel  context.CancelFunc
	done    chan struct{}
	changes atomic.Int64
}

func start(t *testing.T, store domain.EventStore, id string, partitions int) *node {
	t.Helper()
	n := &node{store: &cutStore{EventStore: store}, done: make(chan struct{})}
	k, err := cluster.New(cluster.Options{Store: n.store, NodeID: id, Partitions: partitions, Timing: fast, Tick: 20 * time.Millisecond,
		Sealer: true, NewEventID: ids.NewEventID, Log: zerolog.Nop(), OnChange: func() { n.changes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.k, n.cancel = k, cancel
	go func() { defer close(n.done); k.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within 5 s: %s", what)
}

func owned(nodes ...*node) ([]int, bool) {
	counts := make([]int, len(nodes))
	seen := map[int]bool{}
	for i, n := range nodes {
		for p := range n.k.Owned() {
			if seen[p] {
				return nil, false // two owners
			}
			seen[p] = true
			counts[i]++
		}
	}
	return counts, true
}

func TestNodesShareThePartitionsAndTakeOverAStoppedOne(t *testing.T) {
	store := memstore.New()
	a := start(t, store, "a", 12)
	eventually(t, "a owns every partition", func() bool { c, _ := owned(a); return c[0] == 12 })
	b := start(t, store, "b", 0)
	c := start(t, store, "c", 12)
	eventually(t, "three nodes own 4 partitions each", func() bool {
		counts, ok := owned(a, b, c)
		if !ok {
			t.Fatal("a partition had two owners")
		}
		return counts[0] == 4 && counts[1] == 4 && counts[2] == 4
	})
	sealers := 0
	for _, n := range []*node{a, b, c} {
		if n.k.Sealer() != nil {
			sealers++
		}
	}
	if sealers != 1 {
		t.Fatalf("%d nodes hold the sealer's lease", sealers)
	}
	// A clean stop releases at once: the others have it all well within
	// one lease time.
	c.stop()
	eventually(t, "a and b own 6 each", func() bool { counts, _ := owned(a, b); return counts[0] == 6 && counts[1] == 6 })

	// The history tells who owned what.
	recs, err := store.ReadStream(context.Background(), domain.ClusterStream, 0, domain.Forward, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var released int
	for _, r := range recs {
		if r.Type == domain.TypeLeaseReleased && strings.Contains(string(r.Data), `"node_id":"c"`) && strings.Contains(string(r.Data), "node stopping") {
			released++
		}
	}
	if recs[0].Type != domain.TypeClusterConfigured || released < 4 {
		t.Fatalf("cluster stream starts with %s and has %d releases by the stopping node", recs[0].Type, released)
	}
}

// A node cut off from the store stops acting under its leases a margin
// before they end, by its own timer (its appends hang); the other takes them
// a margin after they end: never both at once.
func TestACutOffNodeStopsBeforeItsLeasesCanBeTaken(t *testing.T) {
	store := memstore.New()
	a := start(t, store, "a", 4)
	b := start(t, store, "b", 4)
	eventually(t, "2 and 2", func() bool { c, _ := owned(a, b); return c[0] == 2 && c[1] == 2 })

	var mu sync.Mutex
	var aStopped, bTook time.Time
	before := a.k.Owned()
	a.store.cut.Store(true)
	cutAt := time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && (aStopped.IsZero() || bTook.IsZero()); time.Sleep(2 * time.Millisecond) {
		mu.Lock()
		if aStopped.IsZero() && len(a.k.Owned()) == 0 {
			aStopped = time.Now()
		}
		if bTook.IsZero() && len(b.k.Owned()) == 4 {
			bTook = time.Now()
		}
		if !bTook.IsZero() && aStopped.IsZero() {
			t.Fatalf("b took a's partitions while a still acted under them")
		}
		mu.Unlock()
	}
	if aStopped.IsZero() || bTook.IsZero() {
		t.Fatalf("a stopped at %v, b took over at %v (a held %v); now a %v b %v", aStopped.Sub(cutAt), bTook.Sub(cutAt), before, a.k.Owned(), b.k.Owned())
	}
	if gap := bTook.Sub(aStopped); gap < fast.Margin {
		t.Fatalf("b took over %s after a stopped: want at least the margin %s", gap, fast.Margin)
	}
	// It stops by its timer, within a lease of its last renewal; the bound
	// is loose (a loaded machine fires timers late), the order above is not.
	if lag := aStopped.Sub(cutAt); lag > 3*fast.Lease {
		t.Fatalf("a stopped %s after the cut: its leases did not run out on their own", lag)
	}
	a.store.cut.Store(false) // a stops cleanly
	t.Logf("cut at 0; a stopped acting at %s; b took over at %s", aStopped.Sub(cutAt).Round(time.Millisecond), bTook.Sub(cutAt).Round(time.Millisecond))
}

// Operators learn that a cut-off node stopped from one warning per lease
// (docs/cluster.md), also when its next tick, not its timer, is the first
// to see the lease has run out: on a loaded machine timers fire late. The
// node's clock jumps past its leases here, so the tick sees it first.
func TestACutOffNodeWarnsWhicheverPathSeesTheLeaseRunOut(t *testing.T) {
	var skew atomic.Int64
	var mu sync.Mutex
	var lines []string // level and message of each line logged
	log := zerolog.New(io.Discard).Hook(zerolog.HookFunc(func(_ *zerolog.Event, l zerolog.Level, msg string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, l.String()+": "+msg)
	}))
	store := &cutStore{EventStore: memstore.New()}
	k, err := cluster.New(cluster.Options{Store: store, NodeID: "a", Partitions: 3, Timing: fast, Tick: 20 * time.Millisecond,
		Now:        func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
		NewEventID: ids.NewEventID, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	defer func() { store.cut.Store(false); cancel(); <-done }()
	eventually(t, "a owns its 3 partitions", func() bool { return len(k.Owned()) == 3 })

	store.cut.Store(true)
	skew.Store(int64(10 * fast.Lease)) // past every lease; the timers, on real time, are not
	eventually(t, "a stops acting under its leases", func() bool { return len(k.Owned()) == 0 })
	mu.Lock()
	out := strings.Join(lines, "\n")
	mu.Unlock()
	if n := strings.Count(out, "warn: lease ran out before it was renewed"); n != 3 {
		t.Fatalf("%d warnings for 3 leases that ran out; the log:\n%s", n, out)
	}
	if strings.Contains(out, "no longer acting under the lease") {
		t.Fatalf("a lease that ran out was logged as given up for another reason:\n%s", out)
	}
}

func TestAJoiningNodeMustAgreeOnThePartitions(t *testing.T) {
	store := memstore.New()
	start(t, store, "a", 8)
	k, err := cluster.New(cluster.Options{Store: store, NodeID: "b", Partitions: 16, NewEventID: ids.NewEventID, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	err = k.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "has 8") {
		t.Fatalf("16 partitions on a cluster of 8: %v", err)
	}
	if _, err := cluster.New(cluster.Options{Store: store, NodeID: "b", NewEventID: ids.NewEventID,
		Timing: domain.LeaseTiming{Lease: time.Second, Renew: time.Second}}); err == nil {
		t.Fatal("a renewal as long as the lease was accepted")
	}
	if _, err := cluster.New(cluster.Options{Store: store, NewEventID: ids.NewEventID}); err == nil {
		t.Fatal("no node id accepted")
	}
}

// readLog records where the cluster stream's reads start.
type readLog struct {
	domain.EventStore
	mu    sync.Mutex
	froms []uint64
}

func (r *readLog) ReadStream(ctx context.Context, s string, from uint64, d domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if s == domain.ClusterStream && d == domain.Forward {
		r.mu.Lock()
		r.froms = append(r.froms, from)
		r.mu.Unlock()
	}
	return r.EventStore.ReadStream(ctx, s, from, d, max)
}

// A restarted node reads the cluster stream from where its cache stands,
// not from the start (the stream grows by every renewal, forever); a cache
// of another ledger is not used.
func TestAStartReadsTheClusterStreamFromTheCache(t *testing.T) {
	store := memstore.New()
	cache := t.TempDir() + "/cluster.json"
	open := func(s domain.EventStore, id string) *cluster.Keeper {
		k, err := cluster.New(cluster.Options{Store: s, NodeID: id, Partitions: 4, Timing: fast, Tick: 20 * time.Millisecond,
			NewEventID: ids.NewEventID, Log: zerolog.Nop(), CachePath: cache})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := open(store, "a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.Run(ctx) }()
	eventually(t, "a owns 4", func() bool { return len(k.Owned()) == 4 })
	time.Sleep(10 * fast.Renew) // renewals: the stream grows
	cancel()
	<-done // a clean stop writes the cache
	recs, _ := store.ReadStream(context.Background(), domain.ClusterStream, 0, domain.Forward, 1<<20)
	if len(recs) < 10 {
		t.Fatalf("only %d cluster events", len(recs))
	}

	rl := &readLog{EventStore: store}
	again := open(rl, "a")
	if len(rl.froms) == 0 || rl.froms[0] < uint64(len(recs))/2 || again.Partitions() != 4 {
		t.Fatalf("the restart read the stream from %v (%d events), partitions %d", rl.froms, len(recs), again.Partitions())
	}

	other := memstore.New() // another ledger, the same cache file
	k2, err := cluster.New(cluster.Options{Store: other, NodeID: "b", Partitions: 8, NewEventID: ids.NewEventID, Log: zerolog.Nop(), CachePath: cache})
	if err != nil {
		t.Fatal(err)
	}
	if err := k2.Start(context.Background()); err != nil || k2.Partitions() != 8 {
		t.Fatalf("another ledger with a foreign cache: %v, %d partitions", err, k2.Partitions())
	}
}
