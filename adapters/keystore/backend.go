package keystore

import (
	"context"
	"errors"
	"time"
)

// Backend keeps the wrapped data keys and the tombstones of destroyed ones,
// outside the immutable ledger. The key store's logic (generations, the
// master key's wrapping, the caches) is the same over every backend: Pebble
// in the data directory for one process (Open), or the streams of an
// EventStoreDB ledger that the nodes of a cluster share
// (eventstoredb.Store.KeyBackend). Every method is safe for concurrent use,
// by this process and, for a shared backend, by others.
type Backend interface {
	// InitMaster records id as the id of the master key that wraps the
	// keys, unless one is recorded already; it answers the one recorded.
	InitMaster(ctx context.Context, id string) (string, error)
	// Master answers the id recorded ("" when none yet), recording nothing.
	Master(ctx context.Context) (string, error)
	// Get answers key id's record, or the tombstone of a destroyed key
	// (the record is then gone); ErrNoKey when it never existed.
	Get(ctx context.Context, id string) (Record, *Tombstone, error)
	// Generation answers the highest generation of base created or
	// destroyed so far (0: none).
	Generation(ctx context.Context, base string) (uint64, error)
	// Create durably stores rec as key id, generation gen of base; it
	// answers ErrKeyExists when that generation exists or existed (another
	// process of a shared backend made it first), storing nothing.
	Create(ctx context.Context, base string, gen uint64, id string, rec Record) error
	// Keys lists the live keys whose id starts with prefix, in order;
	// prefix starts with an application id and "/".
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Destroy durably replaces the records of ids with t (ids destroyed
	// already keep their tombstone; ids never created get one).
	Destroy(ctx context.Context, ids []string, t Tombstone) error
	// Rewrap durably replaces live key id's record by rec, the same key
	// wrapped by another master key (a master key's rotation); a key
	// destroyed meanwhile is left destroyed.
	Rewrap(ctx context.Context, id string, rec Record) error
	// SetMaster records id as the master key's, replacing the one
	// recorded (the end of a rotation).
	SetMaster(ctx context.Context, id string) error
	Close() error
}

// Record is a data key as a backend keeps it: wrapped (AES-256-GCM) by the
// master key, with the key's id as additional data.
type Record struct {
	Master    string    `json:"master"`
	Nonce     []byte    `json:"nonce"`
	Wrapped   []byte    `json:"wrapped"`
	CreatedAt time.Time `json:"created_at"`
}

// Tombstone stands where a destroyed key was: which erasure, and when.
type Tombstone struct {
	ErasureID   string    `json:"erasure_id"`
	DestroyedAt time.Time `json:"destroyed_at"`
}

// ErrNoKey: a backend never held the key asked for.
var ErrNoKey = errors.New("no such data key")

// ErrKeyExists: the generation being created exists already.
var ErrKeyExists = errors.New("the data key exists already")
