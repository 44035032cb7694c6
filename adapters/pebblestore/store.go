package pebblestore

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/fsync"
	"github.com/hookledger/hookledger/adapters/pebblebg"
	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
)

// Options tune the store. The zero value is usable.
type Options struct {
	// Logger receives the store's and Pebble's logs (default: discarded).
	Logger zerolog.Logger
	// CacheSize is Pebble's block cache in bytes (default 40 MiB). Every
	// append to a new stream looks up a head that is not there; bloom
	// filters answer those misses, so the cache no longer has to hold the
	// heads (without filters, 32 MiB cost 2.5x the CPU of 64 MiB), and a
	// cache that fills early keeps the resident memory flat as the history
	// grows. 24 MiB was flatter still but drained a backlog 15% slower
	// (docs/benchmarks.md).
	//
	// Opened ReadOnly the default is 8 MiB (readOnlyCacheSize).
	CacheSize int64
	// MemTableSize is the size of one Pebble memtable in bytes (default
	// 4 MiB). Pebble keeps the one being written, those queued for a flush
	// (at most 4) and one flushed buffer for reuse, so the steady cost is
	// twice this.
	//
	// 4 MiB, not 16 as chosen when the pipeline was much slower: a flush
	// takes CPU in one piece (a 16 MiB one, 63 ms on one core), and on a
	// machine short of CPU every delivery in flight waits behind it (at
	// 500 msg/s on one core, the deliveries sent during a flush took up to
	// 90 ms). Smaller memtables flush in smaller pieces and hold 24 MiB
	// less. Measured in docs/benchmarks.md: throughput and fan-out no worse
	// across three sets of alternating runs, peak RSS 19-25 MB lower in
	// every scenario; compactions write 17% more.
	MemTableSize uint64
	// MaxBatchEvents bounds the events of one group commit (default 4096).
	MaxBatchEvents int
	// Now is the store clock for RecordedEvent.Created (default time.Now).
	Now func() time.Time
	// ReadOnly opens the store for reading only: nothing in the directory is
	// created, changed or removed (verify, export and the other inspection
	// tools; a backup on a read-only mount). Appends answer ErrReadOnly.
	ReadOnly bool
	// MustExist refuses, with ErrNoLedger, to create a store where there is
	// none (the offline tools that write, such as issuing a recovery key:
	// a mistyped directory must not become a new, empty ledger). ReadOnly
	// implies it.
	MustExist bool
	// MinFreeBytes is the free space the data directory's file system must
	// keep: below it appends are refused with domain.ErrUnavailable instead
	// of letting Pebble hit "no space left on device", which it cannot
	// recover from (default 64 MiB; negative: no reserve).
	MinFreeBytes int64
	// HeadMarkInterval is the least time between two writes of the head mark
	// (default 10 ms).
	HeadMarkInterval time.Duration
	// FreeBytes measures free space (default: statfs on the data directory);
	// tests replace it.
	FreeBytes func(dir string) (int64, error)
	// OnCommit, when set, is told of every group commit once it is synced:
	// its events and how long it took from its write to the log until its
	// sync returned, which includes waiting for the sync ahead of it
	// (metrics). Called by the committer.
	OnCommit func(events int, took time.Duration)
	// fs replaces the file system (the fault-injection tests).
	fs vfs.FS
	// inlineValues writes as builds before value separation did (tests of
	// a ledger those builds wrote).
	inlineValues bool
}

// ErrReadOnly: an append to a store opened read-only.
var ErrReadOnly = errors.New("embedded store opened read-only")

// DefaultMinFreeBytes is the free-space reserve of Options.MinFreeBytes.
const DefaultMinFreeBytes = 64 << 20

// Store is the embedded EventStore. It is safe for concurrent use.
type Store struct {
	db     *pebble.DB
	dir    string
	opts   Options
	mark   *headMarker // nil when read-only
	log    zerolog.Logger
	now    func() time.Time
	reqs   chan *appendReq
	head   atomic.Uint64 // durable high-water mark: last synced position
	notify storekit.Notifier

	// closeMu: readers hold it shared for the length of one page, Close holds
	// it exclusively, so the database is never closed under a reader.
	closeMu sync.RWMutex
	closed  atomic.Bool
	stop    chan struct{}
	stopped chan struct{}
	failed  atomic.Pointer[error] // set when a commit fails: the store refuses appends after that
	// corrupt is the first data corruption Pebble reported (reads of the
	// damaged data fail on their own; this makes it visible to Health).
	corrupt atomic.Pointer[error]
	// bg logs Pebble's background errors, repeats throttled, and bounds the
	// flush on close (adapters/pebblebg).
	bg *pebblebg.Watch
	// low is set while free space is under the reserve.
	low       atomic.Pointer[error]
	freeCheck atomic.Int64 // unix nanos of the last free-space check
	maxBatch  int
	// heads caches stream heads recently committed. Only the committer
	// touches it, and it is the only writer, so the cache cannot be stale;
	// it saves a Pebble read per append to a hot stream (a delivery's
	// attempt events follow each other closely).
	heads        map[string]streamHead
	headCacheMax int // the constant but in tests
	// fresh answers that most new streams have no head without a read
	// (fresh.go); the committer's alone, like heads.
	fresh *fresh
	// tail holds the last events committed for the live readers (tail.go).
	tail *tail
	// next is the last position given to an event: the committer's alone,
	// ahead of head while a decided turn waits to be written (commit.go).
	next  domain.Position
	turns chan *turn
}

// ledgerBlockSize is the ledger's table block size (Pebble's default is 4
// KiB). The ledger's long reads are scans of $all in order (rebuild, verify,
// export, catch-up), and a scan pays per block: a cache allocation, a read
// from the file, a checksum. With blocks of 16 KiB, verify ran 30% faster and
// a rebuild 15-19%; the delivery scenarios, whose point reads (stream heads,
// message bodies) mostly find their block cached, did not change
// (docs/benchmarks.md). Tables written before keep their blocks until
// compacted: both sizes read alike.
const ledgerBlockSize = 16 << 10

// ledgerFlushBlockSize is the block size of what a flush writes: the blob
// files, which keep every record of ledgerSeparateValuesFrom bytes or more
// for good (Pebble writes them with the options of the flush's level, L0),
// and the L0 tables, which compactions soon rewrite with ledgerBlockSize.
// A rebuild reads each blob block once and pays per block (a cache
// allocation, a read, a checksum, a decompression): with 64 KiB, not 16, a
// rebuild ran 8% faster (3.53 -> 3.30 CPU-µs per event), while the
// delivery scenarios did not change. The cost is a point read of one record
// out of the cache (a retry's payload, long after its publish), which reads
// four times the bytes: BenchmarkReadOneEvent by position 7.5 -> 15 µs,
// beside an HTTP attempt. 128 KiB was no faster (docs/benchmarks.md).
const ledgerFlushBlockSize = 64 << 10

// ledgerL0CompactionThreshold is how many L0 tables gather before they are
// compacted into the level below (Pebble's default is 4).
const ledgerL0CompactionThreshold = 12

// ledgerSeparateValuesFrom is the size from which an event's record is kept
// in a blob file beside the tables (Pebble's value separation) rather than
// in the table itself. The ledger's records are written once and never
// change, but every compaction of a level rewrote them with the keys around
// them: a message's payload was written again at every level it went down.
// Separated, a record is written once at the flush and compactions move a
// small reference. The tables hold the stream index, the heads and records
// below this size. Never rewritten (TargetGarbageRatio 1): the ledger
// deletes no record, so its blob files hold no garbage to reclaim. Measured
// in docs/benchmarks.md: fan-out +7%, backlog drain +5%, CPU per delivery
// -4..8%, rebuild unchanged.
const ledgerSeparateValuesFrom = 256

// readOnlyCacheSize is the block cache of a store opened ReadOnly: the
// commands that open it so (rebuild, verify, export, timeline, history)
// scan $all once or read a few events, so a block is read once and a cache
// that holds it only costs what filling it costs: fresh memory for every
// block, 40 MiB of it faulted in page by page. With 8 MiB a rebuild of the
// bench's ledger took 3-7% less CPU and 30-35 MB less memory (12,000 fewer
// page faults), its rate 0-8% higher over three sets; verify ran the same;
// 4 and 2 MiB were no better (docs/benchmarks.md).
const readOnlyCacheSize = 8 << 20

// headCacheMax bounds the head cache; it is emptied when full.
const headCacheMax = 1 << 16

// appendReq is one append waiting for the committer: one part (Append) or
// several (AppendMulti), written together or not at all.
type appendReq struct {
	ctx   context.Context
	parts []appendPart
	one   [1]appendPart // parts of a one-stream append, without an allocation
	err   error
	done  chan struct{}
}

type appendPart struct {
	stream   string
	expected domain.ExpectedRevision
	events   []domain.EventData
	res      domain.AppendResult
}

// eventCount is how many events the request appends.
func (r *appendReq) eventCount() int {
	n := 0
	for i := range r.parts {
		n += len(r.parts[i].events)
	}
	return n
}

var (
	_ domain.EventStore    = (*Store)(nil)
	_ domain.MultiAppender = (*Store)(nil)
)

// Open opens (or creates) the store in dir.
//
// It refuses, with a *domain.TruncatedError, a store whose last event is
// below the head mark (see HeadMarkFile): events that were acknowledged are
// gone, and serving or verifying the rest would pass a shorter ledger off as
// the whole one. Corruption Pebble detects while opening is a
// *domain.CorruptError.
func Open(dir string, opts Options) (st *Store, err error) {
	if err := prepareDir(dir, opts.ReadOnly || opts.MustExist); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	s := &Store{
		dir: dir, opts: opts, log: opts.Logger, now: opts.Now,
		reqs: make(chan *appendReq, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
		maxBatch: opts.MaxBatchEvents, fresh: newFresh(), headCacheMax: headCacheMax,
	}
	s.bg = pebblebg.New(func(err error, unlogged int) {
		s.log.Error().Err(err).Int("unlogged_since_last", unlogged).Msg("embedded store background error (repeats are logged at most every 10 s)")
	}, 0)
	if !opts.ReadOnly {
		// A restart on a full disk must fail once and clearly: Pebble would
		// otherwise fail to write its new WAL and MANIFEST and may retry
		// background work for ever.
		if err := s.checkFree(true); err != nil {
			return nil, err
		}
	}
	marked, hasMark, err := readHeadMark(dir)
	if err != nil {
		return nil, &domain.CorruptError{Detail: err.Error()}
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	db, err := openPebble(dir, pebbleOptions(opts, cache, s.eventListener()))
	if err != nil {
		return nil, err
	}
	s.db = db
	head, err := s.lastPosition()
	if err != nil {
		db.Close()
		return nil, translate(err, 0)
	}
	if hasMark && uint64(head) < marked {
		db.Close()
		return nil, &domain.TruncatedError{Head: head, Known: domain.Position(marked),
			Source: "the head mark (" + filepath.Join(dir, HeadMarkFile) + ")"}
	}
	if !hasMark && head > 0 {
		// The mark is what tells a cut ledger from a whole one: without it
		// this open cannot check, and an audit-first ledger says so.
		s.log.Warn().Uint64("head", uint64(head)).Str("mark", filepath.Join(dir, HeadMarkFile)).
			Msg("the ledger has events but no head mark: its length is not checked against what was acknowledged (a copy made without ledger-head, or the mark removed; docs/operations.md)")
	}
	s.head.Store(uint64(head))
	s.next = head
	s.turns = make(chan *turn) // one turn decided while one is applied (commit.go)
	s.tail = newTail(head)
	if !opts.ReadOnly {
		m, err := openHeadMarker(dir, max(uint64(head), marked), opts.HeadMarkInterval, func(err error) {
			s.log.Error().Err(err).Msg("head mark not written (truncation after a crash may go unnoticed)")
		})
		if err != nil {
			db.Close()
			return nil, err
		}
		s.mark = m
	}
	s.log.Info().Str("dir", dir).Uint64("head", uint64(head)).Bool("read_only", opts.ReadOnly).Msg("embedded store opened")
	if !opts.ReadOnly {
		go s.commitLoop()
	} else {
		close(s.stopped)
	}
	return s, nil
}

// prepareDir creates the data directory, or checks that it exists when the
// store is opened read-only (which creates nothing).
func prepareDir(dir string, mustExist bool) error {
	if mustExist {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// withDefaults fills the options left zero.
func (opts Options) withDefaults() Options {
	if opts.CacheSize == 0 {
		opts.CacheSize = 40 << 20
		if opts.ReadOnly {
			opts.CacheSize = readOnlyCacheSize
		}
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 4 << 20
	}
	if opts.MaxBatchEvents == 0 {
		opts.MaxBatchEvents = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = DefaultMinFreeBytes
	}
	if opts.HeadMarkInterval <= 0 {
		opts.HeadMarkInterval = 10 * time.Millisecond
	}
	if opts.FreeBytes == nil {
		opts.FreeBytes = freeBytes
	}
	return opts
}

// pebbleOptions is how the ledger uses Pebble.
func pebbleOptions(opts Options, cache *pebble.Cache, events *pebble.EventListener) *pebble.Options {
	popts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                opts.MemTableSize,
		MemTableStopWritesThreshold: 4,
		// Each flush of the ledger overlaps the whole level below (the
		// stream index and heads are random keys beside the records in
		// order), so each L0 compaction rewrites that level: letting 12
		// flushes gather, not 4, rewrites it a third as often. Point reads
		// find their way past the extra L0 tables by their bloom filters.
		// Measured in docs/benchmarks.md: throughput +6%, fan-out +6%,
		// history listings and restart no worse.
		L0CompactionThreshold: ledgerL0CompactionThreshold,
		L0StopWritesThreshold: 4 * ledgerL0CompactionThreshold,
		Logger:                pebbleLogger{opts.Logger},
		// FormatWALSyncChunks (included in FormatNewest, required here) makes
		// every WAL chunk carry the offset the log was synced to, so a damaged
		// record followed by later synced chunks is reported as corruption
		// instead of being replayed as a torn tail. The head mark covers the
		// last block, where Pebble cannot tell the two apart.
		FormatMajorVersion: max(pebble.FormatNewest, pebble.FormatWALSyncChunks),
		ReadOnly:           opts.ReadOnly,
		EventListener:      events,
	}
	popts.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{Enabled: !opts.inlineValues, MinimumSize: ledgerSeparateValuesFrom,
			MaxBlobReferenceDepth: 10, RewriteMinimumAge: time.Hour, TargetGarbageRatio: 1}
	}
	// On a busy process the log's syncs park their goroutine instead of
	// holding a P while the disk works (adapters/fsync; docs/benchmarks.md,
	// fifteenth session). Tests that bring their own FS keep it as it is.
	popts.FS = fsync.FS(vfs.Default)
	if opts.fs != nil {
		popts.FS = opts.fs
	}
	if opts.ReadOnly {
		popts.FS = readOnlyFS{cmp.Or(popts.FS, vfs.Default)}
	}
	popts.ErrorIfNotExists = opts.MustExist
	// Every append to a new stream (one per message and per delivery) looks
	// up a head that is not there, at a random place among all the heads
	// ever written. Without filters each miss reads a data block of every
	// level into the cache, which then fills with heads of old streams as
	// the history grows; a filter answers the miss from a small block.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		popts.Levels[i].BlockSize = ledgerBlockSize
	}
	popts.Levels[0].BlockSize = ledgerFlushBlockSize
	return popts
}

// ErrInUse: the data directory is open in another process. The embedded
// store is one process's at a time.
var ErrInUse = errors.New("the data directory is in use")

// ErrNoLedger: a read-only open found no store in the data directory (a
// mistyped path, or a directory that was never a ledger); a writable open
// creates one instead.
var ErrNoLedger = errors.New("no ledger in this data directory")

// lockedByOther says whether err is the directory lock's refusal: the lock
// call's own error number, not a file's (a PathError: permissions).
func lockedByOther(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)
}

// openPebble opens the database, turning a Pebble fatal error during the
// open into an error instead of an exit.
func openPebble(dir string, popts *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if f := recoverFatal(recover()); f != nil {
			db, err = nil, &domain.CorruptError{Detail: "open " + dir + ": " + f.Error()}
		}
	}()
	db, err = pebble.Open(dir, popts)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return nil, &domain.CorruptError{Detail: "open " + dir + ": " + err.Error()}
		}
		if lockedByOther(err) {
			// Another process holds the directory's lock: say who likely
			// does, not only the system call's "resource temporarily
			// unavailable".
			return nil, fmt.Errorf("open embedded store in %s: %w (another process, a running server or tool, has it open): %w", dir, ErrInUse, err)
		}
		if errors.Is(err, pebble.ErrDBDoesNotExist) {
			return nil, fmt.Errorf("open embedded store in %s: %w", dir, ErrNoLedger)
		}
		return nil, fmt.Errorf("open embedded store in %s: %w", dir, err)
	}
	return db, nil
}

func (s *Store) lastPosition() (domain.Position, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return domain.Position(binary.BigEndian.Uint64(it.Key()[1:])), nil
}

// Append implements domain.EventStore. It returns after the events are synced.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if err := domain.ValidateAppend(stream, events); err != nil {
		return domain.AppendResult{}, err
	}
	req := &appendReq{ctx: ctx, done: make(chan struct{})}
	req.one[0] = appendPart{stream: stream, expected: expected, events: events}
	req.parts = req.one[:]
	if err := s.submit(req); err != nil {
		return domain.AppendResult{}, err
	}
	return req.parts[0].res, nil
}

// AppendMulti implements domain.MultiAppender: the parts are decided and
// written in one turn of the committer, in one batch, so they are synced
// together or not at all. It returns after the events are synced.
func (s *Store) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	if err := domain.ValidateAppendMulti(parts); err != nil {
		return nil, err
	}
	req := &appendReq{ctx: ctx, parts: make([]appendPart, len(parts)), done: make(chan struct{})}
	for i, p := range parts {
		req.parts[i] = appendPart{stream: p.Stream, expected: p.Expected, events: p.Events}
	}
	if err := s.submit(req); err != nil {
		return nil, err
	}
	res := make([]domain.AppendResult, len(parts))
	for i := range req.parts {
		res[i] = req.parts[i].res
	}
	return res, nil
}

// submit hands req to the committer and waits for its verdict.
func (s *Store) submit(req *appendReq) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	if errp := s.failed.Load(); errp != nil {
		return *errp
	}
	if err := s.checkFree(false); err != nil {
		return err
	}
	// The shared lock keeps Close from stopping the committer between the
	// closed check and the send, which would strand the request.
	s.closeMu.RLock()
	if s.closed.Load() {
		s.closeMu.RUnlock()
		return domain.ErrClosed
	}
	select {
	case s.reqs <- req:
		s.closeMu.RUnlock()
	case <-req.ctx.Done():
		s.closeMu.RUnlock()
		return req.ctx.Err()
	}
	// Once queued, wait for the verdict even if ctx ends: the append may
	// already be in a batch being synced, and the caller must learn its fate.
	<-req.done
	return req.err
}

// translate maps Pebble errors to domain errors.
func translate(err error, pos domain.Position) error {
	if err == nil {
		return nil
	}
	if pebble.IsCorruptionError(err) {
		return &domain.CorruptError{Position: pos, Detail: err.Error()}
	}
	if errors.Is(err, pebble.ErrClosed) {
		return domain.ErrClosed
	}
	return err
}

// Close stops the committer (appends already queued are refused with
// ErrClosed), waits for readers, and closes the database. It is idempotent.
//
// A writable store flushes its memtable first: after a clean stop every event
// is in checksummed SSTables and the WAL holds nothing, so damage to a log
// file of a stopped ledger cannot shorten it.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.opts.ReadOnly {
		close(s.stop)
	}
	<-s.stopped
	s.notify.Broadcast()
	var errs []error
	if !s.opts.ReadOnly && s.failed.Load() == nil {
		// A directory removed from under the store: Pebble would fail to
		// create the next log file and treat it as fatal.
		if _, err := os.Stat(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("flush on close: %w", err))
		} else if err := s.flushDB(); err != nil {
			errs = append(errs, fmt.Errorf("flush on close: %w", err))
		}
	}
	if s.mark != nil {
		errs = append(errs, s.mark.Close())
	}
	s.log.Info().Uint64("head", s.head.Load()).Msg("embedded store closed")
	errs = append(errs, closeDB(s.db))
	return errors.Join(errs...)
}
