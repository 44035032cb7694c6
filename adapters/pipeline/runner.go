package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Sender makes one attempt (adapters/sender in production, scripted in tests).
type Sender interface {
	Send(ctx context.Context, r sender.Request) domain.AttemptResult
}

// Options configure a Runner. Store, Commands and Sender are required.
type Options struct {
	Store    domain.EventStore
	Commands *domain.Commands
	Sender   Sender
	Clock    clock.Clock    // default: real clock
	Random   func() float64 // jitter source in [0,1) (default math/rand/v2)
	Log      zerolog.Logger

	Workers         int           // concurrent attempts in total (default 64)
	PerSubscription int           // concurrent attempts per subscription (default 16)
	FanoutWorkers   int           // concurrent `delivery.scheduled` appends (default 64)
	FailureWindow   time.Duration // disable a subscription failing this long (default 5 days)
	ShutdownGrace   time.Duration // in-flight attempts may finish this long at shutdown (default 10 s)

	// QueueWindow is how many due deliveries per subscription the due queue
	// holds in memory (default 1,024); the rest wait in the open index.
	QueueWindow int
	// PayloadCacheBytes bounds the cache of message bodies (default 16 MiB).
	PayloadCacheBytes int

	// ViewStore keeps the views between runs (nil: in memory only, for
	// tests; a start then folds the whole ledger).
	ViewStore      ViewStore
	CommitEvery    int           // events folded between view commits (default 4,096)
	CommitInterval time.Duration // time between view commits (default 50 ms)

	WorkerName string // actor of delivery events (default "delivery-worker")

	Observer Observer // told of attempts, schedules and retries (default: nobody)

	// Cipher opens payloads the ledger holds encrypted (nil: none can be
	// opened; an encrypted one fails its attempts as internal errors).
	Cipher domain.PayloadCipher

	// Ownership, in a cluster, says which subscriptions' deliveries are
	// this node's (partitions.go); nil: all of them.
	Ownership Ownership
}

// Runner runs projections, fan-out and the delivery process.
type Runner struct {
	opts  Options
	log   zerolog.Logger
	clock clock.Clock

	mu          sync.RWMutex
	views       *projections.Views
	queue       *dueQueue
	held        map[string]hold   // subscription id -> paced until (rate limit, endpoint slow-down)
	inflight    map[string]uint64 // delivery id -> view version to reach before it may be dispatched again
	running     map[string]int    // subscription id -> attempts in flight
	active      int
	fanPending  map[domain.Position]*fanoutJob
	settling    settleHeap // appended, not yet all folded
	foldedAt    domain.Position
	sinceCommit int
	state       map[string][]byte // saved-state changes for the next commit
	// fanNew holds the fan-outs opened since the last commit: saved by it if
	// still open then. Most end within the commit's window, and were
	// encoded and written only to be deleted in the same batch.
	fanNew map[domain.Position]*fanoutJob

	startHead domain.Position
	caughtUp  chan struct{}
	caughtMu  sync.Once
	applied   storekit.Notifier
	wake      chan struct{}
	jobs      chan job
	fanCh     chan fanItem
	opsCh     chan *opAnnouncement
	stopping  atomic.Bool
	// serving: workers take jobs (set and cleared with mu held, so a
	// sender that saw it set under mu may send on jobs).
	serving atomic.Bool
	// oneByOne: the store said it has no multi-stream append (fanout.go).
	oneByOne atomic.Bool

	payloads payloadCache
	stats    Stats

	limiters   map[string]*subLimiter // subscription id -> its rate limit's bucket
	throttled  map[string]time.Time   // subscription id -> held until (endpoint's Retry-After)
	waitReason map[string]string      // delivery id -> why it is held (WaitingReason)
	fifo       map[string]*fifoQueue  // FIFO subscription id -> its open deliveries by message position

	sealAnnounced time.Time // the run of seal failures already announced

	owned   map[int]ownedPartition // cluster: partitions this runner works on
	foreign map[string]fanItem     // cluster: delivery id -> a schedule its partition's owner appends
	// replayed: delivery id -> a schedule of a message folded during the
	// catch-up, left to the fold to find in the ledger (catchup.go).
	replayed map[string]fanItem
	ownCh    chan struct{}
	// partitions: the cluster's count, read once in New (partitionOf)
	partitions int
}

// Stats are counters for logs and benchmarks.
type Stats struct {
	Attempts     atomic.Int64
	Acknowledged atomic.Int64
	Failed       atomic.Int64
	Scheduled    atomic.Int64
	// StartedWithSchedule counts the attempts started in the write that
	// scheduled their delivery (startnow.go), of Attempts.
	StartedWithSchedule atomic.Int64
}

// New checks the options and builds a Runner. Run starts it.
func New(opts Options) (*Runner, error) {
	if opts.Store == nil || opts.Commands == nil || opts.Sender == nil {
		return nil, errors.New("pipeline: Store, Commands and Sender are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Random == nil {
		opts.Random = rand.Float64
	}
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.PerSubscription <= 0 {
		opts.PerSubscription = 16
	}
	if opts.FanoutWorkers <= 0 {
		opts.FanoutWorkers = 64
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = 5 * 24 * time.Hour
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	if opts.QueueWindow <= 0 {
		opts.QueueWindow = 1024
	}
	if opts.PayloadCacheBytes <= 0 {
		opts.PayloadCacheBytes = 16 << 20
	}
	if opts.CommitEvery <= 0 {
		opts.CommitEvery = 4096
	}
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = 50 * time.Millisecond
	}
	if opts.WorkerName == "" {
		opts.WorkerName = "delivery-worker"
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	r := &Runner{
		opts: opts, log: opts.Log.With().Str("component", "pipeline").Logger(), clock: opts.Clock,
		views: projections.New(), inflight: map[string]uint64{}, held: map[string]hold{},
		running: map[string]int{}, fanPending: map[domain.Position]*fanoutJob{},
		caughtUp: make(chan struct{}), wake: make(chan struct{}, 1),
		jobs: make(chan job, opts.Workers), fanCh: make(chan fanItem, 4*opts.FanoutWorkers), opsCh: make(chan *opAnnouncement, 64),
		payloads: payloadCache{m: map[string]domain.MessagePublished{}, limit: opts.PayloadCacheBytes},
		limiters: map[string]*subLimiter{}, throttled: map[string]time.Time{}, waitReason: map[string]string{},
		fifo: map[string]*fifoQueue{}, state: map[string][]byte{}, fanNew: map[domain.Position]*fanoutJob{},
		owned: map[int]ownedPartition{}, foreign: map[string]fanItem{}, replayed: map[string]fanItem{}, ownCh: make(chan struct{}, 1),
	}
	r.queue = newDueQueue(opts.QueueWindow, lazyIndex{r}, r.commitForRead)
	if opts.Ownership != nil {
		if r.partitions = opts.Ownership.Partitions(); r.partitions <= 0 {
			return nil, errors.New("pipeline: Ownership has no partitions (the cluster is not configured yet)")
		}
	}
	return r, nil
}

// lazyIndex reads the index of the views loaded when it is used.
type lazyIndex struct{ r *Runner }

func (l lazyIndex) OpenDue(sub string, due time.Time, id string, fn func(time.Time, string, bool) bool) {
	l.r.openIndex().OpenDue(sub, due, id, fn)
}

// Read runs fn with the views locked for reading. fn must not keep references
// past its return.
func (r *Runner) Read(fn func(v *projections.Views)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.views)
}

// Ready reports whether the views caught up with the ledger as it was at start-up.
func (r *Runner) Ready() bool {
	select {
	case <-r.caughtUp:
		return true
	default:
		return false
	}
}

// Damaged says why the view store cannot be trusted (nil: it can): data
// corruption found in it since it opened. A damaged store is rebuilt from
// the ledger at the next start.
func (r *Runner) Damaged() error {
	if d, ok := r.opts.ViewStore.(interface{ Damaged() error }); ok {
		return d.Damaged()
	}
	return nil
}

// Checkpoint is the position of the last event folded into the views.
func (r *Runner) Checkpoint() domain.Position {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.views.Checkpoint
}

// WaitFor blocks until the views have folded position pos (read-your-writes).
func (r *Runner) WaitFor(ctx context.Context, pos domain.Position) error {
	for {
		ch := r.applied.Wait()
		if r.Checkpoint() >= pos {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Stats returns the runner's counters.
func (r *Runner) Stats() *Stats { return &r.stats }

func (r *Runner) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}
