package keystore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
)

// MasterKeySize is the size of a master key: 32 bytes (AES-256).
const MasterKeySize = 32

// ParseMasterKey reads a master key: 32 bytes in base64 (standard or URL
// alphabet, padded or not) or in hex.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString,
	} {
		if b, err := dec(s); err == nil && len(b) == MasterKeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("a master key is %d random bytes in base64 or hex (e.g. openssl rand -base64 32)", MasterKeySize)
}

// NewMasterKey draws a master key, encoded as ParseMasterKey reads it.
func NewMasterKey() string {
	b := make([]byte, MasterKeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// MasterKeyID names a master key without revealing it.
func MasterKeyID(master []byte) string {
	h := sha256.Sum256(append([]byte("hookledger master key id\x00"), master...))
	return "mk_" + hex.EncodeToString(h[:8])
}

// MasterKeyIDOf reads which master key wraps the key store in dir, without
// one ("" for a new store).
func MasterKeyIDOf(dir string) (string, error) {
	l, err := openLocal(dir, true)
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Master(context.Background())
}

// RotateMaster re-wraps every data key under next and makes it the store's
// master key, in one synced batch. The ledger is not touched. Afterwards the
// old master key opens nothing in this store. Only the local key store is
// rotated here (ErrNotLocal otherwise).
func (s *Store) RotateMaster(next []byte) (int, error) {
	l, err := s.local()
	if err != nil {
		return 0, err
	}
	aead, err := newAEAD(next)
	if err != nil || len(next) != MasterKeySize {
		return 0, fmt.Errorf("the new master key must be %d bytes", MasterKeySize)
	}
	nextID := MasterKeyID(next)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pKey), UpperBound: upper([]byte(pKey))})
	if err != nil {
		return 0, err
	}
	b := l.db.NewBatch()
	n := 0
	for it.First(); it.Valid(); it.Next() {
		id := string(it.Key()[len(pKey):])
		var rec Record
		if err := json.Unmarshal(it.Value(), &rec); err != nil {
			it.Close()
			return 0, fmt.Errorf("%w: key store record %s: %v", domain.ErrCorrupt, id, err)
		}
		key, err := s.master.Open(nil, rec.Nonce, rec.Wrapped, wrapAAD(id))
		if err != nil {
			it.Close()
			return 0, fmt.Errorf("%w: data key %s does not unwrap with the current master key", ErrWrongMasterKey, id)
		}
		rec.Master, rec.Nonce = nextID, make([]byte, aead.NonceSize())
		io.ReadFull(rand.Reader, rec.Nonce)
		rec.Wrapped = aead.Seal(nil, rec.Nonce, key, wrapAAD(id))
		raw, _ := json.Marshal(rec)
		b.Set([]byte(pKey+id), raw, nil)
		n++
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	b.Set([]byte(metaMaster), []byte(nextID), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("key store: rotate: %w", err)
	}
	s.mu.Lock()
	s.master, s.masterID = aead, nextID
	s.mu.Unlock()
	return n, l.purge()
}

// RotateMasterOf re-wraps every live key of b (of the applications named,
// for a backend that finds keys through them) from the master key old to
// next, key by key, then records next as the master key. Every process
// using b must be stopped: one still running would wrap new keys with old.
// Interrupted, it is run again with the same two keys: the keys wrapped by
// next already are left, and until it has finished no key store over b
// opens with either key alone (the master recorded is still old's, and
// some keys are next's). It answers how many keys it re-wrapped.
func RotateMasterOf(ctx context.Context, b Backend, old, next []byte, applications []string) (int, error) {
	oldAEAD, err := newAEAD(old)
	if err != nil || len(old) != MasterKeySize {
		return 0, fmt.Errorf("the current master key must be %d bytes", MasterKeySize)
	}
	nextAEAD, err := newAEAD(next)
	if err != nil || len(next) != MasterKeySize {
		return 0, fmt.Errorf("the new master key must be %d bytes", MasterKeySize)
	}
	oldID, nextID := MasterKeyID(old), MasterKeyID(next)
	have, err := b.Master(ctx)
	if err != nil {
		return 0, err
	}
	if have != oldID && have != nextID {
		return 0, fmt.Errorf("%w: the key store's keys are wrapped by master key %s, not by %s (the current key given)", ErrWrongMasterKey, have, oldID)
	}
	ids, err := keyIDs(ctx, b, applications)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		rec, tomb, err := b.Get(ctx, id)
		if errors.Is(err, ErrNoKey) || tomb != nil || (err == nil && rec.Master == nextID) {
			continue
		}
		if err != nil {
			return n, err
		}
		key, err := oldAEAD.Open(nil, rec.Nonce, rec.Wrapped, wrapAAD(id))
		if err != nil {
			return n, fmt.Errorf("%w: data key %s does not unwrap with master key %s (wrapped by %s)", ErrWrongMasterKey, id, oldID, rec.Master)
		}
		rec.Master, rec.Nonce = nextID, make([]byte, nextAEAD.NonceSize())
		io.ReadFull(rand.Reader, rec.Nonce)
		rec.Wrapped = nextAEAD.Seal(nil, rec.Nonce, key, wrapAAD(id))
		if err := b.Rewrap(ctx, id, rec); err != nil {
			return n, err
		}
		n++
	}
	if have != nextID {
		if err := b.SetMaster(ctx, nextID); err != nil {
			return n, err
		}
	}
	return n, nil
}
