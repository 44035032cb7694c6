// Package pebblebg handles what Pebble reports of its background work, for
// the two stores built on it (the ledger, adapters/pebblestore, and the view
// store, adapters/viewstore).
//
// Pebble retries a failed flush at once and without end (pebble#6139: an
// unwritable directory, a full disk), reporting every failure: thousands of
// identical errors a second. Two things follow, and this package answers
// both. A log line per report fills the log, and soon the disk it is on:
// Watch logs the first and then at most one line per interval, counting the
// rest. And DB.Flush waits for a flush that never succeeds, so a store that
// flushes on its way out never stops: Watch.Flush stops waiting at the
// first failure reported after it asked, and returns it. (The retries
// themselves still take a core until the store closes; the fix belongs in
// Pebble, whose backoff is pebble#6166.)
package pebblebg
