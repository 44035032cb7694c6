package pipeline

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// fakeIndex is the open index as the view store would hold it: every open
// delivery by subscription and due time.
type fakeIndex struct{ keys map[string][]dueKey }

func (f *fakeIndex) add(sub string, k dueKey) {
	f.keys[sub] = append(f.keys[sub], k)
	sortKeys(f.keys[sub])
}

func (f *fakeIndex) del(sub, id string) {
	ks := f.keys[sub]
	for i, k := range ks {
		if k.id == id {
			f.keys[sub] = append(ks[:i], ks[i+1:]...)
			return
		}
	}
}

func (f *fakeIndex) OpenDue(sub string, due time.Time, id string, fn func(time.Time, string, bool) bool) {
	from := dueKey{due: due, id: id}
	for _, k := range f.keys[sub] {
		if k.less(from) {
			continue
		}
		if !fn(k.due, k.id, false) {
			return
		}
	}
}

var q0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

// take pops every due entry at now, the way the dispatcher does, and
// removes it from the index (its attempt makes it final).
func take(dq *dueQueue, idx *fakeIndex, now time.Time, max int) []string {
	var out []string
	for len(out) < max {
		sub, k, ok, _ := dq.next(now)
		if !ok {
			break
		}
		dq.forget(sub, k.id)
		idx.del(sub, k.id)
		out = append(out, k.id)
	}
	return out
}

func TestDueQueueHoldsAWindowAndReadsTheRestInOrder(t *testing.T) {
	idx := &fakeIndex{keys: map[string][]dueKey{}}
	reads := 0
	dq := newDueQueue(10, idx, func() { reads++ })
	var want []string
	for i := 999; i >= 0; i-- { // filed in reverse due order: the worst case for a window
		k := dueKey{due: q0.Add(time.Duration(i) * time.Millisecond), id: fmt.Sprintf("d%04d", i)}
		idx.add("sub", k)
		dq.push("sub", k.id, k.due)
		if n := dq.size(); n > 10 {
			t.Fatalf("the queue holds %d entries with a window of 10", n)
		}
	}
	for i := 0; i < 1000; i++ {
		want = append(want, fmt.Sprintf("d%04d", i))
	}
	var got []string
	for len(got) < 1000 {
		batch := take(dq, idx, q0.Add(time.Hour), 7)
		if len(batch) == 0 {
			break
		}
		got = append(got, batch...)
		if n := dq.size(); n > 10 {
			t.Fatalf("the queue holds %d entries with a window of 10", n)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("taken out of due order or lost: %d of 1000, first %v", len(got), got[:min(5, len(got))])
	}
	if reads == 0 {
		t.Fatal("the window never read from the index: it held everything")
	}
}

func TestDueQueueNotDueYetWakesAtTheDueTime(t *testing.T) {
	idx := &fakeIndex{keys: map[string][]dueKey{}}
	dq := newDueQueue(10, idx, nil)
	k := dueKey{due: q0.Add(time.Minute), id: "d1"}
	idx.add("sub", k)
	dq.push("sub", "d1", k.due)
	if _, _, ok, wake := dq.next(q0); ok || !wake.Equal(k.due) {
		t.Fatalf("not due yet: ok %v, wake %v (want %v)", ok, wake, k.due)
	}
	if got := take(dq, idx, q0.Add(time.Minute), 10); len(got) != 1 {
		t.Fatalf("due: took %v", got)
	}
}

func TestDueQueueParkedSubscriptionHoldsNothing(t *testing.T) {
	idx := &fakeIndex{keys: map[string][]dueKey{}}
	dq := newDueQueue(10, idx, nil)
	for i := 0; i < 50; i++ {
		k := dueKey{due: q0, id: fmt.Sprintf("p%02d", i)}
		idx.add("paused", k)
		dq.push("paused", k.id, k.due)
	}
	dq.park("paused")
	for i := 50; i < 100; i++ { // scheduled while paused
		k := dueKey{due: q0, id: fmt.Sprintf("p%02d", i)}
		idx.add("paused", k)
		dq.push("paused", k.id, k.due)
	}
	if n := dq.size(); n != 0 {
		t.Fatalf("a parked subscription holds %d entries in memory", n)
	}
	if _, _, ok, _ := dq.next(q0); ok {
		t.Fatal("a parked subscription's delivery was offered")
	}
	dq.unpark("paused")
	got := take(dq, idx, q0, 1000)
	if len(got) != 100 || !sort.StringsAreSorted(got) {
		t.Fatalf("after unpark: %d taken, sorted %v", len(got), sort.StringsAreSorted(got))
	}
}

func TestDueQueueBlockedAndHeldSubscriptionsStepAside(t *testing.T) {
	idx := &fakeIndex{keys: map[string][]dueKey{}}
	dq := newDueQueue(10, idx, nil)
	for _, s := range []struct {
		sub string
		at  time.Duration
	}{{"a", 0}, {"b", time.Second}, {"c", 2 * time.Second}} {
		k := dueKey{due: q0.Add(s.at), id: "d_" + s.sub}
		idx.add(s.sub, k)
		dq.push(s.sub, k.id, k.due)
	}
	dq.block("a")
	dq.holdUntil("b", q0.Add(time.Hour))
	now := q0.Add(time.Minute)
	if sub, _, ok, _ := dq.next(now); !ok || sub != "c" {
		t.Fatalf("with a blocked and b held, c goes: got %q %v", sub, ok)
	}
	if !dq.blocked("a") {
		t.Fatal("a should read as blocked")
	}
	dq.unblock("a")
	if sub, _, ok, _ := dq.next(now); !ok || sub != "a" {
		t.Fatalf("a unblocked goes first again: got %q", sub)
	}
}

// TestDueQueueDrainsADeletedSubscriptionInTurn: a drained subscription's
// entries are all due at once, those read from the index and a parked
// window included, but each takes its turn after the others' due entries:
// a backlog of cancellations does not hold up deliveries that are due.
func TestDueQueueDrainsADeletedSubscriptionInTurn(t *testing.T) {
	idx := &fakeIndex{keys: map[string][]dueKey{}}
	for i := range 6 { // retries hours away, more than a window
		idx.add("gone", dueKey{due: q0.Add(time.Duration(i+1) * time.Hour), id: fmt.Sprintf("g%d", i)})
	}
	dq := newDueQueue(4, idx, nil)
	dq.load("gone")
	dq.park("gone") // paused before the deletion
	dq.push("live", "l0", q0.Add(-time.Second))
	dq.push("live", "l1", q0)
	dq.push("live", "l2", q0.Add(time.Minute)) // not yet due

	if got := take(dq, idx, q0, 10); fmt.Sprint(got) != "[l0 l1]" {
		t.Fatalf("before the drain: %v", got)
	}
	dq.drain("gone", q0)
	dq.push("live", "l3", q0.Add(-time.Millisecond)) // due before the drain began

	// The dispatcher's loop: each drained entry moves the turn to now.
	var got []string
	for now := q0; len(got) < 8; now = now.Add(time.Second) {
		sub, k, ok, _ := dq.next(now)
		if !ok {
			break
		}
		if sub == "gone" {
			dq.turn(sub, now)
		}
		dq.forget(sub, k.id)
		idx.del(sub, k.id)
		got = append(got, k.id)
		if len(got) == 2 {
			dq.push("live", "l4", now.Add(-time.Millisecond)) // due as the drain goes on: goes next
		}
	}
	if want := "[l3 g0 l4 g1 g2 g3 g4 g5]"; fmt.Sprint(got) != want {
		t.Fatalf("drain order %v, want %s", got, want)
	}
	if sub, k, ok, _ := dq.next(q0.Add(time.Hour)); !ok || sub != "live" || k.id != "l2" {
		t.Fatalf("after the drain: %v %v %v, want live l2", sub, k, ok)
	}
	if dq.size() != 1 {
		t.Fatalf("%d entries left, want l2 alone", dq.size())
	}
}

// TestDueQueueDrainReadsAnEmptiedWindow: a subscription whose window was
// emptied with more in the index is read again when drained, so the rest
// is not left until its due times.
func TestDueQueueDrainReadsAnEmptiedWindow(t *testing.T) {
	idx := &fakeIndex{keys: map[string][]dueKey{}}
	for i := range 6 {
		idx.add("gone", dueKey{due: q0.Add(time.Duration(i+1) * time.Hour), id: fmt.Sprintf("g%d", i)})
	}
	dq := newDueQueue(4, idx, nil)
	dq.load("gone")
	for i := range 4 { // in flight or final: forgotten, not taken in turn
		dq.forget("gone", fmt.Sprintf("g%d", i))
		idx.del("gone", fmt.Sprintf("g%d", i))
	}
	dq.drain("gone", q0)
	if got := take(dq, idx, q0, 10); fmt.Sprint(got) != "[g4 g5]" {
		t.Fatalf("drained after the window emptied: %v", got)
	}
}
