package domain_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// fakeStore is a minimal in-memory EventStore for the command tests (domain
// tests may not import adapters). raceOnce makes the next append lose an
// optimistic-concurrency race, as if another writer got there first.
type fakeStore struct {
	mu       sync.Mutex
	streams  map[string][]domain.RecordedEvent
	pos      domain.Position
	raceOnce bool
	appends  int
}

func newFakeStore() *fakeStore { return &fakeStore{streams: map[string][]domain.RecordedEvent{}} }

func (f *fakeStore) Append(_ context.Context, stream string, exp domain.ExpectedRevision, evs ...domain.EventData) (domain.AppendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := domain.ValidateAppend(stream, evs); err != nil {
		return domain.AppendResult{}, err
	}
	s := f.streams[stream]
	if f.raceOnce {
		f.raceOnce = false
		return domain.AppendResult{}, &domain.WrongRevisionError{Stream: stream, Expected: exp}
	}
	if !exp.Check(uint64(len(s))-1, len(s) > 0) {
		return domain.AppendResult{}, &domain.WrongRevisionError{Stream: stream, Expected: exp, Actual: uint64(len(s)) - 1, HasActual: len(s) > 0}
	}
	var res domain.AppendResult
	for _, e := range evs {
		f.pos++
		rec := domain.RecordedEvent{ID: e.ID, Stream: stream, Revision: uint64(len(s)), Position: f.pos, Type: e.Type, Data: e.Data, Metadata: e.Metadata}
		s = append(s, rec)
		res = domain.AppendResult{Revision: rec.Revision, Position: rec.Position}
	}
	f.streams[stream] = s
	f.appends++
	return res, nil
}

func (f *fakeStore) ReadStream(_ context.Context, stream string, from uint64, dir domain.Direction, max int) ([]domain.RecordedEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.streams[stream]
	if len(s) == 0 {
		return nil, domain.ErrStreamNotFound
	}
	if from >= uint64(len(s)) {
		return nil, nil
	}
	end := min(len(s), int(from)+max)
	return append([]domain.RecordedEvent(nil), s[from:end]...), nil
}

func (f *fakeStore) ReadAll(context.Context, domain.Position, int) ([]domain.RecordedEvent, error) {
	return nil, errors.New("not used")
}
func (f *fakeStore) SubscribeAll(context.Context, domain.Position, func(domain.RecordedEvent) error) error {
	return errors.New("not used")
}
func (f *fakeStore) Head(context.Context) (domain.Position, error) { return f.pos, nil }
func (f *fakeStore) Close() error                                  { return nil }

func newCommands(store domain.EventStore) *domain.Commands {
	n := 0
	var mu sync.Mutex
	return &domain.Commands{Store: store, Now: func() time.Time { return t0 }, NewEventID: func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return domain.DerivedEventID("test", fmt.Sprint(n))
	}}
}

func TestCommandsSubscriptionLifecycle(t *testing.T) {
	ctx := context.Background()
	store := newFakeStore()
	c := newCommands(store)
	md := domain.Metadata{Actor: "key_admin"}
	create := domain.CreateSubscription{SubscriptionID: "sub_1", ApplicationID: "app_1", URL: "https://example.com/h", EventTypes: domain.Filters{"*"}, Secret: secretA}
	if _, _, err := c.CreateSubscription(ctx, create, md); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("subscription for a missing application: %v, want ErrNotFound", err)
	}
	if _, _, err := c.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_1", Name: "Shop"}, md); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_1", Name: "Shop"}, md); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	sub, out, err := c.CreateSubscription(ctx, create, md)
	if err != nil || sub.Status != domain.StatusActive || out.Revision != 0 {
		t.Fatalf("create: %+v %+v %v", sub, out, err)
	}
	if _, _, err := c.ChangeSubscription(ctx, "app_2", "sub_1", domain.PauseSubscription{}, md); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another application's subscription must look missing: %v", err)
	}
	store.raceOnce = true
	sub, out, err = c.ChangeSubscription(ctx, "app_1", "sub_1", domain.PauseSubscription{}, md)
	if err != nil || sub.Status != domain.StatusPaused || out.Revision != 1 {
		t.Fatalf("pause after a lost race must retry and succeed: %+v %v", sub, err)
	}
	// The metadata of every appended event names the actor.
	recs, _ := store.ReadStream(ctx, domain.SubscriptionStream("sub_1"), 0, domain.Forward, 10)
	for _, r := range recs {
		_, got, _ := domain.Decode(r)
		if got.Actor != "key_admin" || !got.RecordedAt.Equal(t0) {
			t.Fatalf("metadata %+v", got)
		}
	}
}

func TestCommandsPublishIdempotency(t *testing.T) {
	ctx := context.Background()
	store := newFakeStore()
	c := newCommands(store)
	id := domain.MessageIDForKey("app_1", "k1")
	cmd := domain.PublishMessage{MessageID: id, ApplicationID: "app_1", EventType: "order.paid", Payload: []byte(`{"a":1}`), IdempotencyKey: "k1"}
	m1, out1, err := c.Publish(ctx, cmd, domain.Metadata{Actor: "k"})
	if err != nil || len(out1.Events) != 1 {
		t.Fatalf("first publish: %v %+v", err, out1)
	}
	m2, out2, err := c.Publish(ctx, cmd, domain.Metadata{Actor: "k"})
	if err != nil || len(out2.Events) != 0 || m2.MessageID != m1.MessageID || store.appends != 1 {
		t.Fatalf("duplicate publish must append nothing and return the first: %v %+v appends=%d", err, out2, store.appends)
	}
	cmd.Payload = []byte(`{"a":2}`)
	if _, _, err := c.Publish(ctx, cmd, domain.Metadata{}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("same key, other payload: %v", err)
	}
	recs, _ := store.ReadStream(ctx, domain.MessageStream(id), 0, domain.Forward, 10)
	_, md, _ := domain.Decode(recs[0])
	if md.CorrelationID != id {
		t.Fatalf("a message's correlation id is its own id, got %q", md.CorrelationID)
	}
}

func TestCommandsPublishNewRefusesAnExistingStream(t *testing.T) {
	ctx := context.Background()
	c := newCommands(newFakeStore())
	cmd := domain.PublishMessage{MessageID: "msg_a", ApplicationID: "app_1", EventType: "x", Payload: []byte(`1`)}
	if _, _, err := c.PublishNew(ctx, cmd, domain.Metadata{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PublishNew(ctx, cmd, domain.Metadata{}); !errors.Is(err, domain.ErrWrongRevision) {
		t.Fatalf("a second publish with the same id: %v", err)
	}
}

// multiFake adds a recording multi-stream append to fakeStore.
type multiFake struct {
	*fakeStore
	parts []domain.StreamAppend
}

func (m *multiFake) AppendMulti(_ context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	if err := domain.ValidateAppendMulti(parts); err != nil {
		return nil, err
	}
	m.parts = parts
	res := make([]domain.AppendResult, len(parts))
	for i, p := range parts {
		res[i], _ = m.fakeStore.Append(context.Background(), p.Stream, p.Expected, p.Events...)
	}
	return res, nil
}

func TestAppendDecidedMulti(t *testing.T) {
	ctx := context.Background()
	md := domain.Metadata{Actor: "fanout", CorrelationID: "msg_1"}
	parts := []domain.DecidedAppend{
		{Stream: "delivery-a", Events: []domain.Event{domain.DeliveryScheduled{DeliveryID: "a"}}, Metadata: md},
		{Stream: "delivery-b", Revision: 3, Exists: true, Events: []domain.Event{domain.DeliveryScheduled{DeliveryID: "b"}, domain.DeliveryScheduled{DeliveryID: "b"}}, Metadata: md},
	}
	if _, _, err := newCommands(newFakeStore()).AppendDecidedMulti(ctx, parts); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("on a store without multi-stream appends: %v, want errors.ErrUnsupported", err)
	}
	store := &multiFake{fakeStore: newFakeStore()}
	store.streams["delivery-b"] = make([]domain.RecordedEvent, 4)
	_, ids, err := newCommands(store).AppendDecidedMulti(ctx, parts)
	if err != nil {
		t.Fatal(err)
	}
	if len(store.parts) != 2 || store.parts[0].Expected != domain.NoStream || store.parts[1].Expected != domain.Exact(3) {
		t.Fatalf("parts %+v: want no stream for a new one, the revision decided on otherwise", store.parts)
	}
	if len(ids) != 2 || len(ids[0]) != 1 || len(ids[1]) != 2 || ids[1][0] != store.parts[1].Events[0].ID {
		t.Fatalf("ids %v, want the parts' event ids in order", ids)
	}
	for _, p := range store.parts {
		for _, e := range p.Events {
			ev, got, err := domain.Decode(domain.RecordedEvent{Type: e.Type, Data: e.Data, Metadata: e.Metadata})
			if err != nil || got.Actor != "fanout" || got.CorrelationID != "msg_1" || got.RecordedAt.IsZero() || ev.Type() != domain.TypeDeliveryScheduled {
				t.Fatalf("event %s: %v %+v", e.ID, err, got)
			}
		}
	}
}

func TestAppendDecidedMultiEachEventItsOwnMetadataAndID(t *testing.T) {
	ctx := context.Background()
	store := &multiFake{fakeStore: newFakeStore()}
	scheduled := domain.Metadata{Actor: "fanout", CorrelationID: "msg_1", CausationID: "ev_published"}
	started := domain.Metadata{Actor: "delivery-worker", CorrelationID: "msg_1", CausationID: "ev_scheduled"}
	part := domain.DecidedAppend{Stream: "delivery-a",
		Events: []domain.Event{domain.DeliveryScheduled{DeliveryID: "a"}, domain.AttemptStarted{DeliveryID: "a", Attempt: 1}},
		Each:   []domain.Metadata{scheduled, started}, IDs: []string{"ev_scheduled", "ev_started"},
	}
	_, ids, err := newCommands(store).AppendDecidedMulti(ctx, []domain.DecidedAppend{part})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || len(ids[0]) != 2 || ids[0][0] != "ev_scheduled" || ids[0][1] != "ev_started" {
		t.Fatalf("ids %v, want the ones given", ids)
	}
	for i, want := range []domain.Metadata{scheduled, started} {
		e := store.parts[0].Events[i]
		_, got, err := domain.Decode(domain.RecordedEvent{Type: e.Type, Data: e.Data, Metadata: e.Metadata})
		if err != nil || e.ID != part.IDs[i] || got.Actor != want.Actor || got.CausationID != want.CausationID || got.RecordedAt.IsZero() {
			t.Fatalf("event %d (%s): %v %+v, want %+v", i, e.ID, err, got, want)
		}
	}

	for _, bad := range []domain.DecidedAppend{
		{Stream: "delivery-b", Events: part.Events, Each: part.Each[:1]},
		{Stream: "delivery-b", Events: part.Events, Metadata: scheduled, IDs: []string{"ev_1", "ev_2", "ev_3"}},
	} {
		store := &multiFake{fakeStore: newFakeStore()}
		if _, _, err := newCommands(store).AppendDecidedMulti(ctx, []domain.DecidedAppend{bad}); !errors.Is(err, domain.ErrInvalidArgument) || store.parts != nil {
			t.Fatalf("%d metadata, %d ids for %d events: %v (appended %v), want ErrInvalidArgument and nothing appended", len(bad.Each), len(bad.IDs), len(bad.Events), err, store.parts)
		}
	}
}

// A stream or an event id twice is refused whatever the write's size: a
// few parts are compared pair by pair, many through maps.
func TestValidateAppendMultiFindsTwiceInSmallAndLargeWrites(t *testing.T) {
	part := func(stream string, ids ...string) domain.StreamAppend {
		p := domain.StreamAppend{Stream: stream}
		for _, id := range ids {
			p.Events = append(p.Events, domain.EventData{ID: id, Type: "test.happened", Data: []byte(`{}`), Metadata: []byte(`{}`)})
		}
		return p
	}
	for _, n := range []int{2, 3, 8, 9, 40} {
		var distinct []domain.StreamAppend
		for i := range n {
			distinct = append(distinct, part(fmt.Sprintf("s-%d", i), fmt.Sprintf("ev-%d", i)))
		}
		if err := domain.ValidateAppendMulti(distinct); err != nil {
			t.Fatalf("%d distinct parts: %v", n, err)
		}
		stream := slices.Clone(distinct)
		stream[n-1] = part("s-0", "ev-last")
		id := slices.Clone(distinct)
		id[n-1] = part("s-last", "ev-0")
		for what, parts := range map[string][]domain.StreamAppend{"a stream": stream, "an event id": id} {
			if err := domain.ValidateAppendMulti(parts); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Fatalf("%d parts, %s twice: %v, want ErrInvalidArgument", n, what, err)
			}
		}
	}
	// Many events in one part: an id twice in it.
	if err := domain.ValidateAppendMulti([]domain.StreamAppend{part("s-a", "1", "2", "3", "4", "5", "6", "7", "8", "9", "3")}); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("an id twice among ten events: %v", err)
	}
}

// One part on any store: its events in one append, each with its metadata
// and id, at the revision decided on.
func TestAppendDecidedPart(t *testing.T) {
	ctx := context.Background()
	store := newFakeStore()
	scheduled := domain.Metadata{Actor: "fanout", CorrelationID: "msg_1"}
	started := domain.Metadata{Actor: "delivery-worker", CorrelationID: "msg_1", CausationID: "ev_scheduled"}
	part := domain.DecidedAppend{Stream: "delivery-a",
		Events: []domain.Event{domain.DeliveryScheduled{DeliveryID: "a"}, domain.AttemptStarted{DeliveryID: "a", Attempt: 1}},
		Each:   []domain.Metadata{scheduled, started}, IDs: []string{"ev_scheduled", "ev_started"},
	}
	res, ids, err := newCommands(store).AppendDecidedPart(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	if store.appends != 1 || res.Revision != 1 || len(ids) != 2 || ids[1] != "ev_started" {
		t.Fatalf("%d appends, result %+v, ids %v: want one append of both, with the ids given", store.appends, res, ids)
	}
	for i, rec := range store.streams["delivery-a"] {
		_, got, err := domain.Decode(rec)
		if err != nil || rec.ID != part.IDs[i] || got.Actor != part.Each[i].Actor || got.CausationID != part.Each[i].CausationID || got.RecordedAt.IsZero() {
			t.Fatalf("event %d: %+v %+v (%v)", i, rec, got, err)
		}
	}
	// The part was decided on a stream that did not exist: a second one is refused.
	if _, _, err := newCommands(store).AppendDecidedPart(ctx, part); !errors.Is(err, domain.ErrWrongRevision) {
		t.Fatalf("the same part again: %v, want ErrWrongRevision", err)
	}
	part.Each = part.Each[:1]
	if _, _, err := newCommands(store).AppendDecidedPart(ctx, part); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("one metadata for two events: %v, want ErrInvalidArgument", err)
	}
}
