package viewstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/pebblebg"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Format versions the key layout and the records' encoding. A store of
// another format is discarded at open and rebuilt from the ledger (it is a
// cache). 6: applications and event types hold their version (their ETag).
const Format = 6

// Options configure a Store.
type Options struct {
	Logger zerolog.Logger
	// CacheSize is Pebble's block cache in bytes (default 16 MiB): with the
	// memtables (4 MiB), the bound on what the view store holds in memory.
	CacheSize int64
	// Bulk opens a store that is being built from nothing (a rebuild):
	// each commit's batch is written as tables of its own and ingested into
	// the store (ingest.go), so that each record is written once, without
	// going through a memtable. Sync must end the build. A crash leaves a
	// store that is discarded anyway (an unfinished rebuild).
	Bulk bool
}

// Store is the on-disk view store. It implements projections.Records: the
// fold's changes collect in memory until Commit writes them, with the
// checkpoint, in one batch; reads see them before that.
//
// A Store is not safe for concurrent use on its own: the pipeline calls the
// Records methods and Commit under its views lock (readers under the read
// lock, the fold and Commit under the write lock). Only the write that
// Prepare returns, the second half of a commit, may run alongside them.
type Store struct {
	db  *pebble.DB
	dir string
	log zerolog.Logger
	// bg logs Pebble's background errors, repeats throttled, and bounds
	// Sync's flush (adapters/pebblebg).
	bg     *pebblebg.Watch
	damage *damage

	// What the fold changed since the last Commit.
	msgs    map[string]*projections.MessageView
	newMsgs []*projections.MessageView
	dels    map[string]*changedDelivery
	newDels []*projections.DeliveryView

	// What the last Commit wrote, kept decoded: a delivery's events follow
	// each other within milliseconds, so the next change of a record usually
	// finds it here instead of decoding it from disk. Bounded by one batch.
	cleanMsgs map[string]*projections.MessageView
	cleanDels map[string]cleanDelivery

	stats      map[string]*projections.StatBucket // by statKey, changed since the last Commit
	cleanStats map[string]*projections.StatBucket

	// The prepared commit being written (nil: none), and the first write
	// that failed: it fails every later commit (see Prepare).
	writing *prepared
	failed  error
	// The size of the last commit's batch, and what one of its records
	// took (its key, value and index entries): how large the next batch is
	// made at first (see Prepare). bulk is Options.Bulk.
	lastBatch, perRecord int
	bulk                 bool
	// The options of the tables a bulk load writes (ingest.go).
	tables sstable.WriterOptions
	// lookup serves a bulk store's point reads (lookup.go).
	lookup lookup
	// unwritten is write-locked from Prepare to the end of its write: an
	// iterator made in between would miss the batch's index entries, which
	// are no longer among the changes in memory. Point reads need no lock
	// (the batch's records are kept in memory until the next Prepare).
	unwritten sync.RWMutex
}

// newIter makes an iterator over what is written, once no prepared batch
// waits for its write: a Pebble iterator reads the state at its creation.
func (s *Store) newIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	s.unwritten.RLock()
	defer s.unwritten.RUnlock()
	return s.db.NewIter(o)
}

type cleanDelivery struct {
	d  *projections.DeliveryView
	st openState // as committed (d may be changed in place afterwards)
}

type changedDelivery struct {
	d    *projections.DeliveryView
	base openState // as on disk before this batch
}

// openState is what the open index holds for a delivery.
type openState struct {
	open       bool
	attempting bool  // open, with an attempt started and no outcome yet
	due        int64 // unix nanoseconds
}

func openStateOf(d *projections.DeliveryView) openState {
	return openState{open: projections.IsOpen(d.Status), attempting: d.Status == domain.DeliveryStatusAttempting, due: d.NextDueAt.UnixNano()}
}

// flag is the state's byte in a record header and an open-index value.
func (st openState) flag() byte {
	switch {
	case st.attempting:
		return 2
	case st.open:
		return 1
	}
	return 0
}

type meta struct {
	Format     int             `json:"format"`
	Checkpoint domain.Position `json:"checkpoint"`
	Events     uint64          `json:"events"`
}

var metaKey = []byte("_meta") // "_" is no record kind

// Open opens (or creates) the view store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 16 << 20
	}
	if err := discardIfDamaged(dir, opts.Logger); err != nil {
		return nil, err
	}
	bg := pebblebg.New(func(err error, unlogged int) {
		opts.Logger.Error().Err(err).Int("unlogged_since_last", unlogged).Msg("view store background error (repeats are logged at most every 10 s)")
	}, 0)
	dmg := &damage{dir: dir, log: opts.Logger}
	db, popts, err := openDB(dir, opts, bg, dmg)
	if err != nil {
		return nil, err
	}
	m, err := readMeta(db)
	if err == nil && m != nil && m.Format != Format {
		opts.Logger.Warn().Str("dir", dir).Int("format", m.Format).Int("want", Format).Msg("view store of another format: discarded, rebuilding from the ledger")
		db.Close()
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("view store: remove %s: %w", dir, err)
		}
		if db, popts, err = openDB(dir, opts, bg, dmg); err != nil {
			return nil, err
		}
	} else if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, dir: dir, log: opts.Logger, bulk: opts.Bulk, bg: bg, damage: dmg}
	if opts.Bulk {
		// pebble.Open set the defaults on a copy of the options.
		o := popts.Clone()
		o.EnsureDefaults()
		s.tables = o.MakeWriterOptions(0, db.TableFormat())
	}
	s.reset()
	return s, nil
}

func readMeta(db *pebble.DB) (*meta, error) {
	b, closer, err := db.Get(metaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("view store: read meta: %w", err)
	}
	defer closer.Close()
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("view store: decode meta: %w", err)
	}
	return &m, nil
}

func (s *Store) reset() {
	s.msgs = map[string]*projections.MessageView{}
	s.newMsgs = nil
	s.dels = map[string]*changedDelivery{}
	s.newDels = nil
	s.stats = map[string]*projections.StatBucket{}
}

// Dir is where the store lives.
func (s *Store) Dir() string { return s.dir }

// Close writes what was committed out to tables, as Sync does, and closes
// the store; uncommitted changes are dropped (the fold replays them from the
// checkpoint).
func (s *Store) Close() error {
	err := s.Sync()
	return errors.Join(err, s.dropLookup(), s.db.Close())
}

// Load returns the views as of the store's checkpoint, folding messages and
// deliveries into this store, and the pipeline state saved with them (key
// without its kind byte -> value). The configuration views are read into
// memory; records stay on disk.
func (s *Store) Load() (*projections.Views, map[string][]byte, error) {
	v := projections.NewOver(s)
	m, err := readMeta(s.db)
	if err != nil {
		return nil, nil, err
	}
	if m != nil {
		v.Checkpoint, v.Events = m.Checkpoint, m.Events
	}
	if err := loadKind(s.db, 'a', func(id string, b []byte) error {
		var a domain.Application
		err := json.Unmarshal(b, &a)
		v.Applications[id] = a
		return err
	}); err != nil {
		return nil, nil, err
	}
	if err := loadKind(s.db, 's', func(id string, b []byte) error {
		sv := &projections.SubscriptionView{}
		err := json.Unmarshal(b, sv)
		v.Subscriptions[id] = sv
		return err
	}); err != nil {
		return nil, nil, err
	}
	if err := loadKind(s.db, 'k', func(id string, b []byte) error {
		k := &domain.APIKey{}
		err := json.Unmarshal(b, k)
		v.Keys[id] = k
		return err
	}); err != nil {
		return nil, nil, err
	}
	if err := loadKind(s.db, 't', func(id string, b []byte) error {
		var et domain.EventTypeDef
		err := json.Unmarshal(b, &et)
		v.EventTypes[id] = et
		return err
	}); err != nil {
		return nil, nil, err
	}
	v.Restore()
	state := map[string][]byte{}
	if err := loadKind(s.db, 'f', func(k string, b []byte) error {
		state[k] = append([]byte(nil), b...)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return v, state, nil
}

func loadKind(db *pebble.DB, kind byte, fn func(id string, b []byte) error) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(string(it.Key()[1:]), it.Value()); err != nil {
			return fmt.Errorf("view store: decode %q: %w", it.Key(), err)
		}
	}
	return it.Error()
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
