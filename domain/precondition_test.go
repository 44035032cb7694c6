package domain_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// racingStore lets another writer change a stream just before the next
// append, so that the append loses its race to a real change.
type racingStore struct {
	*fakeStore
	before func()
}

func (r *racingStore) Append(ctx context.Context, stream string, exp domain.ExpectedRevision, evs ...domain.EventData) (domain.AppendResult, error) {
	if f := r.before; f != nil {
		r.before = nil
		f()
	}
	return r.fakeStore.Append(ctx, stream, exp, evs...)
}

func TestChangeSubscriptionIf(t *testing.T) {
	ctx := context.Background()
	md := domain.Metadata{Actor: "key_admin"}
	setup := func(t *testing.T) (*racingStore, *domain.Commands) {
		t.Helper()
		store := &racingStore{fakeStore: newFakeStore()}
		c := newCommands(store)
		if _, _, err := c.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_1", Name: "Shop"}, md); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: "sub_1", ApplicationID: "app_1",
			URL: "https://example.com/h", EventTypes: domain.Filters{"*"}, Secret: secretA}, md); err != nil {
			t.Fatal(err)
		}
		return store, c
	}
	revision := func(t *testing.T, store *racingStore) int {
		t.Helper()
		recs, err := store.ReadStream(ctx, domain.SubscriptionStream("sub_1"), 0, domain.Forward, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs) - 1
	}

	t.Run("given the revision it stands at, when paused, then it is paused", func(t *testing.T) {
		store, c := setup(t)
		sub, out, err := c.ChangeSubscriptionIf(ctx, "app_1", "sub_1", []uint64{0}, domain.PauseSubscription{}, md)
		if err != nil || sub.Status != domain.StatusPaused || out.Revision != 1 || revision(t, store) != 1 {
			t.Fatalf("%+v %+v %v", sub, out, err)
		}
	})
	t.Run("given one of several revisions, when changed, then it is changed", func(t *testing.T) {
		_, c := setup(t)
		if _, _, err := c.ChangeSubscriptionIf(ctx, "app_1", "sub_1", []uint64{7, 0}, domain.PauseSubscription{}, md); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("given an older revision, when changed, then it is refused and nothing is appended", func(t *testing.T) {
		store, c := setup(t)
		if _, _, err := c.ChangeSubscription(ctx, "app_1", "sub_1", domain.PauseSubscription{}, md); err != nil {
			t.Fatal(err)
		}
		desc := "new"
		_, _, err := c.ChangeSubscriptionIf(ctx, "app_1", "sub_1", []uint64{0}, domain.UpdateSubscription{Description: &desc}, md)
		var pe *domain.PreconditionError
		if !errors.As(err, &pe) || !errors.Is(err, domain.ErrPreconditionFailed) || pe.Revision != 1 || pe.ID != "sub_1" {
			t.Fatalf("got %v, want a PreconditionError at revision 1", err)
		}
		if errors.Is(err, domain.ErrWrongRevision) {
			t.Fatal("a failed precondition must not read as a lost race: callers retry those")
		}
		if revision(t, store) != 1 {
			t.Fatal("a refused command appended")
		}
	})
	t.Run("given a change that loses its append race, when weighed again, then the condition fails", func(t *testing.T) {
		store, c := setup(t)
		other := newCommands(store.fakeStore)
		store.before = func() {
			if _, _, err := other.ChangeSubscription(ctx, "app_1", "sub_1", domain.PauseSubscription{}, md); err != nil {
				t.Error(err)
			}
		}
		desc := "new"
		_, _, err := c.ChangeSubscriptionIf(ctx, "app_1", "sub_1", []uint64{0}, domain.UpdateSubscription{Description: &desc}, md)
		if !errors.Is(err, domain.ErrPreconditionFailed) {
			t.Fatalf("got %v: the retry after the lost race applied the change to a revision the caller did not name", err)
		}
		if revision(t, store) != 1 {
			t.Fatal("the conditional change was appended after the other writer's")
		}
	})
	t.Run("given a command that fails on its own, when its revision is wrong too, then its own failure is reported", func(t *testing.T) {
		_, c := setup(t)
		url := "ftp://example.com/h"
		_, _, err := c.ChangeSubscriptionIf(ctx, "app_1", "sub_1", []uint64{5}, domain.UpdateSubscription{URL: &url}, md)
		if !errors.Is(err, domain.ErrInvalidArgument) || errors.Is(err, domain.ErrPreconditionFailed) {
			t.Fatalf("an update to a URL no attempt can use: got %v, want the validation error", err)
		}
		if _, _, err := c.ChangeSubscriptionIf(ctx, "app_2", "sub_1", []uint64{5}, domain.PauseSubscription{}, md); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("another application's subscription: got %v, want not found", err)
		}
	})
}

func TestChangeApplicationAndEventTypeIf(t *testing.T) {
	ctx := context.Background()
	md := domain.Metadata{Actor: "key_admin"}
	store := &racingStore{fakeStore: newFakeStore()}
	c := newCommands(store)
	if _, _, err := c.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_1", Name: "Shop"}, md); err != nil {
		t.Fatal(err)
	}
	events := func(stream string) int {
		recs, _ := store.ReadStream(ctx, stream, 0, domain.Forward, 100)
		return len(recs)
	}
	a, _, err := c.ChangeApplicationIf(ctx, "app_1", []uint64{0}, domain.RenameApplication{Name: "Shop 2"}, md)
	if err != nil || a.Revision() != 1 || a.Name != "Shop 2" {
		t.Fatalf("a rename on the revision it stands at: %+v %v", a, err)
	}
	var pe *domain.PreconditionError
	if _, _, err := c.ChangeApplicationIf(ctx, "app_1", []uint64{0}, domain.RenameApplication{Name: "Shop 3"}, md); !errors.As(err, &pe) || pe.Revision != 1 || events(domain.ApplicationStream("app_1")) != 2 {
		t.Fatalf("a rename on a stale revision: %v, %d events", err, events(domain.ApplicationStream("app_1")))
	}
	// A change that fails for its own reason reports that reason.
	if _, _, err := c.ChangeApplicationIf(ctx, "app_1", []uint64{0}, domain.RenameApplication{Name: " "}, md); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("an invalid rename on a stale revision: %v", err)
	}
	// A change made by another writer between the read and the append.
	store.before = func() {
		if _, _, err := c.RenameApplication(ctx, "app_1", domain.RenameApplication{Name: "raced"}, md); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.ChangeApplicationIf(ctx, "app_1", []uint64{1}, domain.DeleteApplication{}, md); !errors.As(err, &pe) || pe.Revision != 2 {
		t.Fatalf("a deletion that lost its race to a rename: %v", err)
	}
	if a, err := c.GetApplication(ctx, "app_1"); err != nil || a.Deleted() || a.Name != "raced" {
		t.Fatalf("after the lost race: %+v %v", a, err)
	}

	if _, _, err := c.DefineEventType(ctx, domain.DefineEventType{Name: "order.paid", Create: true}, md); err != nil {
		t.Fatal(err)
	}
	d := "one"
	if et, _, err := c.DefineEventTypeIf(ctx, domain.DefineEventType{Name: "order.paid", Description: &d}, []uint64{0}, md); err != nil || et.Revision() != 1 {
		t.Fatalf("an event type changed on its revision: %+v %v", et, err)
	}
	if _, _, err := c.DefineEventTypeIf(ctx, domain.DefineEventType{Name: "order.paid", Description: &d}, []uint64{0}, md); !errors.As(err, &pe) || pe.Revision != 1 {
		t.Fatalf("an event type changed on a stale revision: %v", err)
	}
}
