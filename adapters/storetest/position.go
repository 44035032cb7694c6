package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// positionTests cover domain.PositionReader, run on a store that offers it.
var positionTests = []optionalTest[domain.PositionReader]{
	{"ReadAtReturnsTheEventAtItsPosition", testReadAtEvery},
	{"ReadAtOutsideTheLedgerIsNotFound", testReadAtOutside},
	{"ReadAtRefusedWhenClosed", testReadAtClosed},
}

// Every event, read at its position, is the event $all holds there, whatever
// its stream, size and place in a multi-event append.
func testReadAtEvery(t *testing.T, s domain.EventStore, r domain.PositionReader) {
	ctx := context.Background()
	big := ev("big", `{"body":"`+string(bytes.Repeat([]byte("x"), 4000))+`"}`)
	for _, a := range []struct {
		stream string
		events []domain.EventData
	}{
		{"p-a", []domain.EventData{ev("one", `{"n":1}`)}},
		{"p-b", []domain.EventData{ev("two", `{"n":2}`), big, ev("three", `{"n":3}`)}},
		{"p-a", []domain.EventData{ev("four", `{}`)}},
	} {
		if _, err := s.Append(ctx, a.stream, domain.Any, a.events...); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ReadAll(ctx, 0, 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("ReadAll: %d events, %v", len(all), err)
	}
	for _, want := range all {
		got, err := r.ReadAt(ctx, want.Position)
		if err != nil {
			t.Fatalf("ReadAt(%d): %v", want.Position, err)
		}
		if got.Position != want.Position || got.Stream != want.Stream || got.Revision != want.Revision || got.ID != want.ID ||
			got.Type != want.Type || !bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Metadata, want.Metadata) || !got.Created.Equal(want.Created) {
			t.Errorf("ReadAt(%d) = %s/%d %s %s, want %s/%d %s %s", want.Position, got.Stream, got.Revision, got.Type, got.ID, want.Stream, want.Revision, want.Type, want.ID)
		}
	}
}

// Position 0 and positions past the head hold no event.
func testReadAtOutside(t *testing.T, s domain.EventStore, r domain.PositionReader) {
	ctx := context.Background()
	if _, err := r.ReadAt(ctx, 1); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("ReadAt(1) on an empty store: %v, want ErrNotFound", err)
	}
	res, err := s.Append(ctx, "p-x", domain.NoStream, ev("x", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []domain.Position{0, res.Position + 1, res.Position + 1000} {
		if _, err := r.ReadAt(ctx, pos); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("ReadAt(%d), head %d: %v, want ErrNotFound", pos, res.Position, err)
		}
	}
}

func testReadAtClosed(t *testing.T, s domain.EventStore, r domain.PositionReader) {
	res, err := s.Append(context.Background(), "p-c", domain.NoStream, ev("x", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(context.Background(), res.Position); !errors.Is(err, domain.ErrClosed) {
		t.Fatalf("ReadAt after close: %v, want ErrClosed", err)
	}
}
