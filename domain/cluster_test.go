package domain_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

var timing = domain.LeaseTiming{Lease: 10 * time.Second, Renew: 3 * time.Second, Margin: time.Second}

func fold(evs ...domain.Event) domain.ClusterState {
	s := domain.EvolveCluster(domain.ClusterState{}, domain.ClusterConfigured{Partitions: 4, LeaseMS: 10000})
	for _, e := range evs {
		s = domain.EvolveCluster(s, e)
	}
	return s
}

func acquired(node string, p int, epoch uint64, at time.Time) domain.LeaseAcquired {
	return domain.LeaseAcquired{NodeID: node, Lease: domain.PartitionLease(p), Partition: intp(p), Epoch: epoch, ExpiresAt: at.Add(timing.Lease), AcquiredAt: at}
}

func renewed(node string, at time.Time) domain.LeaseRenewed {
	return domain.LeaseRenewed{NodeID: node, ExpiresAt: at.Add(timing.Lease), RenewedAt: at}
}

// summary lists decided events in a short form: "+a/partition-0#1" (acquire
// with epoch), "-a/partition-3" (release), "~a[2]" (renewal of 2 leases).
func summary(evs []domain.Event) []string {
	var out []string
	for _, e := range evs {
		switch e := e.(type) {
		case domain.LeaseAcquired:
			s := fmt.Sprintf("+%s/%s#%d", e.NodeID, e.Lease, e.Epoch)
			if e.Previous != "" {
				s += "<" + e.Previous
			}
			out = append(out, s)
		case domain.LeaseReleased:
			out = append(out, fmt.Sprintf("-%s/%s", e.NodeID, e.Lease))
		case domain.LeaseRenewed:
			out = append(out, fmt.Sprintf("~%s[%d]", e.NodeID, len(e.Leases)))
		}
	}
	return out
}

func TestDecideLeases(t *testing.T) {
	t1 := t0.Add(time.Second)
	for _, tc := range []struct {
		name       string
		given      []domain.Event
		node       string
		now        time.Time
		lastRenew  time.Time
		wantSealer bool
		then       []string
	}{
		{name: "a first node takes every partition and the sealer, and says it is alive",
			node: "a", now: t0, wantSealer: true,
			then: []string{"+a/partition-0#1", "+a/partition-1#1", "+a/partition-2#1", "+a/partition-3#1", "+a/sealer#1", "~a[0]"}},
		{name: "an owner renews what it holds once the renew interval passed",
			given: []domain.Event{acquired("a", 0, 1, t0), acquired("a", 1, 1, t0), acquired("a", 2, 1, t0), acquired("a", 3, 1, t0)},
			node:  "a", now: t0.Add(3 * time.Second), lastRenew: t0,
			then: []string{"~a[4]"}},
		{name: "and says nothing before it",
			given: []domain.Event{acquired("a", 0, 1, t0), acquired("a", 1, 1, t0), acquired("a", 2, 1, t0), acquired("a", 3, 1, t0)},
			node:  "a", now: t0.Add(2 * time.Second), lastRenew: t0},
		{name: "a node that joined makes the owner release its excess, from the highest partition",
			given: []domain.Event{acquired("a", 0, 1, t0), acquired("a", 1, 1, t0), acquired("a", 2, 1, t0), acquired("a", 3, 1, t0), renewed("b", t1)},
			node:  "a", now: t1, lastRenew: t1,
			then: []string{"-a/partition-2", "-a/partition-3"}},
		{name: "the joining node waits while nothing is free",
			given: []domain.Event{acquired("a", 0, 1, t0), acquired("a", 1, 1, t0), acquired("a", 2, 1, t0), acquired("a", 3, 1, t0), renewed("b", t1)},
			node:  "b", now: t1, lastRenew: t1},
		{name: "and takes what was released, the epoch counting on",
			given: []domain.Event{acquired("a", 0, 1, t0), acquired("a", 1, 1, t0), acquired("a", 2, 1, t0), acquired("a", 3, 1, t0), renewed("b", t1),
				domain.LeaseReleased{NodeID: "a", Lease: "partition-2", Epoch: 1}, domain.LeaseReleased{NodeID: "a", Lease: "partition-3", Epoch: 1}},
			node: "b", now: t1, lastRenew: t1,
			then: []string{"+b/partition-2#2", "+b/partition-3#2"}},
		{name: "an expired lease is not taken within the clock margin",
			given: []domain.Event{acquired("a", 0, 1, t0), renewed("b", t0)},
			node:  "b", now: t0.Add(timing.Lease + timing.Margin), lastRenew: t0.Add(timing.Lease + timing.Margin),
			then: []string{"+b/partition-1#1", "+b/partition-2#1", "+b/partition-3#1"}},
		{name: "but after it, naming the previous owner",
			given: []domain.Event{acquired("a", 0, 1, t0), renewed("b", t0)},
			node:  "b", now: t0.Add(timing.Lease + timing.Margin + time.Millisecond), lastRenew: t0.Add(timing.Lease + timing.Margin),
			then: []string{"+b/partition-0#2<a", "+b/partition-1#1", "+b/partition-2#1", "+b/partition-3#1"}},
		{name: "a node does not take a sealer it does not want",
			given: []domain.Event{acquired("a", 0, 1, t0), acquired("a", 1, 1, t0), acquired("a", 2, 1, t0), acquired("a", 3, 1, t0)},
			node:  "a", now: t0, lastRenew: t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(domain.DecideLeases(fold(tc.given...), tc.node, tc.now, tc.lastRenew, timing, tc.wantSealer))
			if fmt.Sprint(got) != fmt.Sprint(tc.then) {
				t.Fatalf("got  %v\nwant %v", got, tc.then)
			}
		})
	}
}

// A node acts under a lease until the margin before it ends; another may
// take it only a margin after: clocks may disagree by twice the margin.
func TestHoldsStopsAMarginBeforeTheEnd(t *testing.T) {
	s := fold(acquired("a", 0, 4, t0))
	end := t0.Add(timing.Lease)
	if e, ok := s.Holds("a", "partition-0", end.Add(-timing.Margin-time.Millisecond), timing.Margin); !ok || e != 4 {
		t.Fatalf("before the margin: holds %v epoch %d", ok, e)
	}
	if _, ok := s.Holds("a", "partition-0", end.Add(-timing.Margin), timing.Margin); ok {
		t.Fatal("a node must stop acting a margin before its lease ends")
	}
	if _, ok := s.Holds("b", "partition-0", t0, timing.Margin); ok {
		t.Fatal("another node does not hold a's lease")
	}
}

// Three nodes deciding in turn, each on what the others wrote (as the
// cluster stream's expected revision makes them), never both own a
// partition and settle within one partition of even; when one stops
// renewing, the others share its partitions after its leases expire.
func TestLeasesBalanceAndFailOver(t *testing.T) {
	s := domain.EvolveCluster(domain.ClusterState{}, domain.ClusterConfigured{Partitions: 64, LeaseMS: 10000})
	nodes := []string{"a", "b", "c"}
	last := map[string]time.Time{}
	now := t0
	step := func(alive []string) {
		for _, n := range alive {
			evs := domain.DecideLeases(s, n, now, last[n], timing, true)
			for _, e := range evs {
				if acq, ok := e.(domain.LeaseAcquired); ok {
					if l := s.Leases[acq.Lease]; l.Owner != "" && now.Before(l.ExpiresAt.Add(timing.Margin)) {
						t.Fatalf("%s acquired %s while %s held it until %s", n, acq.Lease, l.Owner, l.ExpiresAt)
					}
				}
				if _, ok := e.(domain.LeaseRenewed); ok {
					last[n] = now
				}
				s = domain.EvolveCluster(s, e)
			}
		}
		now = now.Add(500 * time.Millisecond)
	}
	counts := func(alive []string) map[string]int {
		c := map[string]int{}
		for p := 0; p < 64; p++ {
			for _, n := range alive {
				if _, ok := s.Holds(n, domain.PartitionLease(p), now, timing.Margin); ok {
					c[n]++
				}
			}
		}
		return c
	}
	for i := 0; i < 20; i++ {
		step(nodes)
	}
	c := counts(nodes)
	if c["a"]+c["b"]+c["c"] != 64 || c["a"] < 21 || c["b"] < 21 || c["c"] < 21 {
		t.Fatalf("three live nodes: %v, want 64 shared within one of even", c)
	}
	sealers := 0
	for _, n := range nodes {
		if _, ok := s.Holds(n, domain.SealerLease, now, timing.Margin); ok {
			sealers++
		}
	}
	if sealers != 1 {
		t.Fatalf("%d sealers", sealers)
	}
	// c stops (killed): a and b take its partitions once its leases expire.
	killed := now
	for i := 0; i < 40; i++ {
		step(nodes[:2])
	}
	c = counts(nodes[:2])
	if c["a"] != 32 || c["b"] != 32 {
		t.Fatalf("after c stopped at %s and 20 s passed: %v", killed, c)
	}
}

func TestLeaseTimingValidate(t *testing.T) {
	if err := timing.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []domain.LeaseTiming{
		{Lease: 10 * time.Second, Renew: 5 * time.Second, Margin: time.Second},
		{Lease: 0, Renew: time.Second},
		{Lease: time.Second, Renew: time.Second, Margin: -1},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// The partition of a subscription is stored in the ledger (attempts carry
// it): these values must never change.
func TestPartitionOfIsStable(t *testing.T) {
	got := fmt.Sprint(domain.PartitionOf("sub_1", 64), domain.PartitionOf("sub_2", 64), domain.PartitionOf("sub_abc", 7), domain.PartitionOf("x", 1))
	if got != "29 36 4 0" {
		t.Fatalf("PartitionOf changed: %s", got)
	}
}

// Nodes that left are forgotten an hour after their membership expired: a
// restart under a new id must not grow the cluster's state for ever.
func TestMembersGoneLongAgoAreForgotten(t *testing.T) {
	s := fold(renewed("old", t0), renewed("a", t0))
	s = domain.EvolveCluster(s, renewed("a", t0.Add(30*time.Minute)))
	if _, ok := s.Members["old"]; !ok {
		t.Fatal("a member forgotten within the hour")
	}
	s = domain.EvolveCluster(s, renewed("a", t0.Add(2*time.Hour)))
	if _, ok := s.Members["old"]; ok || len(s.Members) != 1 {
		t.Fatalf("members after two hours: %v", s.Members)
	}
}
