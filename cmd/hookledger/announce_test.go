package main

import (
	"os"
	"strings"
	"testing"
)

// TestFirstStepsOnAnEmptyLedgerOnly: serve tells how to begin on an empty
// ledger, and not on one that already holds events.
func TestFirstStepsOnAnEmptyLedgerOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	dir := t.TempDir()
	for i, want := range []bool{true, false} {
		srv, _, log := startServer(t, dir, "--log-level", "info", "--log-format", "json")
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		if got := strings.Contains(log.String(), "first steps"); got != want {
			t.Fatalf("start %d: first steps logged %v, want %v:\n%s", i+1, got, want, log.String())
		}
		if !strings.Contains(log.String(), "hookledger is serving") {
			t.Fatalf("start %d: no serving line:\n%s", i+1, log.String())
		}
	}
}
