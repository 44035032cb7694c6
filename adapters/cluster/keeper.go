package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/domain"
)

// Defaults of the lease timing (docs/cluster.md, "Clocks").
const (
	DefaultLease  = 10 * time.Second
	DefaultRenew  = 2 * time.Second
	DefaultMargin = time.Second
	DefaultTick   = 250 * time.Millisecond
)

// Options configure a Keeper. Store, NodeID and NewEventID are required.
type Options struct {
	Store  domain.EventStore
	NodeID string
	// Partitions of a new cluster (0: domain.DefaultPartitions). A node
	// joining a configured cluster takes the ledger's count; a different
	// non-zero value is refused.
	Partitions int
	Timing     domain.LeaseTiming // zero: the defaults above
	Tick       time.Duration      // how often the cluster stream is read (default 250 ms)
	// Sealer: this node takes the sealer's lease when it is free.
	Sealer     bool
	Now        func() time.Time
	NewEventID func() string
	Log        zerolog.Logger
	// CachePath keeps the folded cluster stream between runs (cache.go);
	// "": every start folds the stream from its start.
	CachePath string
	// OnChange is told, without locks held, each time the leases this node
	// may act under changed (acquired, lost, released). It must not block
	// for long.
	OnChange func()
}

// Keeper keeps this node's leases: it reads the cluster stream, decides
// with domain.DecideLeases, and appends at the stream's expected revision.
// A lease's context ends by a timer at ExpiresAt minus the margin, whether
// or not the store can be reached: a node cut off from the store stops
// acting before another may take its leases.
type Keeper struct {
	opts Options
	log  zerolog.Logger

	mu        sync.Mutex
	state     domain.ClusterState
	rev       uint64
	exists    bool
	lastRenew time.Time
	held      map[string]*holding
	stopped   bool
	failing   time.Time // since when appends fail (zero: they do not)
	onChange  func()
	lastID    string // id of the event at rev
	savedRev  uint64 // revision the cache file stands at
}

// New checks the options and builds a Keeper; Start configures it.
func New(opts Options) (*Keeper, error) {
	if opts.Store == nil || opts.NodeID == "" || opts.NewEventID == nil {
		return nil, errors.New("cluster: Store, NodeID and NewEventID are required")
	}
	if opts.Timing == (domain.LeaseTiming{}) {
		opts.Timing = domain.LeaseTiming{Lease: DefaultLease, Renew: DefaultRenew, Margin: DefaultMargin}
	}
	if err := opts.Timing.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if opts.Partitions < 0 || opts.Partitions > domain.MaxPartitions {
		return nil, fmt.Errorf("cluster: %d partitions: want 1 to %d", opts.Partitions, domain.MaxPartitions)
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k := &Keeper{opts: opts, log: opts.Log.With().Str("component", "cluster").Str("node_id", opts.NodeID).Logger(), held: map[string]*holding{}}
	k.SetOnChange(opts.OnChange)
	return k, nil
}

// SetOnChange sets who is told when the leases held change (before Run).
func (k *Keeper) SetOnChange(fn func()) {
	if fn == nil {
		fn = func() {}
	}
	k.mu.Lock()
	k.onChange = fn
	k.mu.Unlock()
}

func (k *Keeper) changed() {
	k.mu.Lock()
	fn := k.onChange
	k.mu.Unlock()
	fn()
}

// Start reads the cluster's configuration, writing it first for a new
// cluster. It refuses a partition count other than the ledger's.
func (k *Keeper) Start(ctx context.Context) error {
	k.loadCache(ctx)
	for try := 0; ; try++ {
		err := k.catchUp(ctx)
		k.mu.Lock()
		configured, parts := k.state.Configured, k.state.Partitions
		k.mu.Unlock()
		if err != nil {
			return err
		}
		if configured {
			if k.opts.Partitions != 0 && k.opts.Partitions != parts {
				return fmt.Errorf("cluster: --partitions %d, but the ledger's cluster has %d (fixed when its first node started)", k.opts.Partitions, parts)
			}
			k.log.Info().Int("partitions", parts).Dur("lease_ms", k.opts.Timing.Lease).Msg("joining the cluster")
			return nil
		}
		n := k.opts.Partitions
		if n == 0 {
			n = domain.DefaultPartitions
		}
		ev := domain.ClusterConfigured{Partitions: n, LeaseMS: k.opts.Timing.Lease.Milliseconds(), NodeID: k.opts.NodeID, ConfiguredAt: k.opts.Now().UTC()}
		_, err = k.append(ctx, []domain.Event{ev})
		if err == nil || (errors.Is(err, domain.ErrWrongRevision) && try < 3) {
			continue // read it back (ours, or another first node's)
		}
		return fmt.Errorf("cluster: configure: %w", err)
	}
}

// Partitions is the cluster's partition count (after Start).
func (k *Keeper) Partitions() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state.Partitions
}

// NodeID is this node's id.
func (k *Keeper) NodeID() string { return k.opts.NodeID }

// catchUp folds the cluster stream's events after the last one seen. The
// lock is not held while the store is read: the lease timers take it, and
// they must fire on time however slow the store is.
func (k *Keeper) catchUp(ctx context.Context) error {
	for {
		k.mu.Lock()
		from := uint64(0)
		if k.exists {
			from = k.rev + 1
		}
		k.mu.Unlock()
		page, err := k.opts.Store.ReadStream(ctx, domain.ClusterStream, from, domain.Forward, 256)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cluster: read %s: %w", domain.ClusterStream, err)
		}
		k.mu.Lock()
		for _, rec := range page {
			if k.exists && rec.Revision <= k.rev {
				continue // folded meanwhile (only the loop folds: cannot happen)
			}
			ev, err := domain.DecodeEvent(rec)
			if err != nil {
				k.mu.Unlock()
				return fmt.Errorf("cluster: %w", err)
			}
			k.state = domain.EvolveCluster(k.state, ev)
			k.rev, k.exists, k.lastID = rec.Revision, true, rec.ID
		}
		k.mu.Unlock()
		if len(page) < 256 {
			return nil
		}
	}
}

// append writes events at the stream's revision as last read.
func (k *Keeper) append(ctx context.Context, evs []domain.Event) (string, error) {
	k.mu.Lock()
	expected := domain.NoStream
	if k.exists {
		expected = domain.Exact(k.rev)
	}
	k.mu.Unlock()
	md := domain.Metadata{Actor: "cluster:" + k.opts.NodeID, RecordedAt: k.opts.Now().UTC()}
	data := make([]domain.EventData, len(evs))
	for i, e := range evs {
		d, err := domain.Encode(k.opts.NewEventID(), e, md)
		if err != nil {
			return "", err
		}
		data[i] = d
	}
	_, err := k.opts.Store.Append(ctx, domain.ClusterStream, expected, data...)
	return data[len(data)-1].ID, err
}

// Run keeps the leases until ctx ends, then releases them (a clean stop
// hands them over at once, not after they expire).
func (k *Keeper) Run(ctx context.Context) {
	t := time.NewTicker(k.opts.Tick)
	defer t.Stop()
	saved := time.Now()
	for {
		k.step(ctx)
		if time.Since(saved) >= 30*time.Second {
			k.saveCache()
			saved = time.Now()
		}
		select {
		case <-ctx.Done():
			k.release()
			k.saveCache()
			return
		case <-t.C:
		}
	}
}

// step reads what the others wrote, decides, and appends.
func (k *Keeper) step(ctx context.Context) {
	// Bounded by the renew interval: a store that hangs must not hold the
	// loop past the next renewal (the lease timers act regardless).
	sctx, cancel := context.WithTimeout(ctx, k.opts.Timing.Renew)
	defer cancel()
	err := k.catchUp(sctx)
	var evs []domain.Event
	k.mu.Lock()
	now := k.opts.Now()
	if err == nil {
		evs = domain.DecideLeases(k.state, k.opts.NodeID, now, k.lastRenew, k.opts.Timing, k.opts.Sealer)
	}
	k.mu.Unlock()
	if err == nil && len(evs) > 0 {
		var last string
		last, err = k.append(sctx, evs)
		if err == nil {
			k.mu.Lock()
			k.lastID = last
			for _, e := range evs {
				k.state = domain.EvolveCluster(k.state, e)
				if _, ok := e.(domain.LeaseRenewed); ok {
					k.lastRenew = now
				}
				k.logDecision(e)
			}
			k.rev += uint64(len(evs))
			k.mu.Unlock()
		} else if errors.Is(err, domain.ErrWrongRevision) {
			err = nil // another node wrote first: decide again on what it wrote, next tick
		}
	}
	k.mu.Lock()
	if err != nil && ctx.Err() == nil {
		if k.failing.IsZero() {
			k.failing = now
			k.log.Warn().Err(err).Msg("cannot reach the cluster stream: leases are not renewed; dispatch stops a margin before they end")
		}
	} else if err == nil && !k.failing.IsZero() {
		k.log.Info().Dur("after_ms", now.Sub(k.failing)).Msg("the cluster stream is reachable again")
		k.failing = time.Time{}
	}
	changed := k.reconcileLocked(now)
	k.mu.Unlock()
	if changed {
		k.changed()
	}
}

func (k *Keeper) logDecision(e domain.Event) {
	switch e := e.(type) {
	case domain.LeaseAcquired:
		ev := k.log.Info().Str("lease", e.Lease).Uint64("epoch", e.Epoch)
		if e.Previous != "" {
			ev = ev.Str("previous_owner", e.Previous)
		}
		ev.Msg("lease acquired")
	case domain.LeaseReleased:
		k.log.Info().Str("lease", e.Lease).Uint64("epoch", e.Epoch).Str("reason", e.Reason).Msg("lease released")
	}
}

// release gives every lease up at a clean stop.
func (k *Keeper) release() {
	k.mu.Lock()
	k.stopped = true
	for name, h := range k.held {
		h.timer.Stop()
		h.cancel()
		delete(k.held, name)
	}
	k.mu.Unlock()
	k.changed()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for try := 0; try < 3; try++ {
		err := k.catchUp(ctx)
		k.mu.Lock()
		evs := domain.ReleaseAll(k.state, k.opts.NodeID, k.opts.Now(), k.opts.Timing.Margin)
		k.mu.Unlock()
		if err == nil && len(evs) == 0 {
			return
		}
		if err == nil {
			if _, err = k.append(ctx, evs); err == nil {
				k.log.Info().Int("leases", len(evs)).Msg("released every lease")
				return
			}
		}
		if !errors.Is(err, domain.ErrWrongRevision) {
			k.log.Warn().Err(err).Msg("leases not released: the others take them when they expire")
			return
		}
	}
}
