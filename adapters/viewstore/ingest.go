package viewstore

// A bulk load's batches, written as tables of their own and ingested.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ingestSplitFrom is the size (in entries) from which a bulk load's batch is
// written as two tables at once rather than one: the last batch of a
// rebuild is written with nothing left to fold beside it, on one core
// otherwise. A variable for the tests.
var ingestSplitFrom = 4096

// errOutOfOrder: a batch's keys are not in strictly ascending order, so it
// cannot be written as a table.
var errOutOfOrder = errors.New("keys out of order")

// ingest writes a bulk load's batch. A batch of a bulk load is larger than
// half a memtable, so Pebble would sort it, keep it in memory as a
// memtable of its own and flush it as a table; its keys are in order
// already (encode), so it is written as tables directly (sstable.Writer),
// which Pebble then takes in whole (DB.Ingest: one version edit, atomic,
// the tables synced). That spares the sort, the memtable's iteration and
// its extra copy of the batch: measured in docs/benchmarks.md, a rebuild
// 7-10% faster.
//
// A batch out of order cannot be a table; it would be a bug of encode
// (TestACommitsBatchIsInKeyOrder), and it is written as any batch instead,
// with a warning.
func (s *Store) ingest(b *pebble.Batch) error {
	err := s.ingestTables(b)
	if errors.Is(err, errOutOfOrder) {
		s.log.Warn().Err(err).Msg("view store: a bulk batch out of key order, committed through the memtable")
		return b.Commit(pebble.NoSync)
	}
	return err
}

func (s *Store) ingestTables(b *pebble.Batch) error {
	parts, err := splitBatch(b)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(s.dir, "ingest-")
	if err != nil {
		return fmt.Errorf("view store: %w", err)
	}
	defer os.RemoveAll(dir)
	paths := make([]string, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		paths[i] = filepath.Join(dir, fmt.Sprintf("%d.sst", i))
		wg.Go(func() { errs[i] = s.writeTable(paths[i], p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.db.Ingest(context.Background(), paths)
}

// A batchPart is a run of a batch's entries.
type batchPart struct {
	r batchrepr.Reader // positioned at the first
	n int
}

// splitBatch cuts b in two parts of about equal counts (one if it is
// small), checking that the key at the cut follows the key before it.
func splitBatch(b *pebble.Batch) ([]batchPart, error) {
	n := int(b.Count())
	if n < ingestSplitFrom {
		return []batchPart{{r: b.Reader(), n: n}}, nil
	}
	first := batchPart{r: b.Reader(), n: n / 2}
	r := first.r
	var last []byte
	for range first.n {
		_, k, _, ok, err := r.Next()
		if !ok {
			return nil, fmt.Errorf("view store: a batch of %d entries ends early: %v", n, err)
		}
		last = k
	}
	next := r
	if _, k, _, ok, _ := next.Next(); ok && bytes.Compare(last, k) >= 0 {
		return nil, fmt.Errorf("%w: %q before %q", errOutOfOrder, last, k)
	}
	return []batchPart{first, {r: r, n: n - first.n}}, nil
}

// writeTable writes a part of a batch as a table at path.
func (s *Store) writeTable(path string, p batchPart) (err error) {
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("view store: %w", err)
	}
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), s.tables)
	defer func() {
		if cerr := w.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("view store: write %s: %w", path, cerr)
		}
	}()
	var last []byte
	for range p.n {
		kind, k, v, ok, err := p.r.Next()
		if !ok {
			return fmt.Errorf("view store: a batch ends early: %v", err)
		}
		if last != nil && bytes.Compare(last, k) >= 0 {
			return fmt.Errorf("%w: %q before %q", errOutOfOrder, last, k)
		}
		last = k // the batch's own memory, unchanged while it is read
		switch kind {
		case pebble.InternalKeyKindSet:
			err = w.Set(k, v)
		case pebble.InternalKeyKindDelete:
			err = w.Delete(k)
		default:
			err = fmt.Errorf("view store: a batch entry of kind %v", kind)
		}
		if err != nil {
			return fmt.Errorf("view store: write %s: %w", path, err)
		}
	}
	return nil
}
