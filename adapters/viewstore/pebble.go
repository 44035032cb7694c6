package viewstore

// How the view store uses Pebble: its options, serving and bulk.

import (
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hookledger/hookledger/adapters/cmalloc"
	"github.com/hookledger/hookledger/adapters/fsync"
	"github.com/hookledger/hookledger/adapters/pebblebg"
)

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

func openDB(dir string, opts Options, bg *pebblebg.Watch, dmg *damage) (*pebble.DB, *pebble.Options, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("view store: %w", err)
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
			FlushEnd:        func(pebble.FlushInfo) { cmalloc.Release() },
			CompactionEnd:   func(pebble.CompactionInfo) { cmalloc.Release() },
			BackgroundError: bg.Report,
			DataCorruption:  dmg.report,
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
		// Flushes and compactions sync their tables without holding a P
		// while the disk works (adapters/fsync).
		FS: fsync.FS(vfs.Default),
	}
	if opts.Bulk {
		// A bulk load commits batches of tens of thousands of events, each
		// written as tables of its own in L0 (ingest.go). At the default
		// threshold (4 tables) L0 is merged into the levels below every
		// fourth batch, rewriting them again and again as they grow; at 16
		// the rewrites are a quarter as many. The
		// store is read little while it is loaded (bloom filters answer the
		// fold's point reads), and once opened for serving it compacts the
		// rest at the usual thresholds. Measured: rebuilds 25-35% faster
		// (docs/benchmarks.md).
		popts.L0CompactionThreshold = 16
		popts.L0StopWritesThreshold = 64
		// Each batch deletes the index entries of deliveries that the batch
		// before it left open, so its tables are dense with tombstones, and
		// Pebble compacted them into the level below as soon as it saw them:
		// during the load, beside the fold, and at the end, where Close
		// waited for it. Nothing reads the indexes during the load, and the
		// reads after it (the rebuild's count of pending deliveries, its
		// comparison with the live store) cost less passing over the
		// tombstones than the compaction did. The serving store that opens
		// it next compacts such tables in the background. Measured in
		// docs/benchmarks.md: a rebuild's CPU per event -3.5%;
		// `hookledger rebuild` of the bench's ledger, with its comparison,
		// 0.70 -> 0.64 s.
		popts.Experimental.TombstoneDenseCompactionThreshold = -1
	} else {
		setServingFileSizes(popts)
		// No table a flush or a compaction writes holds two kinds of key
		// (kindSpan says why). A bulk load's tables are ingested whole,
		// each of every kind, and its compactions were no faster split.
		popts.Experimental.SpanPolicyFunc = kindSpan
	}
	// A table holds many records (a bulk load's, of every kind), so without
	// filters a point read of one record opens every overlapping table; a
	// listing page is 50 of them. Ten bits per key: ~1% false positives,
	// filter blocks share the cache.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, nil, fmt.Errorf("view store %s: %w", dir, err)
	}
	return db, popts, nil
}
