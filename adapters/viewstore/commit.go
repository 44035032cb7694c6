package viewstore

// Commits: the fold's changes encoded into one batch (Prepare) and written
// (the function Prepare returns).

import (
	"cmp"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// firstPerRecord is a bulk load's first guess of what a changed record takes
// in its batch (a message with its index entry, or a delivery with its index
// entries: 300-500 bytes); later commits go by the one before.
const firstPerRecord = 400

// A prepared commit holds a batch encoded by Prepare, written once by the
// function Prepare returns.
type prepared struct {
	b       *pebble.Batch
	at      domain.Position
	written func() // unlocks Store.unwritten
	done    chan struct{}
	err     error
	commit  func(*pebble.Batch) error // how b is written (nil: b.Commit)
}

// Commit writes, in one atomic batch: the records and configuration views
// the fold changed since the last Commit, their index entries, the pipeline
// state changes (a nil value deletes the key), and v's checkpoint. The batch
// is not logged nor synced (see the package comment); a bulk store's is
// written as tables (Options.Bulk).
func (s *Store) Commit(v *projections.Views, state map[string][]byte) error {
	write, err := s.Prepare(v, state)
	if err != nil {
		return err
	}
	return write()
}

// Prepare does the first half of Commit: it encodes what Commit writes into a
// batch and takes it from the changes pending, so that the fold can go on
// (and change the same records) while write, the second half, writes the
// batch. write must be called once; it may run on another goroutine,
// concurrently with reads and the fold's changes, but not with another
// Prepare, Commit, Sync or Close, which wait for it (one write at a time, in
// order). Until it ends, the batch's records are read from memory, and
// scans of the indexes wait for it.
//
// A failed write loses the batch's changes, so it fails every later commit
// too: the checkpoint on disk stays before them, and the next start replays
// from there.
func (s *Store) Prepare(v *projections.Views, state map[string][]byte) (write func() error, err error) {
	if err = s.wait(); err != nil {
		return nil, err
	}
	if err = s.dropLookup(); err != nil {
		return nil, fmt.Errorf("view store: %w", err)
	}
	// A batch grown by doubling copies itself over and over, so it starts
	// at about the size it will have. A serving store's commits are alike
	// and small: as large as the last one. A bulk load's are tens of MB, the
	// first from nothing and the next larger than the one before (the
	// doubling was 9% of all a rebuild allocated): its records times what
	// one took in the last batch, and a quarter more, as records differ (a
	// message's is smaller than a delivery's). Serving stores sized that way
	// showed no gain (docs/benchmarks.md).
	changed := v.TakeChanged()
	records := len(changed.Applications) + len(changed.Subscriptions) + len(changed.Keys) + len(changed.EventTypes) +
		len(s.msgs) + len(s.dels) + len(s.stats) + len(state) + 1
	size := s.lastBatch
	if s.bulk {
		size = records * cmp.Or(s.perRecord, firstPerRecord) * 5 / 4
	}
	b := s.db.NewBatchWithSize(size)
	err = s.encode(b, v, changed, state)
	s.lastBatch, s.perRecord = b.Len(), b.Len()/records+1
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("view store: commit at %d: %w", v.Checkpoint, err)
	}
	s.cleanMsgs = s.msgs
	s.cleanStats = s.stats
	s.cleanDels = make(map[string]cleanDelivery, len(s.dels))
	for id, c := range s.dels {
		s.cleanDels[id] = cleanDelivery{d: c.d, st: openStateOf(c.d)}
	}
	s.reset()
	s.unwritten.Lock()
	p := &prepared{b: b, at: v.Checkpoint, written: s.unwritten.Unlock, done: make(chan struct{})}
	if s.bulk {
		p.commit = s.ingest
	}
	s.writing = p
	return p.write, nil
}

// write writes the batch: not fsynced, unless as tables (Options.Bulk).
func (p *prepared) write() error {
	if p.commit != nil {
		p.err = p.commit(p.b)
	} else {
		p.err = p.b.Commit(pebble.NoSync)
	}
	p.b.Close()
	p.written()
	if p.err != nil {
		p.err = fmt.Errorf("view store: commit at %d: %w", p.at, p.err)
	}
	close(p.done)
	return p.err
}

// wait waits for the write in progress and answers the first failed one.
func (s *Store) wait() error {
	if s.writing != nil {
		<-s.writing.done
		if s.writing.err != nil && s.failed == nil {
			s.failed = s.writing.err
		}
		s.writing = nil
	}
	return s.failed
}

// Pending says how many records wait for the next Commit.
func (s *Store) Pending() int { return len(s.msgs) + len(s.dels) }

// Sync makes what was committed durable (at a clean stop: the next start
// then replays nothing): the memtables are flushed to tables. A flush that
// fails (an unwritable directory, a full disk) ends Sync with its error
// instead of waiting for Pebble's retries: the store then opens next time
// at its last flushed checkpoint, and the ledger replays the rest.
func (s *Store) Sync() error {
	if err := s.wait(); err != nil {
		return err
	}
	if err := s.dropLookup(); err != nil {
		return fmt.Errorf("view store: %w", err)
	}
	if err := s.bg.Flush(s.db); err != nil {
		return fmt.Errorf("view store: %w", err)
	}
	return nil
}
