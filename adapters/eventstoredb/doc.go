// Package eventstoredb is the event-store port on EventStoreDB / KurrentDB
// (the official Go client, github.com/kurrent-io/KurrentDB-Client-Go v1.4.2,
// the successor of EventStore-Client-Go v4): hookledger's distributed store,
// for users who run a replicated cluster. Every client call lives in this
// package.
//
// What it guarantees beyond the port's contract:
//   - hookledger's streams carry a prefix (default "hookledger-"), so the
//     ledger can share a server with other applications; $all reads and the
//     catch-up subscription see only those streams (the subscription filters
//     on the server; ReadAll, which the protocol cannot filter, on the client)
//     and never system events.
//   - Positions are the server's commit positions: sparse, increasing.
//   - Every read and subscription has a deadline or a watchdog of its own (the
//     client sets none); a dropped or silent subscription is resumed from the
//     last position seen, with no gap and no duplicate.
//   - The client is recreated when it reports its connection closed (a client
//     stays closed for ever after a failed first discovery), so a server that
//     was down at start-up is used as soon as it is up.
//   - An append over the server's maximum append size (counted as the server
//     counts it) is refused before it is sent, with ErrEventTooLarge; an
//     append answered DeadlineExceeded is retried with the same event ids.
//   - A resumed subscription starts from the whole last position (commit and
//     prepare), so a checkpoint never makes it skip an event.
//   - Backend errors are translated to the domain's (errors.As on
//     *kurrentdb.Error and its Code()).
//
// Files: store.go (options, the client's life: opened, recreated, closed),
// call.go (calls retried while transient, errors translated), append.go,
// read.go, subscribe.go; keys.go, the key store of payload encryption that
// a cluster's nodes share (keystore.Backend), in streams beside the
// ledger's prefix.
//
// esdbtest holds an in-process emulator of the server's gRPC protocol that the
// tests run the conformance suite against through the official client.
package eventstoredb
