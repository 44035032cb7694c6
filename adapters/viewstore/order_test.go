package viewstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

// TestOpenInOrderListsOpenDeliveriesInPublishOrder: the order index (what a
// FIFO subscription sends next) holds exactly the committed open deliveries
// of each subscription, by message position then id, whatever the commit
// cadence, and across a reopen.
func TestOpenInOrderListsOpenDeliveriesInPublishOrder(t *testing.T) {
	recs := projectionstest.History()
	mem := projections.New()
	for _, r := range recs {
		if err := mem.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{}
	for sub := range mem.Subscriptions { // those with none open must list none
		want[sub] = nil
	}
	mem.Records().OpenDeliveries(func(d *projections.DeliveryView) bool {
		want[d.SubscriptionID] = append(want[d.SubscriptionID], orderEntry(d.MessagePosition, d.ID))
		return true
	})
	if len(want["sub_a"]) == 0 || len(want["sub_b"]) != 0 {
		t.Fatalf("the history should leave sub_a with open deliveries and sub_b with none: %v", want)
	}
	for sub := range want {
		slices.Sort(want[sub]) // fixed-width positions: string order is publish order
	}

	for _, every := range []int{1, 4, len(recs)} {
		dir := t.TempDir()
		s := open(t, dir)
		v, _, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if err := v.Apply(r); err != nil {
				t.Fatal(err)
			}
			if (i+1)%every == 0 {
				if err := s.Commit(v, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Commit(v, nil); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 2; round++ {
			for sub, w := range want {
				var got []string
				s.OpenInOrder(sub, 0, "", func(pos domain.Position, id string) bool {
					got = append(got, orderEntry(pos, id))
					return true
				})
				if !slices.Equal(got, w) {
					t.Fatalf("commit every %d, round %d, %s:\n got %v\nwant %v", every, round, sub, got, w)
				}
				if len(w) > 1 { // from an entry on (inclusive), and stopping early
					var pos domain.Position
					var id string
					fmt.Sscanf(w[1], "%d/%s", &pos, &id)
					got = got[:0]
					s.OpenInOrder(sub, pos, id, func(pos domain.Position, id string) bool {
						got = append(got, orderEntry(pos, id))
						return len(got) < 1
					})
					if !slices.Equal(got, w[1:2]) {
						t.Fatalf("from %s: got %v", w[1], got)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir)
		}
		s.Close()
	}
}

func orderEntry(pos domain.Position, id string) string { return fmt.Sprintf("%012d/%s", pos, id) }

// TestAttemptingListsAttemptsWithoutOutcome: after every commit, the
// attempting index holds exactly the deliveries the fold shows with an
// attempt started and no outcome (what crash recovery closes).
func TestAttemptingListsAttemptsWithoutOutcome(t *testing.T) {
	recs := projectionstest.History()
	s := open(t, t.TempDir())
	defer s.Close()
	v, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	mem := projections.New()
	seen := 0
	for i, r := range recs {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
		if err := mem.Apply(r); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(v, nil); err != nil {
			t.Fatal(err)
		}
		var want, got []string
		mem.Records().OpenDeliveries(func(d *projections.DeliveryView) bool {
			if d.Status == domain.DeliveryStatusAttempting {
				want = append(want, d.ID)
			}
			return true
		})
		s.Attempting(func(id string) bool { got = append(got, id); return true })
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("after event %d: attempting index %v, fold %v", i, got, want)
		}
		seen += len(want)
	}
	if seen == 0 {
		t.Fatal("the history never leaves an attempt open: nothing was checked")
	}
}

// TestAWriteMayLagBehindTheFold: a prepared batch is written only after the
// fold has gone on (and changed the same deliveries again), as the rebuild
// does. Reads in between must see the prepared records, and the indexes
// written afterwards must be those of a commit at every event.
func TestAWriteMayLagBehindTheFold(t *testing.T) {
	recs := projectionstest.History()
	mem := projections.New()
	dir := t.TempDir()
	s := open(t, dir)
	v, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	var write func() error
	for i, r := range recs {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
		if err := mem.Apply(r); err != nil {
			t.Fatal(err)
		}
		if write != nil {
			if err := write(); err != nil {
				t.Fatal(err)
			}
		}
		if write, err = s.Prepare(v, nil); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	got, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := got.Snapshot()
	b, _ := mem.Snapshot()
	if string(a) != string(b) {
		t.Fatalf("the store differs from the fold:\n got %.500s\nwant %.500s", a, b)
	}
	for sub := range mem.Subscriptions {
		var want, inOrder []string
		mem.Records().OpenDeliveries(func(d *projections.DeliveryView) bool {
			if d.SubscriptionID == sub {
				want = append(want, orderEntry(d.MessagePosition, d.ID))
			}
			return true
		})
		slices.Sort(want)
		s.OpenInOrder(sub, 0, "", func(pos domain.Position, id string) bool {
			inOrder = append(inOrder, orderEntry(pos, id))
			return true
		})
		if !slices.Equal(inOrder, want) {
			t.Fatalf("%s order index %v, fold %v", sub, inOrder, want)
		}
		due := 0
		s.OpenDue(sub, time.Time{}, "", func(time.Time, string, bool) bool { due++; return true })
		if due != len(want) {
			t.Fatalf("%s: %d in the open index, %d open", sub, due, len(want))
		}
	}
}

// TestScansWaitForThePreparedWrite: between Prepare and the end of its write
// the batch's index entries are neither among the changes in memory nor on
// disk, so a scan made then (a listing, from another goroutine) waits for the
// write and sees them.
func TestScansWaitForThePreparedWrite(t *testing.T) {
	recs := projectionstest.History()
	mem := projections.New()
	s := open(t, t.TempDir())
	defer s.Close()
	v, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
		if err := mem.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	listing := func(rs projections.Records) []string {
		var ids []string
		for app := range mem.Applications {
			rs.MessagesOfApp(app, 0, func(m *projections.MessageView) bool { ids = append(ids, m.ID); return true })
		}
		slices.Sort(ids)
		return ids
	}
	want := listing(mem.Records())
	if len(want) == 0 {
		t.Fatal("the history has no messages: nothing to check")
	}
	write, err := s.Prepare(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []string, 1)
	go func() { got <- listing(s) }()
	select {
	case g := <-got:
		write()
		t.Fatalf("a scan ran before the prepared batch was written: %v", g)
	case <-time.After(100 * time.Millisecond):
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	if g := <-got; !slices.Equal(g, want) {
		t.Fatalf("listing after the write: %v, want %v", g, want)
	}
}
