package viewstore

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/cmalloc"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Format versions the key layout. A store of another format is discarded at
// open and rebuilt from the ledger (it is a cache).
const Format = 5

// Options configure a Store.
type Options struct {
	Logger zerolog.Logger
	// CacheSize is Pebble's block cache in bytes (default 16 MiB): with the
	// memtables (4 MiB), the bound on what the view store holds in memory.
	CacheSize int64
	// Bulk opens a store that is being built from nothing (a rebuild)
	// without a write-ahead log, so that each record is written once, not
	// to the log and again to a table. Sync must end the build: what was
	// not synced is lost at Close or a crash (an unfinished rebuild is
	// discarded anyway).
	Bulk bool
}

// firstPerRecord is a first commit's guess of what a changed record takes in
// its batch (a message with its index entry, or a delivery with its index
// entries: 300-500 bytes); later commits go by the one before.
const firstPerRecord = 400

// liveL0CompactionThreshold is how many L0 tables of a serving store gather
// before they are compacted into the level below (Pebble's default is 4).
const liveL0CompactionThreshold = 12

// setServingFileSizes makes a serving store's flushes split into tables of
// about 256 KiB and its top levels' tables 512 KiB (Pebble's defaults: 2
// and 4 MiB), doubling from the level below Lbase on.
//
// Why: a flush holds every kind of key, so as one table it overlaps every
// table of the level below, and merging it rewrote that whole level: for a
// backlog of 100,000 deliveries, 316 MB written by compactions for a store
// of 32 MB. Most of a flush's keys are new ids, new positions and later due
// times, at the end of their kind's range (ids are time-ordered), so split
// finely, its pieces overlap few of the level's tables, and the rest is
// left alone: 119 MB. Measured in docs/benchmarks.md: backlog CPU per
// delivery -9%, drain +15%. Lower levels, which a large history fills, keep
// larger tables, not thousands of small ones.
func setServingFileSizes(o *pebble.Options) {
	o.FlushSplitBytes = 256 << 10
	o.TargetFileSizes[0] = 512 << 10 // L0
	o.TargetFileSizes[1] = 512 << 10 // Lbase
	for i := 2; i < len(o.TargetFileSizes); i++ {
		o.TargetFileSizes[i] = 2 * o.TargetFileSizes[i-1]
	}
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
	// perRecord is what a changed record took in the last commit's batch
	// (its key, value and index entries): the next batch's first
	// allocation is that times its records.
	perRecord int
	// unwritten is write-locked from Prepare to the end of its write: an
	// iterator made in between would miss the batch's index entries, which
	// are no longer among the changes in memory. Point reads need no lock
	// (the batch's records are kept in memory until the next Prepare).
	unwritten sync.RWMutex
}

// A prepared commit holds a batch encoded by Prepare, written once by the
// function Prepare returns.
type prepared struct {
	b       *pebble.Batch
	at      domain.Position
	written func() // unlocks Store.unwritten
	done    chan struct{}
	err     error
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
	db, err := openDB(dir, opts)
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
		if db, err = openDB(dir, opts); err != nil {
			return nil, err
		}
	} else if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, dir: dir, log: opts.Logger}
	s.reset()
	return s, nil
}

func openDB(dir string, opts Options) (*pebble.DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("view store: %w", err)
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	popts := &pebble.Options{
		Cache:        cache,
		MemTableSize: 4 << 20,
		Logger:       pebbleLogger{opts.Logger},
		// As the ledger does (adapters/pebblestore): freed memtables and
		// compaction buffers go back to the kernel.
		EventListener: &pebble.EventListener{
			FlushEnd:      func(pebble.FlushInfo) { cmalloc.Release() },
			CompactionEnd: func(pebble.CompactionInfo) { cmalloc.Release() },
		},
		// A delivery's record and its open-index entries are written when it
		// is scheduled, when its attempt starts and when it ends, and every
		// flush's table overlaps the level below wherever those deliveries
		// sit, so each L0 compaction rewrites much of that level: for a
		// backlog of 100,000 messages, 51 compactions rewrote 663 MB of a
		// store of about 35 MB. Letting 12 flushes gather, not 4, rewrites it
		// a third as often, as for the ledger (adapters/pebblestore).
		// Measured in docs/benchmarks.md: fan-out +26%, backlog ingest +14%,
		// throughput +8%; reads merge more tables (a listing page 0.45 ->
		// 0.7 ms at the median), bounded by the threshold, not the history.
		L0CompactionThreshold: liveL0CompactionThreshold,
		L0StopWritesThreshold: 4 * liveL0CompactionThreshold,
		// No write-ahead log: a batch is in a memtable until Pebble writes
		// the memtable out to a table, and a crash loses the memtables, never
		// part of one (a batch goes whole into one memtable, and memtables
		// are written out in order), so the store opens at an older
		// checkpoint consistent with its records, and the ledger replays
		// the rest: at most the memtables' few MiB of changes, whatever the
		// history. The log wrote every change a second time (127 MB for a
		// backlog of 100,000 deliveries, beside 59 MB of tables), for a
		// cache whose writes were never synced anyway.
		DisableWAL: true,
	}
	if opts.Bulk {
		// A bulk load commits batches of tens of thousands of events, each
		// larger than half a memtable, which Pebble writes out as a table of
		// its own in L0. At the default threshold (4 tables) L0 is merged
		// into the levels below every fourth batch, rewriting them again and
		// again as they grow; at 16 the rewrites are a quarter as many. The
		// store is read little while it is loaded (bloom filters answer the
		// fold's point reads), and once opened for serving it compacts the
		// rest at the usual thresholds. Measured: rebuilds 25-35% faster
		// (docs/benchmarks.md).
		popts.L0CompactionThreshold = 16
		popts.L0StopWritesThreshold = 64
	} else {
		setServingFileSizes(popts)
	}
	// Every table spans all record kinds (a commit batch writes messages,
	// deliveries and index entries together), so without filters a point read
	// of one record opens every overlapping table; a listing page is 50 of
	// them. Ten bits per key: ~1% false positives, filter blocks share the cache.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("view store %s: %w", dir, err)
	}
	return db, nil
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
	return errors.Join(err, s.db.Close())
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

// Commit writes, in one atomic batch: the records and configuration views
// the fold changed since the last Commit, their index entries, the pipeline
// state changes (a nil value deletes the key), and v's checkpoint. The batch
// is not logged nor synced (see the package comment).
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
	// Sized as the last batch was per record: a batch grown by doubling
	// copies itself over and over (a rebuild's first batch of 11 MB, from
	// nothing, was 7% of the memory the rebuild allocated).
	changed := v.TakeChanged()
	records := len(changed.Applications) + len(changed.Subscriptions) + len(changed.Keys) + len(changed.EventTypes) +
		len(s.msgs) + len(s.dels) + len(s.stats) + len(state) + 1
	// A quarter more: records differ in size (a message's is smaller than a
	// delivery's), and a batch a little short of its size doubles.
	b := s.db.NewBatchWithSize(records * cmp.Or(s.perRecord, firstPerRecord) * 5 / 4)
	put := func(k []byte, val any) {
		if err != nil {
			return
		}
		var raw []byte
		if raw, err = json.Marshal(val); err == nil {
			err = b.Set(k, raw, nil)
		}
	}
	for id := range changed.Applications {
		put(key('a', id), v.Applications[id])
	}
	for id := range changed.Subscriptions {
		put(key('s', id), v.Subscriptions[id])
	}
	for id := range changed.Keys {
		put(key('k', id), v.Keys[id])
	}
	for name := range changed.EventTypes {
		put(key('t', name), v.EventTypes[name])
	}
	// One key and one value buffer serve every record: Pebble copies both
	// into the batch, and a commit of tens of thousands of records would
	// otherwise allocate each.
	var kb, vb []byte
	set := func(k, val []byte) {
		if err == nil {
			err = b.Set(k, val, nil)
		}
	}
	del := func(k []byte) {
		if err == nil {
			err = b.Delete(k, nil)
		}
	}
	for _, m := range s.newMsgs {
		kb = appendIndexKey(kb[:0], "xm", m.ApplicationID, m.Position)
		set(kb, append(vb[:0], m.ID...))
	}
	for id, m := range s.msgs {
		kb, vb = appendKey(kb[:0], 'm', id), appendMessage(vb[:0], m)
		set(kb, vb)
	}
	for _, d := range s.newDels {
		vb = append(vb[:0], d.ID...)
		set(appendIndexKey(kb[:0], "xa", d.ApplicationID, d.ScheduledPosition), vb)
		set(appendIndexKey(kb[:0], "xs", d.SubscriptionID, d.ScheduledPosition), vb)
	}
	for id, c := range s.dels {
		if err != nil {
			break
		}
		now := openStateOf(c.d)
		// An attempt's start changes the entry's value, not its key (the
		// same due time): the set below replaces it.
		if c.base.open && c.base != now && !(now.open && now.due == c.base.due) {
			del(appendOpenKey(kb[:0], c.d.SubscriptionID, c.base.due, id))
		}
		if now.open && c.base != now {
			set(appendOpenKey(kb[:0], c.d.SubscriptionID, now.due, id), append(vb[:0], now.flag()))
		}
		if c.base.attempting != now.attempting {
			if now.attempting {
				set(appendKey(kb[:0], 'w', id), nil)
			} else {
				del(appendKey(kb[:0], 'w', id))
			}
		}
		if c.base.open != now.open {
			if now.open {
				set(appendOrderKey(kb[:0], c.d.SubscriptionID, c.d.MessagePosition, id), nil)
			} else {
				del(appendOrderKey(kb[:0], c.d.SubscriptionID, c.d.MessagePosition, id))
			}
		}
		kb, vb = appendKey(kb[:0], 'd', id), appendDelivery(vb[:0], c.d)
		set(kb, vb)
	}
	for k, st := range s.stats {
		put([]byte(k), st)
	}
	for k, val := range state {
		if err != nil {
			break
		}
		if val == nil {
			err = b.Delete(key('f', k), nil)
		} else {
			err = b.Set(key('f', k), val, nil)
		}
	}
	put(metaKey, meta{Format: Format, Checkpoint: v.Checkpoint, Events: v.Events})
	s.perRecord = b.Len()/records + 1
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
	s.writing = p
	return p.write, nil
}

// write writes the batch, not fsynced.
func (p *prepared) write() error {
	p.err = p.b.Commit(pebble.NoSync)
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
// then replays nothing): the memtables are flushed to tables, so nothing
// depends on the unsynced write-ahead log.
func (s *Store) Sync() error {
	if err := s.wait(); err != nil {
		return err
	}
	return s.db.Flush()
}

// A delivery's value: one byte (0 closed, 1 open, 2 open and attempting), its due time (8 bytes), then its
// fields (codec.go). The header lets a change find the open-index entry to
// replace without decoding the rest.
func encodeDelivery(d *projections.DeliveryView) ([]byte, error) {
	return appendDelivery(make([]byte, 0, 160), d), nil
}

func appendDelivery(out []byte, d *projections.DeliveryView) []byte {
	st := openStateOf(d)
	out = binary.BigEndian.AppendUint64(append(out, st.flag()), uint64(st.due))
	return appendDeliveryFields(out, d)
}

func decodeDeliveryHeader(b []byte) (openState, error) {
	if len(b) < 9 {
		return openState{}, errors.New("delivery record too short")
	}
	return openState{open: b[0] != 0, attempting: b[0] == 2, due: int64(binary.BigEndian.Uint64(b[1:9]))}, nil
}

func decodeDelivery(b []byte) (*projections.DeliveryView, error) {
	if len(b) < 9 {
		return nil, errors.New("delivery record too short")
	}
	return decodeDeliveryFields(b[9:])
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
