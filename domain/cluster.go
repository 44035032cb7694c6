package domain

// Several hookledger processes on one ledger share the delivery work by
// partitions, each owned by one node at a time under a lease recorded in the
// ledger's `cluster` stream. Every change of ownership is appended with the
// stream's expected revision, so of two nodes deciding at once one append
// wins and the other decides again on what the winner wrote: two nodes can
// never both acquire one lease. The leases are part of the audit trail.

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ClusterStream holds the cluster's configuration and every lease event.
const ClusterStream = "cluster"

// Cluster event types.
const (
	TypeClusterConfigured = "cluster.configured"
	TypeLeaseAcquired     = "cluster.lease_acquired"
	TypeLeaseRenewed      = "cluster.lease_renewed"
	TypeLeaseReleased     = "cluster.lease_released"
)

// SealerLease is the lease under which one node at a time seals the ledger.
const SealerLease = "sealer"

// DefaultPartitions is the partition count of a new cluster.
const DefaultPartitions = 64

// MaxPartitions bounds the partition count (one lease each).
const MaxPartitions = 4096

// PartitionLease names the lease of partition p.
func PartitionLease(p int) string { return "partition-" + strconv.Itoa(p) }

// LeasePartition is the partition a lease name stands for (ok false for
// the sealer's lease).
func LeasePartition(lease string) (int, bool) {
	s, ok := strings.CutPrefix(lease, "partition-")
	if !ok {
		return 0, false
	}
	p, err := strconv.Atoi(s)
	return p, err == nil && p >= 0
}

// PartitionOf is the partition of a subscription's delivery work: FNV-1a of
// its id modulo the partition count. Stored in the ledger (attempts carry
// it), so the function never changes.
func PartitionOf(subscriptionID string, partitions int) int {
	if partitions <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(subscriptionID))
	return int(h.Sum32() % uint32(partitions))
}

// ClusterConfigured: the first node of a cluster fixed its ledger-wide
// settings. Later nodes read them; they never change.
type ClusterConfigured struct {
	Partitions   int       `json:"partitions"`
	LeaseMS      int64     `json:"lease_ms"`
	NodeID       string    `json:"node_id"`
	ConfiguredAt time.Time `json:"configured_at"`
}

// LeaseAcquired: a node took a lease that was free, released, or expired
// (Previous names the owner whose lease expired or was released).
type LeaseAcquired struct {
	NodeID    string `json:"node_id"`
	Lease     string `json:"lease"`
	Partition *int   `json:"partition,omitempty"`
	// Epoch counts the lease's owners: every acquisition adds one, and each
	// attempt started under it carries it.
	Epoch      uint64    `json:"epoch"`
	ExpiresAt  time.Time `json:"expires_at"`
	Previous   string    `json:"previous_owner,omitempty"`
	AcquiredAt time.Time `json:"acquired_at"`
}

// HeldLease is one lease a renewal extends.
type HeldLease struct {
	Lease string `json:"lease"`
	Epoch uint64 `json:"epoch"`
}

// LeaseRenewed: a node extended every lease it holds to ExpiresAt. A node
// holding none renews too: the renewal is also its membership, which the
// others count when they balance the partitions.
type LeaseRenewed struct {
	NodeID    string      `json:"node_id"`
	Leases    []HeldLease `json:"leases"`
	ExpiresAt time.Time   `json:"expires_at"`
	RenewedAt time.Time   `json:"renewed_at"`
}

// LeaseReleased: a node gave a lease up (balancing, or a clean stop).
type LeaseReleased struct {
	NodeID     string    `json:"node_id"`
	Lease      string    `json:"lease"`
	Partition  *int      `json:"partition,omitempty"`
	Epoch      uint64    `json:"epoch"`
	Reason     string    `json:"reason"`
	ReleasedAt time.Time `json:"released_at"`
}

func (ClusterConfigured) Type() string { return TypeClusterConfigured }
func (LeaseAcquired) Type() string     { return TypeLeaseAcquired }
func (LeaseRenewed) Type() string      { return TypeLeaseRenewed }
func (LeaseReleased) Type() string     { return TypeLeaseReleased }

// LeaseState is one lease as the cluster stream tells it.
type LeaseState struct {
	Owner     string // "" when released
	Epoch     uint64
	ExpiresAt time.Time
}

// ClusterState is the cluster stream folded.
type ClusterState struct {
	Configured bool
	Partitions int
	LeaseTime  time.Duration
	Leases     map[string]LeaseState
	// Members: node id -> when its membership (its last renewal) expires.
	Members map[string]time.Time
}

// EvolveCluster applies one cluster event.
func EvolveCluster(s ClusterState, ev Event) ClusterState {
	if s.Leases == nil {
		s.Leases, s.Members = map[string]LeaseState{}, map[string]time.Time{}
	}
	switch e := ev.(type) {
	case ClusterConfigured:
		s.Configured, s.Partitions, s.LeaseTime = true, e.Partitions, time.Duration(e.LeaseMS)*time.Millisecond
	case LeaseAcquired:
		s.Leases[e.Lease] = LeaseState{Owner: e.NodeID, Epoch: e.Epoch, ExpiresAt: e.ExpiresAt}
		s.Members[e.NodeID] = later(s.Members[e.NodeID], e.ExpiresAt)
	case LeaseRenewed:
		for _, h := range e.Leases {
			if l := s.Leases[h.Lease]; l.Owner == e.NodeID && l.Epoch == h.Epoch {
				l.ExpiresAt = e.ExpiresAt
				s.Leases[h.Lease] = l
			}
		}
		s.Members[e.NodeID] = e.ExpiresAt
		// Forget members gone long ago: a node id with a random suffix is
		// new at every restart, and the state must not grow with them.
		for n, until := range s.Members {
			if until.Before(e.RenewedAt.Add(-memberMemory)) {
				delete(s.Members, n)
			}
		}
	case LeaseReleased:
		if l := s.Leases[e.Lease]; l.Owner == e.NodeID && l.Epoch == e.Epoch {
			s.Leases[e.Lease] = LeaseState{Epoch: l.Epoch}
		}
	}
	return s
}

// memberMemory is how long after its membership expired a node is
// forgotten (far longer than any clock difference the leases allow).
const memberMemory = time.Hour

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// LeaseTiming is a node's view of time: how long a lease lasts, how often
// it is renewed, and the margin for the clocks of two nodes disagreeing.
type LeaseTiming struct {
	Lease  time.Duration
	Renew  time.Duration
	Margin time.Duration
}

// Validate says what is wrong with a timing: a renewal must come well
// before the lease ends, after the margin.
func (t LeaseTiming) Validate() error {
	switch {
	case t.Lease <= 0 || t.Renew <= 0 || t.Margin < 0:
		return fmt.Errorf("lease %s, renew %s, margin %s: want positive durations", t.Lease, t.Renew, t.Margin)
	case 2*t.Renew+t.Margin >= t.Lease:
		return fmt.Errorf("lease %s, renew %s, margin %s: a lease must outlast two renewals plus the clock margin", t.Lease, t.Renew, t.Margin)
	}
	return nil
}

// Holds reports whether node may act under lease at now by its own clock:
// it owns it and the lease ends later than the margin from now. A node stops
// acting at ExpiresAt-Margin, and another takes the lease over only after
// ExpiresAt+Margin by its clock: clocks may disagree by up to 2 x Margin.
func (s ClusterState) Holds(node, lease string, now time.Time, margin time.Duration) (uint64, bool) {
	l, ok := s.Leases[lease]
	if !ok || l.Owner != node || !now.Before(l.ExpiresAt.Add(-margin)) {
		return 0, false
	}
	return l.Epoch, true
}

// free reports whether lease may be taken at now: never owned, released, or
// expired for longer than the margin.
func (s ClusterState) free(lease string, now time.Time, margin time.Duration) bool {
	l, ok := s.Leases[lease]
	return !ok || l.Owner == "" || now.After(l.ExpiresAt.Add(margin))
}

// LiveMembers are the nodes whose membership has not expired at now, and
// node itself, sorted.
func (s ClusterState) LiveMembers(node string, now time.Time) []string {
	out := []string{node}
	for n, until := range s.Members {
		if n != node && now.Before(until) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// FairShare is how many partitions node should own among live: the count
// divided evenly, the remainder going to the first nodes by id.
func FairShare(partitions int, live []string, node string) int {
	n := len(live)
	share := partitions / n
	if i := slices.Index(live, node); i >= 0 && i < partitions%n {
		share++
	}
	return share
}

// DecideLeases is one step of node's lease keeping at now: release what it
// holds beyond its fair share, acquire free partitions up to it, take the
// sealer's lease when it is free and wantSealer, and renew every lease it
// keeps (and its membership) when the last renewal, at lastRenew, is a renew
// interval old. No events: nothing needs saying.
func DecideLeases(s ClusterState, node string, now, lastRenew time.Time, t LeaseTiming, wantSealer bool) []Event {
	expires := now.Add(t.Lease)
	var out []Event
	var mine []int
	for p := 0; p < s.Partitions; p++ {
		// Still ours until it ends, even inside the margin where this node
		// no longer acts under it: nobody else may take it before then.
		if l := s.Leases[PartitionLease(p)]; l.Owner == node && now.Before(l.ExpiresAt) {
			mine = append(mine, p)
		}
	}
	share := FairShare(s.Partitions, s.LiveMembers(node, now), node)
	// Release from the highest partition down: the others acquire from
	// the lowest up, so a released partition is soon taken.
	keep := mine
	if len(mine) > share {
		keep = mine[:share]
		for _, p := range mine[share:] {
			p := p
			l := s.Leases[PartitionLease(p)]
			out = append(out, LeaseReleased{NodeID: node, Lease: PartitionLease(p), Partition: &p, Epoch: l.Epoch, Reason: "rebalance", ReleasedAt: now})
		}
	}
	var held []HeldLease
	for _, p := range keep {
		held = append(held, HeldLease{Lease: PartitionLease(p), Epoch: s.Leases[PartitionLease(p)].Epoch})
	}
	owned := len(keep)
	for p := 0; p < s.Partitions && owned < share; p++ {
		name := PartitionLease(p)
		if slices.Contains(keep, p) || !s.free(name, now, t.Margin) {
			continue
		}
		p := p
		out = append(out, acquire(s, node, name, &p, now, expires))
		owned++
	}
	if l := s.Leases[SealerLease]; l.Owner == node && now.Before(l.ExpiresAt) {
		held = append(held, HeldLease{Lease: SealerLease, Epoch: l.Epoch})
	} else if wantSealer && s.free(SealerLease, now, t.Margin) {
		out = append(out, acquire(s, node, SealerLease, nil, now, expires))
	}
	if now.Sub(lastRenew) >= t.Renew {
		out = append(out, LeaseRenewed{NodeID: node, Leases: held, ExpiresAt: expires, RenewedAt: now})
	}
	return out
}

func acquire(s ClusterState, node, name string, p *int, now, expires time.Time) LeaseAcquired {
	l := s.Leases[name]
	return LeaseAcquired{NodeID: node, Lease: name, Partition: p, Epoch: l.Epoch + 1, ExpiresAt: expires, Previous: l.Owner, AcquiredAt: now}
}

// ReleaseAll is a clean stop: node gives up every lease it holds, so that
// the others take them at once rather than after they expire.
func ReleaseAll(s ClusterState, node string, now time.Time, margin time.Duration) []Event {
	var out []Event
	names := make([]string, 0, len(s.Leases))
	for name := range s.Leases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l := s.Leases[name]
		if l.Owner != node {
			continue
		}
		var pp *int
		if p, ok := LeasePartition(name); ok {
			pp = &p
		}
		out = append(out, LeaseReleased{NodeID: node, Lease: name, Partition: pp, Epoch: l.Epoch, Reason: "node stopping", ReleasedAt: now})
	}
	return out
}
