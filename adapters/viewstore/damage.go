package viewstore

// A damaged view store: found, reported, and rebuilt at the next start.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"
)

// damagedMark is the file that marks a view store found damaged: the next
// Open discards the store, and the ledger's fold rebuilds it.
const damagedMark = "DAMAGED"

// damage keeps the first data corruption Pebble reported in the store (a
// checksum that does not match: a damaged disk, a file changed by hand).
// Pebble's default would end the process from inside a read; reads of the
// damaged data fail instead, and the store is a cache of the ledger, so it
// is marked to be rebuilt at the next start, and Damaged says so until then
// (the API's /readyz answers 503).
type damage struct {
	dir   string
	log   zerolog.Logger
	first atomic.Pointer[error]
}

// report takes Pebble's report (pebble.EventListener.DataCorruption).
func (d *damage) report(info pebble.DataCorruptionInfo) {
	err := fmt.Errorf("data corruption in %s: %v", info.Path, info.Details)
	if !d.first.CompareAndSwap(nil, &err) {
		return
	}
	if werr := os.WriteFile(filepath.Join(d.dir, damagedMark), []byte(err.Error()+"\n"), 0o640); werr != nil {
		d.log.Error().Err(err).AnErr("mark_error", werr).Msg("the view store is damaged, and could not be marked to be rebuilt: run `hookledger rebuild` before the next start")
		return
	}
	d.log.Error().Err(err).Msg("the view store is damaged: reads of the damaged records fail or miss them (/readyz answers 503); it is rebuilt from the ledger at the next start")
}

func (d *damage) err() error {
	if p := d.first.Load(); p != nil {
		return *p
	}
	return nil
}

// discardIfDamaged removes the store in dir if it was marked damaged, and
// says so.
func discardIfDamaged(dir string, log zerolog.Logger) error {
	why, err := os.ReadFile(filepath.Join(dir, damagedMark))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("view store: %w", err)
	}
	log.Warn().Str("dir", dir).Str("damage", string(why)).Msg("view store found damaged while serving: discarded, rebuilding from the ledger")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("view store: remove %s: %w", dir, err)
	}
	return nil
}

// MarkedDamaged says whether the store in dir was found damaged while it
// served (the next Open discards it).
func MarkedDamaged(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, damagedMark))
	return err == nil
}

// Damaged says whether the store found data corruption since it opened
// (nil: none). A damaged store is rebuilt at the next start.
func (s *Store) Damaged() error { return s.damage.err() }
