package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// multiTests cover domain.MultiAppender, run on a store that offers it.
var multiTests = []optionalTest[domain.MultiAppender]{
	{"MultiStreamAppendWritesEveryPartInOrder", testMultiStreamOrder},
	{"MultiStreamAppendIsAllOrNothing", testMultiStreamAllOrNothing},
	{"MultiStreamAppendInvalidInputRejected", testMultiStreamInvalid},
	{"MultiStreamAppendsRaceOnASharedStream", testMultiStreamRace},
	{"MultiStreamAppendReachesSubscribersWhole", testMultiStreamSubscribers},
	{"MultiStreamAppendRefusedWhenClosed", testMultiStreamClosed},
}

// optionalTest is a test of an optional capability C of the store.
type optionalTest[C any] struct {
	name string
	fn   func(*testing.T, domain.EventStore, C)
}

// runOptional runs tests on stores made by newStore, each skipped (named
// what) when the store does not offer C.
func runOptional[C any](t *testing.T, newStore Factory, what string, tests []optionalTest[C]) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			c, ok := s.(C)
			if !ok {
				t.Skipf("%T has no %s (optional)", s, what)
			}
			tc.fn(t, s, c)
		})
	}
}

func testMultiStreamOrder(t *testing.T, s domain.EventStore, m domain.MultiAppender) {
	mustAppend(t, s, "m-three", domain.NoStream, ev("seed", `0`))
	head, err := s.Head(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	parts := []domain.StreamAppend{
		{Stream: "m-one", Expected: domain.NoStream, Events: []domain.EventData{ev("a", `1`), ev("b", `2`)}},
		{Stream: "m-two", Expected: domain.Any, Events: []domain.EventData{ev("c", `3`)}},
		{Stream: "m-three", Expected: domain.Exact(0), Events: []domain.EventData{ev("d", `4`)}},
	}
	res, err := m.AppendMulti(ctxT(t), parts...)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.AppendResult{{Revision: 1, Position: head + 2}, {Revision: 0, Position: head + 3}, {Revision: 1, Position: head + 4}}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Fatalf("results %v, want %v (consecutive positions, in the order of the parts)", res, want)
	}
	all := readAll(t, s)
	var types []string
	for _, e := range all[len(all)-4:] {
		types = append(types, e.Type)
	}
	if fmt.Sprint(types) != "[a b c d]" || all[len(all)-1].Position != head+4 {
		t.Fatalf("$all ends with %v at %d, want [a b c d] at %d", types, all[len(all)-1].Position, head+4)
	}
	for _, p := range parts {
		got, err := s.ReadStream(ctxT(t), p.Stream, 0, domain.Forward, 10)
		if err != nil {
			t.Fatal(err)
		}
		last := got[len(got)-1]
		if last.ID != p.Events[len(p.Events)-1].ID || last.Stream != p.Stream {
			t.Fatalf("%s ends with %s, want %s", p.Stream, last.ID, p.Events[len(p.Events)-1].ID)
		}
	}
}

func testMultiStreamAllOrNothing(t *testing.T, s domain.EventStore, m domain.MultiAppender) {
	mustAppend(t, s, "m-existing", domain.NoStream, ev("seed", `0`))
	before := readAll(t, s)
	_, err := m.AppendMulti(ctxT(t),
		domain.StreamAppend{Stream: "m-new", Expected: domain.NoStream, Events: []domain.EventData{ev("x", `1`)}},
		domain.StreamAppend{Stream: "m-existing", Expected: domain.NoStream, Events: []domain.EventData{ev("y", `2`)}},
	)
	wantWrongRevision(t, err)
	var wre *domain.WrongRevisionError
	if errors.As(err, &wre); wre.Stream != "m-existing" {
		t.Errorf("the error names %q, want the part whose revision did not hold", wre.Stream)
	}
	if after := readAll(t, s); len(after) != len(before) {
		t.Fatalf("a refused multi-stream append wrote %d events", len(after)-len(before))
	}
	if _, err := s.ReadStream(ctxT(t), "m-new", 0, domain.Forward, 1); !errors.Is(err, domain.ErrStreamNotFound) {
		t.Fatalf("the part whose revision held was written: %v", err)
	}
}

func testMultiStreamInvalid(t *testing.T, s domain.EventStore, m domain.MultiAppender) {
	good := func(stream string) domain.StreamAppend {
		return domain.StreamAppend{Stream: stream, Expected: domain.Any, Events: []domain.EventData{ev("t", `{}`)}}
	}
	shared := ev("t", `{}`)
	cases := []struct {
		name  string
		parts []domain.StreamAppend
	}{
		{"no part", nil},
		{"a stream twice", []domain.StreamAppend{good("m-a"), good("m-a")}},
		{"a part without events", []domain.StreamAppend{good("m-a"), {Stream: "m-b", Expected: domain.Any}}},
		{"a reserved stream name", []domain.StreamAppend{good("m-a"), good("$all")}},
		{"one event id in two parts", []domain.StreamAppend{
			{Stream: "m-a", Expected: domain.Any, Events: []domain.EventData{shared}},
			{Stream: "m-b", Expected: domain.Any, Events: []domain.EventData{shared}},
		}},
	}
	for _, c := range cases {
		if _, err := m.AppendMulti(ctxT(t), c.parts...); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s: want ErrInvalidArgument, got %v", c.name, err)
		}
	}
	if n := len(readAll(t, s)); n != 0 {
		t.Fatalf("invalid multi-stream appends wrote %d events", n)
	}
}

// Racers each append to a stream of their own and to one shared new stream:
// exactly one wins, and no loser's own stream exists.
func testMultiStreamRace(t *testing.T, s domain.EventStore, m domain.MultiAppender) {
	const racers = 30
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	var winners []int
	for g := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := m.AppendMulti(context.Background(),
				domain.StreamAppend{Stream: fmt.Sprintf("m-own-%d", g), Expected: domain.NoStream, Events: []domain.EventData{ev("own", `{}`)}},
				domain.StreamAppend{Stream: "m-shared", Expected: domain.NoStream, Events: []domain.EventData{ev("shared", fmt.Sprint(g))}},
			)
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, g)
				mu.Unlock()
			case !errors.Is(err, domain.ErrWrongRevision):
				t.Errorf("racer %d: %v", g, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d winners, want 1", len(winners))
	}
	for g := range racers {
		_, err := s.ReadStream(ctxT(t), fmt.Sprintf("m-own-%d", g), 0, domain.Forward, 1)
		if exists := err == nil; exists != (g == winners[0]) {
			t.Errorf("racer %d's own stream exists: %v (winner %d)", g, exists, winners[0])
		}
	}
	if n := len(readAll(t, s)); n != 2 {
		t.Fatalf("%d events written, want the winner's 2", n)
	}
}

func testMultiStreamSubscribers(t *testing.T, s domain.EventStore, m domain.MultiAppender) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	got := make(chan domain.RecordedEvent, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, 0, func(e domain.RecordedEvent) error { got <- e; return nil })
	}()
	res, err := m.AppendMulti(ctxT(t),
		domain.StreamAppend{Stream: "m-s1", Expected: domain.NoStream, Events: []domain.EventData{ev("a", `1`), ev("b", `2`)}},
		domain.StreamAppend{Stream: "m-s2", Expected: domain.NoStream, Events: []domain.EventData{ev("c", `3`)}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"a", "b", "c"} {
		select {
		case e := <-got:
			if e.Type != want || e.Position != res[1].Position-domain.Position(2-i) {
				t.Fatalf("event %d: %s at %d, want %s at %d", i, e.Type, e.Position, want, res[1].Position-domain.Position(2-i))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the subscriber got %d of the 3 events", i)
		}
	}
	cancel()
	<-done
}

func testMultiStreamClosed(t *testing.T, s domain.EventStore, m domain.MultiAppender) {
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := m.AppendMulti(context.Background(), domain.StreamAppend{Stream: "m-c", Expected: domain.Any, Events: []domain.EventData{ev("x", `{}`)}})
	if !errors.Is(err, domain.ErrClosed) {
		t.Fatalf("multi-stream append after close: %v, want ErrClosed", err)
	}
}
