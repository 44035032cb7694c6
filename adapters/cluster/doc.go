// Package cluster lets several hookledger processes serve one ledger on
// EventStoreDB/KurrentDB: the delivery work is split into partitions (by
// subscription), and each partition, like the sealer, is owned by one node at
// a time under a lease recorded in the ledger's `cluster` stream
// (domain/cluster.go decides; this package reads, appends and keeps time).
//
// Guarantees: two nodes never both acquire a lease (appends at the stream's
// expected revision); a node stops acting under a lease a clock margin before
// it ends, by a local timer that fires even when the store cannot be reached;
// another node takes it only a margin after it ended. docs/cluster.md has the
// whole story and the clock assumptions.
package cluster
