package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
)

func thing(i int) domain.EventData {
	return domain.EventData{ID: domain.FormatUUID(fmt.Appendf(nil, "%016d", i)), Type: "thing.happened", Data: []byte(`{}`)}
}

// openEmpty opens a store in a new directory, closed when the test ends.
func openEmpty(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// headIter is storedHeads' iterator, for tests of fresh alone; it counts
// how often it is asked for.
func headIter(t *testing.T, s *Store, asked *int) func() (*pebble.Iterator, error) {
	var it *pebble.Iterator
	t.Cleanup(func() {
		if it != nil {
			it.Close()
		}
	})
	return func() (*pebble.Iterator, error) {
		*asked++
		if it == nil {
			var err error
			it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixHead}, UpperBound: []byte{prefixHead + 1}})
			return it, err
		}
		return it, nil
	}
}

func TestFreshKnowsWhichNewStreamsHaveNoHead(t *testing.T) {
	s := openEmpty(t)
	ctx := context.Background()
	// "delivery-m" has a head; "deliverz-z" sorts after the category but is
	// not in it; "msg" has no category.
	for i, stream := range []string{"delivery-m", "deliverz-z", "msg"} {
		if _, err := s.Append(ctx, stream, domain.NoStream, thing(i)); err != nil {
			t.Fatal(err)
		}
	}
	f := newFresh() // as the store opened now
	asked := 0
	iter := headIter(t, s, &asked)
	for _, c := range []struct {
		stream string
		isNew  bool
	}{
		{"delivery-n", true},  // above the floor, never written
		{"delivery-m", false}, // the floor itself: it has a head
		{"delivery-a", false}, // below the floor: maybe, looked up
		{"message-a", true},   // a category with no head at all
		{"msg", false},        // no category: looked up
		{"-x", false},
	} {
		got, err := f.isNew(iter, c.stream)
		if err != nil || got != c.isNew {
			t.Errorf("isNew(%s) = %v, %v; want %v", c.stream, got, err, c.isNew)
		}
	}
	if asked != 2 {
		t.Errorf("the heads were read %d times, want once per category (2)", asked)
	}

	// Written since: a name above the floor has a head now.
	f.wrote("delivery-p")
	if got, _ := f.isNew(iter, "delivery-p"); got {
		t.Error("delivery-p, just written, is said to be new")
	}
	if got, _ := f.isNew(iter, "delivery-o"); !got {
		t.Error("delivery-o, between the floor and a written name, is not said to be new")
	}
}

// The turn before the one that first asks about a category may not be in
// Pebble yet: what was written to the category before its floor is read
// counts as if it were.
func TestFreshCountsWritesBeforeItsFloorIsRead(t *testing.T) {
	s := openEmpty(t)
	f := newFresh()
	f.wrote("delivery-k") // decided, not in Pebble
	f.wrote("delivery-c")
	asked := 0
	iter := headIter(t, s, &asked)
	for stream, want := range map[string]bool{"delivery-c": false, "delivery-k": false, "delivery-f": false, "delivery-l": true} {
		if got, err := f.isNew(iter, stream); err != nil || got != want {
			t.Errorf("isNew(%s) = %v, %v; want %v", stream, got, err, want)
		}
	}
}

// When the names kept above a floor pass the bound, the floor rises and
// nothing with a head is ever called new.
func TestFreshRaisesItsFloor(t *testing.T) {
	s := openEmpty(t)
	f := newFresh()
	f.aboveMax = 8
	asked := 0
	iter := headIter(t, s, &asked)
	if got, _ := f.isNew(iter, "delivery-00"); !got {
		t.Fatal("an empty ledger's first delivery is not new")
	}
	for i := range 20 {
		f.wrote(fmt.Sprintf("delivery-%02d", i))
	}
	cat := f.cats["delivery-"]
	if len(cat.above) > 8 || cat.floor == "" {
		t.Fatalf("floor %q with %d names above it: it did not rise", cat.floor, len(cat.above))
	}
	for i := range 20 {
		if got, _ := f.isNew(iter, fmt.Sprintf("delivery-%02d", i)); got {
			t.Errorf("delivery-%02d has a head and is said to be new (floor %q)", i, cat.floor)
		}
	}
	if got, _ := f.isNew(iter, "delivery-20"); !got {
		t.Error("delivery-20 is not said to be new")
	}
}

func TestFreshFollowsABoundedNumberOfCategories(t *testing.T) {
	s := openEmpty(t)
	f := newFresh()
	asked := 0
	iter := headIter(t, s, &asked)
	for i := range freshCategoriesMax + 10 {
		if _, err := f.isNew(iter, fmt.Sprintf("c%03d-x", i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.cats) != freshCategoriesMax {
		t.Errorf("%d categories followed, want %d", len(f.cats), freshCategoriesMax)
	}
	// Writes to more categories than top holds: none is followed after.
	g := newFresh()
	for i := range freshCategoriesMax + 1 {
		g.wrote(fmt.Sprintf("c%03d-x", i))
	}
	if got, _ := g.isNew(iter, "c000-y"); got {
		t.Error("a category is followed after writes to categories went unrecorded")
	}
}

// The store's answers with fresh are a model's: random appends, expecting
// no stream or any, to names that are mostly new and increasing, sometimes
// old, sometimes repeated, across a floor that rises often and a restart.
func TestAppendsToNewStreamsMatchAModel(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]uint64{} // stream -> head revision
	var names []string
	next := 1000
	ctx := context.Background()
	id := 0
	for round := range 2 {
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Small bounds, set before the first append reaches the committer:
		// most appends to earlier streams miss the head cache, and the
		// floor rises every few appends.
		s.fresh.aboveMax = 16
		s.headCacheMax = 8
		for range 1500 {
			var stream string
			switch r := rng.IntN(10); {
			case r < 6 || len(names) == 0: // new, in order or nearly
				next += rng.IntN(3)
				stream = fmt.Sprintf("%s-%06d", []string{"message", "delivery"}[rng.IntN(2)], next+rng.IntN(5))
			case r < 9: // an earlier one
				stream = names[rng.IntN(len(names))]
			default: // old and never written, or no category
				stream = []string{fmt.Sprintf("delivery-%06d", rng.IntN(1000)), fmt.Sprintf("nocat%d", rng.IntN(50))}[rng.IntN(2)]
			}
			expected := domain.NoStream
			if rng.IntN(4) == 0 {
				expected = domain.Any
			}
			id++
			res, err := s.Append(ctx, stream, expected, thing(id))
			head, exists := model[stream]
			var wrong *domain.WrongRevisionError
			switch {
			case exists && expected == domain.NoStream:
				if !errors.As(err, &wrong) {
					t.Fatalf("round %d: append to %s (head %d) expecting no stream: %v, want a wrong revision", round, stream, head, err)
				}
				continue
			case err != nil:
				t.Fatalf("round %d: append to %s: %v", round, stream, err)
			}
			want := uint64(0)
			if exists {
				want = head + 1
			} else {
				names = append(names, stream)
			}
			if res.Revision != want {
				t.Fatalf("round %d: %s at revision %d, want %d", round, stream, res.Revision, want)
			}
			model[stream] = want
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
