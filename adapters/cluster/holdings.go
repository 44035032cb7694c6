package cluster

// What this node may act under now: a context per lease held, ended by a
// local timer a margin before the lease does (or when it is released or
// taken), and the accessors the pipeline and the sealer read.

import (
	"context"
	"sort"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// holding is a lease this node may act under: ctx ends when it may no
// longer (the margin before the lease ends, unless renewed first).
type holding struct {
	epoch  uint64
	until  time.Time // ExpiresAt - Margin, by this node's clock
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
}

// reconcileLocked brings the holdings in line with the state: a lease held
// gets a context and a timer that ends it a margin before the lease does.
func (k *Keeper) reconcileLocked(now time.Time) bool {
	changed := false
	if k.stopped {
		return false
	}
	for name, l := range k.state.Leases {
		epoch, ok := k.state.Holds(k.opts.NodeID, name, now, k.opts.Timing.Margin)
		h := k.held[name]
		if !ok {
			if h != nil {
				switch l.Owner {
				case k.opts.NodeID:
					// Still ours in the stream, but its time ran out: the
					// same fact as the timer's (expire), whichever of the two
					// sees it first on a loaded machine.
					k.ranOutLocked(name, h)
				case "":
					k.dropLocked(name, h, "released")
				default:
					k.dropLocked(name, h, "taken by "+l.Owner)
				}
				changed = true
			}
			continue
		}
		until := l.ExpiresAt.Add(-k.opts.Timing.Margin)
		if h != nil && h.epoch == epoch && h.ctx.Err() == nil {
			if until.After(h.until) {
				h.until = until
				h.timer.Reset(until.Sub(now))
			}
			continue
		}
		if h != nil {
			k.dropLocked(name, h, "epoch changed")
		}
		ctx, cancel := context.WithCancel(context.Background())
		h = &holding{epoch: epoch, until: until, ctx: ctx, cancel: cancel}
		name := name
		h.timer = time.AfterFunc(until.Sub(now), func() { k.expire(name, h) })
		k.held[name] = h
		changed = true
	}
	for name, h := range k.held {
		if _, ok := k.state.Leases[name]; !ok {
			k.dropLocked(name, h, "gone")
			changed = true
		}
	}
	return changed
}

func (k *Keeper) dropLocked(name string, h *holding, why string) {
	h.timer.Stop()
	h.cancel()
	delete(k.held, name)
	k.log.Info().Str("lease", name).Uint64("epoch", h.epoch).Str("why", why).Msg("no longer acting under the lease")
}

// expire ends a holding whose time ran out before a renewal moved it.
func (k *Keeper) expire(name string, h *holding) {
	k.mu.Lock()
	if k.held[name] != h || k.opts.Now().Before(h.until) {
		k.mu.Unlock()
		return
	}
	k.ranOutLocked(name, h)
	k.mu.Unlock()
	k.changed()
}

// ranOutLocked ends a holding whose lease ran out before this node renewed
// it, with the warning operators watch for (docs/cluster.md): a node that
// cannot reach the store says so, whether its timer or its next tick is the
// first to see the time has passed.
func (k *Keeper) ranOutLocked(name string, h *holding) {
	h.timer.Stop()
	h.cancel()
	delete(k.held, name)
	k.log.Warn().Str("lease", name).Uint64("epoch", h.epoch).Msg("lease ran out before it was renewed: stopped acting under it")
}

// Lease is the partition lease under which this node may work on sub's
// deliveries now: its context ends when it may no longer.
func (k *Keeper) Lease(sub string) (domain.AttemptLease, context.Context, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := domain.PartitionOf(sub, k.state.Partitions)
	h := k.held[domain.PartitionLease(p)]
	if h == nil || h.ctx.Err() != nil {
		return domain.AttemptLease{}, nil, false
	}
	return domain.AttemptLease{NodeID: k.opts.NodeID, Partition: p, Epoch: h.epoch}, h.ctx, true
}

// Owned lists the partitions this node may work on now, with their epochs.
func (k *Keeper) Owned() map[int]uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[int]uint64{}
	for name, h := range k.held {
		if p, ok := domain.LeasePartition(name); ok && h.ctx.Err() == nil {
			out[p] = h.epoch
		}
	}
	return out
}

// Sealer returns a context that lives while this node holds the sealer's
// lease, or nil when it does not.
func (k *Keeper) Sealer() context.Context {
	k.mu.Lock()
	defer k.mu.Unlock()
	if h := k.held[domain.SealerLease]; h != nil && h.ctx.Err() == nil {
		return h.ctx
	}
	return nil
}

// Members are the nodes alive as the cluster stream tells it, sorted.
func (k *Keeper) Members() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.state.LiveMembers(k.opts.NodeID, k.opts.Now())
	sort.Strings(m)
	return m
}
