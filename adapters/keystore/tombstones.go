package keystore

import (
	"context"
	"time"
)

// Tombstones reads which keys were destroyed, without the master key (for
// exports and inspection: a destroyed key's tombstone is not secret).
type Tombstones struct{ b Backend }

// OpenTombstones opens the key store in dir read-only for its tombstones.
func OpenTombstones(dir string) (*Tombstones, error) {
	l, err := openLocal(dir, true)
	if err != nil {
		return nil, err
	}
	return &Tombstones{b: l}, nil
}

// TombstonesOf reads the tombstones of a backend (a shared one); Close
// closes it.
func TombstonesOf(b Backend) *Tombstones { return &Tombstones{b: b} }

// Destroyed answers whether the key id was destroyed, and by which erasure.
func (t *Tombstones) Destroyed(id string) (string, time.Time, bool, error) {
	return destroyed(t.b, id)
}

// KeyIDs lists the keys, live and destroyed (of the applications named,
// for a key store that finds keys through them).
func (t *Tombstones) KeyIDs(ctx context.Context, applications []string) ([]string, error) {
	return keyIDs(ctx, t.b, applications)
}

// Close releases the store.
func (t *Tombstones) Close() error { return t.b.Close() }
