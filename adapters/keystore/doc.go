// Package keystore is an adapter of domain.PayloadCipher: the data keys that
// payloads are encrypted under, kept outside the immutable ledger, each
// wrapped by a master key the operator holds. Destroying a data key (an
// erasure) makes every value sealed under it unreadable for ever, while the
// ledger, its hash chain and its seals do not change. docs/audit.md
// ("Erasure") gives the design and the threat model.
//
// The key store's logic (keystore.go: generations, wrapping, the caches of
// unwrapped keys; open.go: the master key's check) runs over a Backend
// (backend.go): the local one, a Pebble
// instance of its own in `<data-dir>/keys` (local.go), or the streams of an
// EventStoreDB ledger that the nodes of a cluster share
// (eventstoredb.Store.KeyBackend). keystoretest is the conformance suite
// every backend runs. masterkey.go: master keys and their rotation;
// copy.go: a key store copied into another with its ledger; tombstones.go:
// which keys were destroyed, read without the master key.
package keystore
