package pebblestore

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// TestTamperingWithTheFilesIsCaughtByVerify plays an attacker with write
// access to the data directory: they open the database files directly and
// rewrite one event with a valid record checksum (so the store itself cannot
// tell). The seals still catch it, at that event's position.
func TestTamperingWithTheFilesIsCaughtByVerify(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		data := []byte(`{"amount":100}`)
		if _, err := s.Append(ctx, "payments", domain.Any, domain.EventData{ID: ids.NewEventID(), Type: "payment.made", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(nil)
	sctx, cancel := context.WithCancel(ctx)
	sealer := &audit.Sealer{Store: s, Key: key, Every: 20, Interval: 10 * time.Millisecond, NewEventID: ids.NewEventID, Log: zerolog.Nop()}
	done := make(chan error, 1)
	go func() { done <- sealer.Run(sctx) }()
	for {
		last, _, ok, _ := audit.LastSeal(ctx, s)
		if ok && last.ToSeq == 50 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	pub := key.Public().(ed25519.PublicKey)
	if rep, _ := audit.Verify(ctx, s, pub, nil); !rep.OK {
		t.Fatalf("untouched: %+v", rep.Problem)
	}
	s.Close()

	// The attacker: raw database access, record re-encoded with a valid CRC.
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const target = domain.Position(33)
	v, closer, err := db.Get(eventKey(target))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeRecord(append([]byte(nil), v...), target, &interner{m: map[string]string{}})
	closer.Close()
	if err != nil {
		t.Fatal(err)
	}
	forged := domain.EventData{ID: rec.ID, Type: rec.Type, Data: []byte(`{"amount":900}`), Metadata: rec.Metadata}
	raw := appendRecord(nil, target, rec.Revision, rec.Created.UnixNano(), rec.Stream, &forged)
	if binary.BigEndian.Uint32(raw) == 0 {
		t.Fatal("no checksum")
	}
	if err := db.Set(eventKey(target), raw, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ReadAll(ctx, target, 1)
	if err != nil || string(got[0].Data) != `{"amount":900}` {
		t.Fatalf("the forged record should read back cleanly (valid checksum): %v", err)
	}
	rep, err := audit.Verify(ctx, s, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problem.Kind != audit.KindChanged || rep.Problem.Position != target {
		t.Fatalf("verify: %+v", rep.Problem)
	}
}
