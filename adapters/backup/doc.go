// Package backup takes a backup of an embedded ledger while it serves, as
// one tar stream, and restores one into a new data directory.
//
// A backup holds the data a data directory needs to be served again: the
// ledger (a Pebble checkpoint with its head mark) and the key store the
// payloads are encrypted under (taken after the ledger, so it holds every
// key the ledger's payloads name). It leaves out the master key and the seal
// signing key, which are kept apart from the data (NotIncluded says why),
// and the view store, a cache folded again from the ledger at the first
// start. Its
// last entry is a manifest with the size and SHA-256 of every file: a backup
// cut short or altered is refused when it is read (Read, Restore), never
// restored in part.
package backup
