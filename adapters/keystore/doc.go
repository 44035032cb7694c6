// Package keystore is an adapter of domain.PayloadCipher: the data keys that
// payloads are encrypted under, kept outside the immutable ledger (a Pebble
// instance of its own, `<data-dir>/keys`), each wrapped by a master key the
// operator holds. Destroying a data key (an erasure) makes every value sealed
// under it unreadable for ever, while the ledger, its hash chain and its
// seals do not change. docs/audit.md ("Erasure") gives the design and the
// threat model.
package keystore
