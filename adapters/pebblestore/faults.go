package pebblestore

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/cmalloc"
	"github.com/hookledger/hookledger/domain"
)

// How the store meets storage faults. Pebble's answer to a fault it cannot
// handle is Logger.Fatalf, whose default is os.Exit: a CLI exits with no
// message and a server dies mid-request. Here Fatalf panics with a
// *pebbleFatal instead; the store's own calls into Pebble (open, commit,
// flush, close) recover it into an error, mark the store failed (appends
// refused, Health reports it) and keep the process up. Data corruption that
// Pebble finds while reading is reported through the event listener (logged
// at error, Health reports it) and the read itself fails with ErrCorruption,
// which translate turns into a *domain.CorruptError.

// pebbleFatal is what Fatalf panics with.
type pebbleFatal struct{ msg string }

func (f *pebbleFatal) Error() string {
	if strings.HasPrefix(f.msg, "pebble") {
		return f.msg
	}
	return "pebble: " + f.msg
}

// recoverFatal returns the Pebble fatal error in a recovered value, and
// re-panics anything else (a real bug must not be swallowed).
func recoverFatal(r any) error {
	if r == nil {
		return nil
	}
	if f, ok := r.(*pebbleFatal); ok {
		return f
	}
	panic(r)
}

// applyBatch applies b to Pebble and writes it to the log, without waiting
// for the log's sync (b.SyncWait does); a Pebble fatal error (e.g. "fatal
// commit error: no space left on device") becomes an error.
//
// Pebble marks ApplyNoSyncWait experimental (made for CockroachDB's
// pipelined log writes): what it must keep for us is held by the store's
// fault tests (a failed sync, a full disk, ENOSPC inside Pebble, kill -9),
// which run it against every Pebble version go.mod takes.
func applyBatch(db *pebble.DB, b *pebble.Batch) (err error) {
	defer func() {
		if f := recoverFatal(recover()); f != nil {
			err = f
		}
	}()
	return db.ApplyNoSyncWait(b, pebble.Sync)
}

// flushDB flushes the memtables, giving up at the first background error
// rather than wait for Pebble's endless retries (pebblebg.Watch.Flush): on
// close, what is not flushed is still in the log.
func (s *Store) flushDB() (err error) {
	defer func() {
		if f := recoverFatal(recover()); f != nil {
			err = f
		}
	}()
	return s.bg.Flush(s.db)
}

func closeDB(db *pebble.DB) (err error) {
	defer func() {
		if f := recoverFatal(recover()); f != nil {
			err = f
		}
	}()
	return db.Close()
}

// eventListener reports data corruption without exiting (Pebble's default
// listener calls Fatalf) and logs background errors.
func (s *Store) eventListener() *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			err := fmt.Errorf("data corruption in %s: %v", info.Path, info.Details)
			s.corrupt.CompareAndSwap(nil, &err)
			s.log.Error().Str("file", info.Path).Err(info.Details).Msg("ledger file is corrupt: reads of the damaged data fail; restore the data directory from a backup (docs/operations.md)")
		},
		BackgroundError: func(err error) {
			if pebble.IsCorruptionError(err) {
				s.corrupt.CompareAndSwap(nil, &err)
			}
			s.bg.Report(err)
		},
		// A flush frees a memtable, a compaction its buffers: give the C
		// heap's free memory back, so that RSS stays flat as the ledger grows.
		FlushEnd:      func(pebble.FlushInfo) { cmalloc.Release() },
		CompactionEnd: func(pebble.CompactionInfo) { cmalloc.Release() },
	}
}

// Health says whether the store can take appends, and why not: a failed
// commit (restart needed), corruption found, or the disk under its reserve.
func (s *Store) Health() error {
	if s.closed.Load() {
		return domain.ErrClosed
	}
	if errp := s.failed.Load(); errp != nil {
		return *errp
	}
	if errp := s.corrupt.Load(); errp != nil {
		return &domain.CorruptError{Detail: (*errp).Error()}
	}
	if s.opts.ReadOnly {
		return nil
	}
	return s.checkFree(false)
}

// freeCheckEvery bounds how often appends measure free space.
const freeCheckEvery = 100 * time.Millisecond

// checkFree refuses writes while the data directory's file system has less
// than the reserve free. It measures at most every freeCheckEvery (force:
// now), so it costs appends nothing measurable, and clears by itself when
// space returns.
func (s *Store) checkFree(force bool) error {
	if s.opts.MinFreeBytes < 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if last := s.freeCheck.Load(); !force && now-last < int64(freeCheckEvery) {
		if errp := s.low.Load(); errp != nil {
			return *errp
		}
		return nil
	}
	s.freeCheck.Store(now)
	free, err := s.opts.FreeBytes(s.dir)
	if err != nil {
		s.log.Warn().Err(err).Msg("free space not measured")
		return nil
	}
	if free >= s.opts.MinFreeBytes {
		if s.low.Swap(nil) != nil {
			s.log.Info().Int64("free_bytes", free).Msg("disk space is back: appends accepted again")
		}
		return nil
	}
	err = &DiskFullError{Dir: s.dir, Free: free, Reserve: s.opts.MinFreeBytes}
	if s.low.Swap(&err) == nil {
		s.log.Error().Err(err).Msg("disk almost full: appends refused until space is freed")
	}
	return err
}

// DiskFullError: the data directory's file system is below the reserve. It
// matches domain.ErrUnavailable (retry later) and syscall.ENOSPC.
type DiskFullError struct {
	Dir           string
	Free, Reserve int64
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("disk full: %d MiB free in %s, the store keeps %d MiB in reserve; free space or grow the volume",
		e.Free>>20, e.Dir, e.Reserve>>20)
}

// Is matches domain.ErrUnavailable and syscall.ENOSPC.
func (e *DiskFullError) Is(target error) bool {
	return target == domain.ErrUnavailable || target == syscall.ENOSPC
}

// readOnlyFS opens a store without the directory lock when the lock file
// cannot be created because the file system is read-only (a backup on a
// read-only mount): nothing can write there, so nothing needs excluding.
// Everywhere else the lock is taken as usual, so a running server is noticed.
type readOnlyFS struct{ vfs.FS }

func (f readOnlyFS) Lock(name string) (io.Closer, error) {
	c, err := f.FS.Lock(name)
	if err != nil && (errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) {
		return io.NopCloser(nil), nil
	}
	return c, err
}

// pebbleLogger sends Pebble's logs to zerolog. The store's logger already
// carries its component, so these lines only add their origin.
type pebbleLogger struct{ l zerolog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug().Str("origin", "pebble").Msgf(format, args...)
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error().Str("origin", "pebble").Msgf(format, args...)
}

// Fatalf logs and panics with a *pebbleFatal (see the top of this file);
// it never exits the process.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error().Str("origin", "pebble").Msg(msg)
	panic(&pebbleFatal{msg: msg})
}

// noteCorrupt remembers the first corruption a read met, so that Health
// (and /readyz) report a damaged ledger even when the damage is found by a
// read long after the start. It returns err unchanged.
func (s *Store) noteCorrupt(err error) error {
	if err != nil && errors.Is(err, domain.ErrCorrupt) {
		s.corrupt.CompareAndSwap(nil, &err)
		s.log.Error().Err(err).Msg("the ledger is damaged: a read failed its checksum")
	}
	return err
}
