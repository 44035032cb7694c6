package pebblestore

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/adapters/storetest"
	"github.com/hookledger/hookledger/domain"
)

// A page WithoutBodies gets each message.published without its body, and
// every other event whole; a record whose body was altered is still
// reported, though its body is not copied.
func TestAPageWithoutBodiesLeavesThemOutAndStillChecksThem(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	n := storetest.BodiesLedger(t, s)
	whole, err := s.ReadAll(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	page := domain.Page{WithoutBodies: true}
	got, err := s.ReadAllInto(ctx, 0, n, &page)
	if err != nil || len(got) != n {
		t.Fatalf("%d events, %v", len(got), err)
	}
	bodies := 0
	for i, e := range got {
		if e.Type != domain.TypeMessagePublished {
			if !bytes.Equal(e.Data, whole[i].Data) {
				t.Errorf("position %d (%s): %q, want it whole", e.Position, e.Type, e.Data)
			}
			continue
		}
		bodies++
		if bytes.Contains(e.Data, []byte(`"payload"`)) || bytes.Contains(e.Data, []byte(`"payload_sealed"`)) || len(e.Data) >= len(whole[i].Data) {
			t.Errorf("position %d: the body is in the page: %.160q", e.Position, e.Data)
		}
	}
	if bodies != n/2 {
		t.Fatalf("%d message.published read, want %d", bodies, n/2)
	}

	// Alter one byte of the first message's sealed body on disk.
	pos := got[0].Position
	v, closer, err := s.db.Get(eventKey(pos))
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), v...)
	closer.Close()
	at := bytes.Index(bad, []byte(`"ciphertext":"`))
	if at < 0 {
		t.Fatalf("no sealed body in the record at %d", pos)
	}
	bad[at+20] ^= 0x01
	if err := s.db.Set(eventKey(pos), bad, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_, err = s.ReadAllInto(ctx, 0, n, &page)
	var ce *domain.CorruptError
	if !errors.As(err, &ce) || ce.Position != pos {
		t.Fatalf("a body altered on disk, read without bodies: %v, want a CorruptError at %d", err, pos)
	}
}
