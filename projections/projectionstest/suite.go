package projectionstest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Store is what the suite needs of a store of the views.
type Store interface {
	// Load returns the views as the store holds them: as of its checkpoint.
	Load(t *testing.T) *projections.Views
	// Commit makes the changes folded into v durable, with v's checkpoint.
	Commit(t *testing.T, v *projections.Views)
	// Reopen drops what was not committed and opens the store again.
	Reopen(t *testing.T)
}

// RunStoreSuite checks that a store of the views folds exactly what the
// in-memory records fold: the same snapshot bytes, the same listings and
// open deliveries, with changes committed or not, and across a reopen.
// Every Records adapter runs it.
func RunStoreSuite(t *testing.T, open func(t *testing.T) Store) {
	recs := History()
	t.Run("fold equals the in-memory fold", func(t *testing.T) {
		for _, every := range []int{0, 1, 5} {
			s := open(t)
			v := s.Load(t)
			for i, r := range recs {
				apply(t, v, r)
				if every > 0 && (i+1)%every == 0 {
					s.Commit(t, v)
				}
			}
			if got, want := snap(t, v), snap(t, memFold(t, recs)); !bytes.Equal(got, want) {
				t.Fatalf("commit every %d: views differ from the in-memory fold\n got: %s\nwant: %s", every, got, want)
			}
			checkListings(t, v, memFold(t, recs))
		}
	})
	t.Run("reopen gives the views at the checkpoint", func(t *testing.T) {
		// len(recs)-1: between an event type's definition and its change
		// (its created_at must survive the reopen).
		for _, cut := range []int{0, 7, 13, 24, len(recs) - 1, len(recs)} {
			s := open(t)
			v := s.Load(t)
			for _, r := range recs[:cut] {
				apply(t, v, r)
			}
			s.Commit(t, v)
			for _, r := range recs[cut:] { // folded, never committed: lost at reopen
				apply(t, v, r)
			}
			s.Reopen(t)
			v = s.Load(t)
			if v.Checkpoint != domain.Position(cut) {
				t.Fatalf("cut %d: checkpoint %d after reopen", cut, v.Checkpoint)
			}
			if got, want := snap(t, v), snap(t, memFold(t, recs[:cut])); !bytes.Equal(got, want) {
				t.Fatalf("cut %d: reopened views differ from the fold up to the checkpoint\n got: %s\nwant: %s", cut, got, want)
			}
			for _, r := range recs { // catch-up replays from 0: folded positions are skipped
				apply(t, v, r)
			}
			if got, want := snap(t, v), snap(t, memFold(t, recs)); !bytes.Equal(got, want) {
				t.Fatalf("cut %d: checkpoint plus tail differs from the full fold", cut)
			}
			if cut == len(recs) && v.KeyByHash(domain.HashAPIKey("k1")) == nil {
				t.Fatal("key index not rebuilt at load")
			}
			if len(v.SubscriptionsOf("app_1")) != 2 {
				t.Fatal("subscriptions index not rebuilt at load")
			}
			s.Commit(t, v)
			checkListings(t, v, memFold(t, recs))
		}
	})
}

func apply(t *testing.T, v *projections.Views, r domain.RecordedEvent) {
	t.Helper()
	if err := v.Apply(r); err != nil {
		t.Fatal(err)
	}
}

func memFold(t *testing.T, recs []domain.RecordedEvent) *projections.Views {
	v := projections.New()
	for _, r := range recs {
		apply(t, v, r)
	}
	return v
}

func snap(t *testing.T, v *projections.Views) []byte {
	t.Helper()
	b, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkListings compares every listing of got with want's, page by page
// (pages of one, resumed strictly before the last position seen).
func checkListings(t *testing.T, got, want *projections.Views) {
	t.Helper()
	for _, app := range []string{"app_1", "app_2", "app_none"} {
		eq(t, "deliveries of "+app, pages(got.Records().DeliveriesOfApp, app, deliveryPos), pages(want.Records().DeliveriesOfApp, app, deliveryPos))
		eq(t, "messages of "+app, pages(got.Records().MessagesOfApp, app, messagePos), pages(want.Records().MessagesOfApp, app, messagePos))
	}
	for _, sub := range []string{"sub_a", "sub_b", "sub_c", "sub_none"} {
		eq(t, "deliveries of "+sub, pages(got.Records().DeliveriesOfSubscription, sub, deliveryPos), pages(want.Records().DeliveriesOfSubscription, sub, deliveryPos))
	}
	eq(t, "open deliveries", openIDs(got), openIDs(want))
	for _, sub := range []string{"sub_a", "sub_b", "sub_c", "sub_none"} {
		eq(t, "stats of "+sub, stats(got, sub), stats(want, sub))
	}
	if len(stats(want, "sub_a")) == 0 {
		t.Fatal("the history has no stats: the comparison proves nothing")
	}
	if len(openIDs(want)) == 0 {
		t.Fatal("the history has no open delivery: the comparison proves nothing")
	}
}

func deliveryPos(d *projections.DeliveryView) (string, domain.Position) {
	return fmt.Sprintf("%s@%d/%s", d.ID, d.ScheduledPosition, d.Status), d.ScheduledPosition
}

func messagePos(m *projections.MessageView) (string, domain.Position) {
	return fmt.Sprintf("%s@%d/%d", m.ID, m.Position, len(m.Deliveries)), m.Position
}

func pages[T any](list func(string, domain.Position, func(T) bool), key string, desc func(T) (string, domain.Position)) []string {
	var out []string
	before := domain.Position(0)
	for {
		var got []string
		var last domain.Position
		list(key, before, func(x T) bool {
			s, p := desc(x)
			got, last = append(got, s), p
			return false
		})
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
		before = last
	}
}

func openIDs(v *projections.Views) []string {
	var ids []string
	v.Records().OpenDeliveries(func(d *projections.DeliveryView) bool {
		ids = append(ids, fmt.Sprintf("%s/%s/%d", d.ID, d.Status, d.NextDueAt.Unix()))
		return true
	})
	slices.Sort(ids)
	return ids
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func stats(v *projections.Views, sub string) []string {
	var out []string
	v.Records().StatsOf(sub, 0, 1<<40, func(b *projections.StatBucket) bool {
		out = append(out, fmt.Sprintf("%+v", *b))
		return true
	})
	return out
}
