package pebblestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// TestACheckpointTakenWhileAppendingIsAPrefixOfTheLedger: a checkpoint taken
// while appends go on opens as a ledger that reaches the head it names,
// holds exactly the ledger's events up to its own head, and whose head mark
// lets it open (Open refuses a store below its mark).
func TestACheckpointTakenWhileAppendingIsAPrefixOfTheLedger(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := domain.EventData{ID: fmt.Sprintf("00000000-0000-4000-8000-%04d%08d", w, i), Type: "test.appended", Data: []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}
				if _, err := s.Append(ctx, fmt.Sprintf("test-%d-%d", w, i%7), domain.Any, ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for {
		if h, _ := s.Head(ctx); h > 200 {
			break
		}
	}
	cp := filepath.Join(t.TempDir(), "checkpoint")
	head, err := s.Checkpoint(cp)
	close(stop)
	wg.Wait()
	if err != nil || head < 200 {
		t.Fatalf("checkpoint: head %d, %v", head, err)
	}
	copied, err := pebblestore.Open(cp, pebblestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the checkpoint does not open: %v", err)
	}
	defer copied.Close()
	ch, _ := copied.Head(ctx)
	if ch < head {
		t.Fatalf("the checkpoint reaches %d, below the head %d it names", ch, head)
	}
	want, err := s.ReadAll(ctx, 0, int(ch)+10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := copied.ReadAll(ctx, 0, int(ch)+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != int(ch) {
		t.Fatalf("the checkpoint holds %d events up to %d", len(got), ch)
	}
	for i, g := range got {
		w := want[i]
		if g.Position != w.Position || g.ID != w.ID || g.Stream != w.Stream || g.Revision != w.Revision || string(g.Data) != string(w.Data) {
			t.Fatalf("event %d: the checkpoint holds %+v, the ledger %+v", i, g, w)
		}
	}
	if _, err := s.Checkpoint(cp); err == nil {
		t.Fatal("a checkpoint into a directory that exists was not refused")
	}
}
