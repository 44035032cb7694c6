package pebblestore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/domain"
)

// TestAMissingHeadMarkIsSaid: a ledger with events opened without its head
// mark (a copy made without it, or the mark removed) cannot be checked for
// truncation; the open says so rather than pass in silence. A new ledger,
// which has no mark yet, says nothing.
func TestAMissingHeadMarkIsSaid(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	s, err := Open(dir, Options{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "s", domain.Any, numberedEvent(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "no head mark") {
		t.Fatalf("a new ledger warned of its missing mark: %s", logs.String())
	}
	if err := os.Remove(filepath.Join(dir, HeadMarkFile)); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	s, err = Open(dir, Options{Logger: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "no head mark") {
		t.Fatalf("a ledger with events opened without its mark in silence: %s", logs.String())
	}
}
