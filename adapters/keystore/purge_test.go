package keystore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hookledger/hookledger/adapters/pebblebg/pebblebgtest"
)

// TestDestroyFailsWhenItsFlushFails: destroying keys flushes the key store
// so that no table keeps a destroyed key. When that flush fails, the
// erasure must fail with the error, not wait for Pebble's retries.
func TestDestroyFailsWhenItsFlushFails(t *testing.T) {
	files := &pebblebgtest.FS{FS: vfs.Default}
	l, err := openLocalOn(t.TempDir(), false, files)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := Record{Master: "m", Nonce: []byte("n"), Wrapped: []byte("w"), CreatedAt: time.Unix(1, 0)}
	if err := l.Create(ctx, "app/2026-12-06", 1, "app/2026-12-06.1", rec); err != nil {
		t.Fatal(err)
	}
	files.Refuse.Store(true)
	done := make(chan error, 1)
	go func() {
		done <- l.Destroy(ctx, []string{"app/2026-12-06.1"}, Tombstone{ErasureID: "e", DestroyedAt: time.Unix(2, 0)})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, pebblebgtest.ErrRefused) {
			t.Fatalf("Destroy with a failing flush: %v; want the flush's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Destroy still waiting for a flush that cannot succeed after 10 s")
	}
	files.Refuse.Store(false) // the disk comes back: the store closes
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestADamagedTableFailsTheReadNotTheProcess: a byte flipped in a table of
// the key store. Reading a key in it returns an error (which fails the
// attempt that needed it, and is retried), where Pebble's default would end
// the process from inside the read.
func TestADamagedTableFailsTheReadNotTheProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := openLocal(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := Record{Master: "m", Nonce: []byte("n"), Wrapped: []byte("w"), CreatedAt: time.Unix(1, 0)}
	for _, id := range []string{"app/2026-12-06.1", "app/2026-12-07.1"} {
		if err := l.Create(ctx, id[:len(id)-2], 1, id, rec); err != nil {
			t.Fatal(err)
		}
	}
	// Destroying one key flushes the store: the other is then in a table.
	if err := l.Destroy(ctx, []string{"app/2026-12-07.1"}, Tombstone{ErasureID: "e", DestroyedAt: time.Unix(2, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table to damage")
	}
	for _, p := range tables {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[20] ^= 0x10 // in the first data block
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	l, err = openLocal(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Damaged() != nil {
		t.Fatal("damaged before anything was read")
	}
	if _, _, err := l.Get(ctx, "app/2026-12-06.1"); err == nil {
		t.Fatal("a key read back from a damaged table")
	}
	if l.Damaged() == nil {
		t.Fatal("a read met a damaged table and the store does not say it is damaged")
	}
}
