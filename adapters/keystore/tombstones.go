package keystore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
)

func (s *Store) tombstone(id string) (tombstone, bool, error) {
	raw, closer, err := s.db.Get([]byte(pTomb + id))
	if errors.Is(err, pebble.ErrNotFound) {
		return tombstone{}, false, nil
	}
	if err != nil {
		return tombstone{}, false, err
	}
	defer closer.Close()
	var t tombstone
	if err := json.Unmarshal(raw, &t); err != nil {
		return tombstone{}, false, fmt.Errorf("%w: tombstone %s: %v", domain.ErrCorrupt, id, err)
	}
	return t, true, nil
}

// Destroyed answers the tombstone of a destroyed key id, if any.
func (s *Store) Destroyed(id string) (erasureID string, at time.Time, ok bool, err error) {
	t, ok, err := s.tombstone(id)
	return t.ErasureID, t.DestroyedAt, ok, err
}

// Tombstones reads which keys were destroyed, without the master key (for
// exports and inspection with the server stopped).
type Tombstones struct{ db *pebble.DB }

// OpenTombstones opens the key store in dir read-only for its tombstones.
func OpenTombstones(dir string) (*Tombstones, error) {
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("open the key store %s: %w", dir, err)
	}
	return &Tombstones{db: db}, nil
}

// Destroyed answers whether the key id was destroyed, and by which erasure.
func (t *Tombstones) Destroyed(id string) (string, time.Time, bool, error) {
	s := Store{db: t.db}
	ts, ok, err := s.tombstone(id)
	return ts.ErasureID, ts.DestroyedAt, ok, err
}

// Close releases the store.
func (t *Tombstones) Close() error { return t.db.Close() }
