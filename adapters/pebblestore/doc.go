// Package pebblestore is the embedded, durable event store: hookledger's
// default. It keeps the ledger in a data directory with Pebble (the LSM engine
// of CockroachDB) and adds what an event store needs on top:
//
//   - one committer that gathers every append waiting at that moment into one
//     Pebble batch and syncs it once (group commit), checks expected
//     revisions, and allocates global positions inside that ordered commit;
//     it decides the next batch, and writes it to the log, while the
//     previous one syncs, and acknowledges nothing after a failed sync
//     (commit.go); it knows most new streams have no head without reading
//     Pebble (fresh.go);
//   - a durable high-water mark: readers and subscribers only see positions
//     that are synced, in order;
//   - a CRC-32C over every stored record, checked on every read, so a corrupt
//     record is reported with its position and never served;
//   - the last events committed, kept decoded for the live subscribers
//     (tail.go); ReadAll always reads the tables.
//
// An append returns only after its batch is synced to disk. Pebble's WAL
// replay after a crash restores every synced batch whole and drops a torn,
// unsynced tail, so acknowledged events survive kill -9 and nothing is torn.
//
// Key layout (all integers big-endian):
//
//	'e' pos(8)                    -> record (see record.go)
//	's' stream 0x00 revision(8)   -> pos(8)
//	'h' stream                    -> last revision(8)
package pebblestore
