package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// A rebuild reads the ledger and writes only views: not one file of the
// ledger changes, not even the log Pebble replays when it opens (a store
// opened for writing would flush it to a table).
func TestRebuildLeavesTheLedgerUntouched(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	dir := t.TempDir()
	s, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmds := &domain.Commands{Store: s, Now: time.Now, NewEventID: ids.NewEventID}
	for i := range 50 {
		if _, _, err := cmds.CreateApplication(context.Background(), domain.CreateApplication{ApplicationID: fmt.Sprintf("app_%d", i), Name: "n"}, domain.Metadata{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ledger := func() map[string][32]byte {
		t.Helper()
		files := map[string][32]byte{}
		views := filepath.Join(dir, "views")
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || path == views {
				if err == nil {
					err = filepath.SkipDir
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(path)
			files[path] = sha256.Sum256(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	before := ledger()
	if out, code := runCLI(t, "rebuild", "--data-dir", dir, "--log-level", "error"); code != 0 {
		t.Fatalf("rebuild: %d %s", code, out)
	}
	after := ledger()
	for path, sum := range before {
		if got, ok := after[path]; !ok {
			t.Errorf("%s: removed by the rebuild", path)
		} else if got != sum {
			t.Errorf("%s: changed by the rebuild", path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s: created by the rebuild", path)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "views", "embedded")); err != nil {
		t.Errorf("no views rebuilt: %v", err)
	}
}
