package pebblestore

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
)

// TestCorruptRecordIsReportedNotServed flips one byte of a stored record and
// checks that every read path reports it with its position.
func TestCorruptRecordIsReportedNotServed(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, "c", domain.Any, domain.EventData{ID: domain.FormatUUID([]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}), Type: "t", Data: []byte(`{"amount":100}`)}); err != nil {
			t.Fatal(err)
		}
	}
	v, closer, err := s.db.Get(eventKey(2))
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), v...)
	closer.Close()
	bad[len(bad)-3] ^= 0x01 // "amount":100 -> "amount":110 or similar
	if err := s.db.Set(eventKey(2), bad, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		var ce *domain.CorruptError
		if !errors.Is(err, domain.ErrCorrupt) || !errors.As(err, &ce) || ce.Position != 2 {
			t.Fatalf("%s: want a CorruptError at position 2, got %v", what, err)
		}
	}
	evs, err := s.ReadAll(ctx, 0, 10)
	check("read all", err)
	if len(evs) > 1 {
		t.Fatalf("read all served %d events up to and past the corrupt one", len(evs))
	}
	_, err = s.ReadStream(ctx, "c", 0, domain.Forward, 10)
	check("read stream", err)
	if got, err := s.ReadAll(ctx, 3, 10); err != nil || len(got) != 1 {
		t.Fatalf("records after the corrupt one stay readable: %v %v", got, err)
	}

	// A record moved under another key is caught by the position it holds.
	v, closer, _ = s.db.Get(eventKey(3))
	moved := append([]byte(nil), v...)
	closer.Close()
	s.db.Set(eventKey(1), moved, pebble.Sync)
	_, err = s.ReadAll(ctx, 1, 1)
	var ce *domain.CorruptError
	if !errors.As(err, &ce) || ce.Position != 1 {
		t.Fatalf("moved record: %v", err)
	}
}
