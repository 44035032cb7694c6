package viewstore_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/viewstore"
)

// within runs f and fails the test if it has not returned within d.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s still waiting after %v", what, d)
		return nil
	}
}

// TestSyncEndsWhenTheStoreCannotWrite: a view store that can no longer
// create its tables (its directory removed here; a full disk alike) makes
// Pebble retry the flush without end. Sync, which a clean stop calls, and
// Close must end with the error instead of waiting for ever; the store is
// a cache, and the next start replays from its last flushed checkpoint.
// The retries' errors are logged once, not thousands of times a second.
func TestSyncEndsWhenTheStoreCannotWrite(t *testing.T) {
	dir := t.TempDir() + "/views"
	var logs bytes.Buffer
	s := openFolded(t, dir, viewstore.Options{Logger: zerolog.New(&logs)})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := within(t, 10*time.Second, "Sync", s.Sync); err == nil {
		t.Fatal("Sync of a store whose directory is gone succeeded")
	} else if !strings.Contains(err.Error(), "flush failed") {
		t.Fatalf("Sync: %v; want the failed flush named", err)
	}
	time.Sleep(200 * time.Millisecond) // Pebble goes on retrying meanwhile
	if err := within(t, 10*time.Second, "Close", s.Close); err == nil {
		t.Fatal("Close of a store whose directory is gone succeeded")
	}
	lines := strings.Count(logs.String(), "view store background error")
	if lines < 1 || lines > 2 {
		t.Fatalf("%d log lines of background errors during the retries; want one (two if the clock passed 10 s)\n%s", lines, logs.String())
	}
}
