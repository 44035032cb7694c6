package pebblestore

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/adapters/fsync"
	"github.com/hookledger/hookledger/domain"
)

// Checkpoint writes a copy of the ledger into dir (which must not exist)
// while the store keeps serving: Pebble's checkpoint, whose tables and blob
// files are hard links where the file system allows and whose log is copied
// after a sync, and a head mark. The mark names the durable head read before
// the checkpoint was taken, which the copy reaches: every append
// acknowledged by then is in it (appends after may be too, as after a
// crash). head is that position.
func (s *Store) Checkpoint(dir string) (head domain.Position, err error) {
	if s.mark == nil {
		return 0, fmt.Errorf("checkpoint: the store is open read-only")
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return 0, domain.ErrClosed
	}
	head = domain.Position(s.head.Load())
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return 0, fmt.Errorf("checkpoint the ledger into %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, HeadMarkFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(encodeMark(1, uint64(head))); err != nil {
		return 0, fmt.Errorf("checkpoint: write %s: %w", HeadMarkFile, err)
	}
	if err := fsync.Sync(f); err != nil {
		return 0, fmt.Errorf("checkpoint: sync %s: %w", HeadMarkFile, err)
	}
	return head, nil
}
