package viewstore

// A bulk load's point reads of the records it wrote in earlier commits.

import (
	"bytes"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// lookup is the iterator a bulk store's point reads go through, kept from
// one read to the next and made anew after each commit is written.
//
// A rebuild of a ledger whose deliveries were attempted long after they
// were scheduled (a backlog drained after an outage) folds each attempt
// into a record committed batches before, which it reads back twice
// (Delivery, then PutDelivery for the record's index entries). Through
// Get, each read built an iterator over every level of the store and
// dropped it: a tenth of such a rebuild's CPU. One iterator seeking from
// key to key, mostly forward as deliveries are attempted in about the
// order they were scheduled, spares that: a rebuild of 800,000 events of a
// drained backlog 19% faster in the median of four runs
// (docs/benchmarks.md, twenty-sixth session).
//
// A Pebble iterator reads the state at its creation, so it is dropped in
// Prepare once the write before has ended: until then, the records of the
// batch being written are read from memory (cleanDels, cleanMsgs), and
// every earlier batch is in the tables the iterator sees. Only a bulk
// store reads through it: its one user is a rebuild's fold. The mutex
// keeps it right should readers share it anyway.
type lookup struct {
	mu sync.Mutex
	it *pebble.Iterator
}

// Close ends a read through the lookup (io.Closer, as Get's closer is).
func (l *lookup) Close() error {
	l.mu.Unlock()
	return nil
}

// get reads k's value from what is written, valid until closer is closed:
// through the lookup in a bulk store, through Get otherwise. An absent key
// answers pebble.ErrNotFound, as Get does.
func (s *Store) get(k []byte) (value []byte, closer io.Closer, err error) {
	if !s.bulk {
		return s.db.Get(k)
	}
	l := &s.lookup
	l.mu.Lock()
	if l.it == nil {
		if l.it, err = s.db.NewIter(nil); err != nil {
			l.it = nil
			l.mu.Unlock()
			return nil, nil, err
		}
	}
	if !l.it.SeekPrefixGE(k) || !bytes.Equal(l.it.Key(), k) {
		err = l.it.Error()
		l.mu.Unlock()
		if err == nil {
			err = pebble.ErrNotFound
		}
		return nil, nil, err
	}
	if value, err = l.it.ValueAndErr(); err != nil {
		l.mu.Unlock()
		return nil, nil, err
	}
	return value, l, nil
}

// dropLookup closes the lookup's iterator, for the next read to see what
// was written since.
func (s *Store) dropLookup() error {
	l := &s.lookup
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.it == nil {
		return nil
	}
	err := l.it.Close()
	l.it = nil
	return err
}
