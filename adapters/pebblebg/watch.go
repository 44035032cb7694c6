package pebblebg

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/adapters/logging"
)

// LogEvery is how often at most a Watch logs a background error: the first
// is logged at once, those within LogEvery of it are counted, and the next
// one logged after that says how many were not (logging.Repeats).
const LogEvery = 10 * time.Second

// Watch receives a store's background errors (Report, for
// pebble.EventListener.BackgroundError). Its methods are safe for
// concurrent use.
type Watch struct {
	// log writes one line for err; unlogged is how many errors were
	// reported since the last line and not logged.
	log     func(err error, unlogged int)
	repeats *logging.Repeats

	reports atomic.Uint64
	last    atomic.Pointer[error]
	wake    chan struct{} // a report since the last receive (buffer 1)
}

// New returns a Watch that logs through log at most once per every (LogEvery
// when zero).
func New(log func(err error, unlogged int), every time.Duration) *Watch {
	if every <= 0 {
		every = LogEvery
	}
	return &Watch{log: log, repeats: logging.NewRepeats(every), wake: make(chan struct{}, 1)}
}

// Report takes one background error: Pebble calls it from its background
// goroutines, with its own lock held, so it only notes and logs. The
// errors of one failure differ in their details (each retry names a new
// file), so all count as repeats of one line.
func (w *Watch) Report(err error) {
	w.last.Store(&err)
	w.reports.Add(1) // after last: a waiter that sees the count sees the error
	select {
	case w.wake <- struct{}{}:
	default:
	}
	if ok, unlogged := w.repeats.Allow("background error"); ok {
		w.log(err, unlogged)
	}
}

// Reports says how many background errors were reported so far.
func (w *Watch) Reports() uint64 { return w.reports.Load() }

// Flush flushes db's memtables to tables and waits until they are written,
// or until a background error is reported after it asked: then it returns
// that error rather than wait for Pebble's retries, which may never end. A
// background error of another job (a compaction) ends the wait too: on a
// failing disk nothing is gained by waiting longer.
//
// db's EventListener.BackgroundError must call w.Report.
func (w *Watch) Flush(db *pebble.DB) error {
	start := w.reports.Load()
	done, err := db.AsyncFlush()
	if err != nil {
		return err
	}
	for {
		select {
		case <-done:
			return nil
		case <-w.wake:
			if w.reports.Load() > start {
				return fmt.Errorf("flush failed (Pebble retries it in the background): %w", *w.last.Load())
			}
		}
	}
}
