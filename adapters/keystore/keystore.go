package keystore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
)

// ErrWrongMasterKey: the key store's data keys are wrapped by another master
// key than the one given (or none was given).
var ErrWrongMasterKey = errors.New("wrong master key")

// ErrKeyMissing: a value names a data key the key store never held (a key
// store of another ledger, or one restored from too old a backup).
var ErrKeyMissing = errors.New("data key missing from the key store")

// ErrInUse: another process (a running server or tool) has the key store
// open; it allows one.
var ErrInUse = errors.New("the key store is in use")

// Store keeps the data keys, each wrapped (AES-256-GCM) by the master key,
// in a Backend outside the immutable ledger. It implements
// domain.PayloadCipher. Safe for concurrent use.
//
// A data key named by domain.DataKeyID (its "base") has generations: Destroy
// removes every generation it names and the next Seal of that base creates a
// new one, so messages published after an erasure are not born erased.
type Store struct {
	b        Backend
	master   cipher.AEAD
	masterID string
	now      func() time.Time

	stripes [64]sync.Mutex // creations of one base are serialised; others run alongside

	readOnly bool
	checked  atomic.Bool // the master key matches the backend's
	checkMu  sync.Mutex
	mismatch error // it does not (final)

	mu      sync.RWMutex
	current map[string]current     // base -> its current generation's key (bounded: reset when full)
	keys    map[string]cipher.AEAD // full key id -> its cipher (bounded: reset when full)
	// epoch counts the cache's purges (Destroy, Forget): a key read
	// before a purge is not cached after it (it may be one the purge
	// destroyed).
	epoch uint64
}

type current struct {
	id   string
	aead cipher.AEAD
}

// cacheKeys bounds each of the two caches of data keys (the current
// generation of each base, and keys by id), each key kept as its ready
// cipher (about 1.3 KB: AES's round keys and GCM's tables), so that sealing
// and opening a payload does not expand the key again. BenchmarkSealOpen
// (1 KiB sealed and opened, as a publish and its attempt do): 2.35 -> 1.25
// µs, 10 -> 6 allocations, 4.8 -> 2.3 KB. GCM's Seal and Open keep no state
// between calls, so one cipher serves every goroutine. Bases come and go (a
// day's, a subject's, with message-scoped erasure one per message), so both
// caches are emptied when full: a base or a key not cached is read again
// from the store. A variable for the tests.
var cacheKeys = 4096

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func wrapAAD(id string) []byte { return []byte("hookledger data key\x00" + id) }

// Seal implements domain.PayloadCipher: plaintext encrypted under the
// current generation of the data key base (created, durably, if needed).
func (s *Store) Seal(ctx context.Context, base, aad string, plaintext []byte) (*domain.SealedValue, error) {
	cur, err := s.currentKey(ctx, base)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, cur.aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	return &domain.SealedValue{Alg: domain.SealAlgorithm, KeyID: cur.id, Nonce: nonce, Ciphertext: cur.aead.Seal(nil, nonce, plaintext, []byte(aad))}, nil
}

// SealUnder implements domain.ExcerptSealer: plaintext encrypted under the
// data key keyID (a full id, generation included), which must be live: a
// destroyed one answers *domain.ErasedError.
func (s *Store) SealUnder(ctx context.Context, keyID, aad string, plaintext []byte) (*domain.SealedValue, error) {
	aead, err := s.key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	return &domain.SealedValue{Alg: domain.SealAlgorithm, KeyID: keyID, Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, plaintext, []byte(aad))}, nil
}

// Open implements domain.PayloadCipher. A destroyed key answers a
// *domain.ErasedError naming the erasure; a key never held, ErrKeyMissing.
func (s *Store) Open(ctx context.Context, aad string, v *domain.SealedValue) ([]byte, error) {
	if v.Alg != domain.SealAlgorithm {
		return nil, fmt.Errorf("sealed with %q, which this build does not know", v.Alg)
	}
	aead, err := s.key(ctx, v.KeyID)
	if err != nil {
		return nil, err
	}
	out, err := aead.Open(nil, v.Nonce, v.Ciphertext, []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: a value sealed under %s does not open (altered, or not this message's)", domain.ErrCorrupt, v.KeyID)
	}
	return out, nil
}

func (s *Store) stripe(base string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(base))
	return &s.stripes[h.Sum32()%uint32(len(s.stripes))]
}

// currentKey answers the current generation of base, creating the first or
// next one durably (synced) before any value is sealed under it.
func (s *Store) currentKey(ctx context.Context, base string) (current, error) {
	s.mu.RLock()
	cur, ok := s.current[base]
	s.mu.RUnlock()
	if ok {
		return cur, nil
	}
	l := s.stripe(base)
	l.Lock()
	defer l.Unlock()
	for {
		s.mu.RLock()
		cur, ok = s.current[base]
		epoch := s.epoch
		s.mu.RUnlock()
		if ok {
			return cur, nil
		}
		cur, err := s.loadOrCreate(ctx, base)
		if err != nil {
			return current{}, err
		}
		s.mu.Lock()
		if s.epoch == epoch {
			if len(s.current) >= cacheKeys {
				s.current = map[string]current{}
			}
			s.current[base] = cur
			s.remember(cur.id, cur.aead)
			s.mu.Unlock()
			return cur, nil
		}
		// A Destroy ran meanwhile, perhaps of this very key: look again.
		s.mu.Unlock()
	}
}

// loadOrCreate reads base's current generation, or creates the next one
// durably when there is none or it was destroyed. The caller holds base's
// stripe (another process sharing the backend may create it first: then
// its key is the one read).
func (s *Store) loadOrCreate(ctx context.Context, base string) (current, error) {
	if err := s.verify(ctx); err != nil {
		return current{}, err
	}
	// floor is a generation found to exist that Generation may not count
	// yet (another process's, made between the two reads).
	floor := uint64(0)
	for {
		gen, err := s.b.Generation(ctx, base)
		if err != nil {
			return current{}, err
		}
		gen = max(gen, floor)
		if gen > 0 {
			id := base + "#" + strconv.FormatUint(gen, 10)
			if aead, err := s.key(ctx, id); err == nil {
				return current{id: id, aead: aead}, nil
			} else if !errors.Is(err, domain.ErrErased) {
				return current{}, err
			}
		}
		// None yet, or the current one was destroyed: a new generation.
		gen++
		cur := current{id: base + "#" + strconv.FormatUint(gen, 10)}
		key := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return current{}, err
		}
		if cur.aead, err = newAEAD(key); err != nil {
			return current{}, err
		}
		rec := Record{Master: s.masterID, Nonce: make([]byte, s.master.NonceSize()), CreatedAt: s.now().UTC()}
		io.ReadFull(rand.Reader, rec.Nonce)
		rec.Wrapped = s.master.Seal(nil, rec.Nonce, key, wrapAAD(cur.id))
		switch err := s.b.Create(ctx, base, gen, cur.id, rec); {
		case err == nil:
			return cur, nil
		case !errors.Is(err, ErrKeyExists):
			return current{}, err
		}
		// Made first elsewhere, or destroyed before it was made here: read
		// that one, or go past it.
		floor = gen
	}
}

// remember caches an unwrapped key's cipher; s.mu must be held for writing.
func (s *Store) remember(id string, aead cipher.AEAD) {
	if len(s.keys) >= cacheKeys {
		s.keys = map[string]cipher.AEAD{}
	}
	s.keys[id] = aead
}

// key answers the cipher of the data key id (a full id, with its generation).
func (s *Store) key(ctx context.Context, id string) (cipher.AEAD, error) {
	s.mu.RLock()
	k, ok := s.keys[id]
	epoch := s.epoch
	s.mu.RUnlock()
	if ok {
		return k, nil
	}
	if err := s.verify(ctx); err != nil {
		return nil, err
	}
	rec, tomb, err := s.b.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNoKey):
		return nil, fmt.Errorf("%w: %s", ErrKeyMissing, id)
	case err != nil:
		return nil, err
	case tomb != nil:
		return nil, &domain.ErasedError{KeyID: id, ErasureID: tomb.ErasureID, ErasedAt: tomb.DestroyedAt}
	}
	key, err := s.master.Open(nil, rec.Nonce, rec.Wrapped, wrapAAD(id))
	if err != nil {
		return nil, fmt.Errorf("%w: data key %s does not unwrap with master key %s (wrapped by %s)", ErrWrongMasterKey, id, s.masterID, rec.Master)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("%w: data key %s: %v", domain.ErrCorrupt, id, err)
	}
	s.mu.Lock()
	if s.epoch == epoch {
		s.remember(id, aead)
	}
	s.mu.Unlock()
	return aead, nil
}

// Keys lists the live data keys (full ids) whose id starts with prefix, in
// order.
func (s *Store) Keys(prefix string) ([]string, error) {
	if err := s.verify(context.Background()); err != nil {
		return nil, err
	}
	return s.b.Keys(context.Background(), prefix)
}

// Destroy removes the data keys ids for ever, leaving tombstones that name
// the erasure; when it returns, no wrapped copy of them is readable from
// the backend (the local one has also compacted them out of its files).
// Destroying a destroyed or unknown key changes nothing (an interrupted
// erasure is simply run again).
func (s *Store) Destroy(ids []string, erasureID string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.verify(context.Background()); err != nil {
		return err
	}
	if err := s.b.Destroy(context.Background(), ids, Tombstone{ErasureID: erasureID, DestroyedAt: s.now().UTC()}); err != nil {
		return err
	}
	s.Forget(ids)
	return nil
}

// KeyIDs lists the keys, live and destroyed (of the applications named,
// for a backend that finds keys through them): with Destroyed, what
// audit.VerifyErasures reads.
func (s *Store) KeyIDs(ctx context.Context, applications []string) ([]string, error) {
	return keyIDs(ctx, s.b, applications)
}

// Forget drops keys ids from the caches, so that the next use reads them
// from the backend: the nodes of a cluster call it for the keys another
// node destroyed (its erasure.completed, folded), and stop opening values
// under them.
func (s *Store) Forget(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	for _, id := range ids {
		delete(s.keys, id)
		base, _, _ := strings.Cut(id, "#")
		if s.current[base].id == id {
			delete(s.current, base)
		}
	}
}

// Destroyed answers the tombstone of a destroyed key id, if any.
func (s *Store) Destroyed(id string) (erasureID string, at time.Time, ok bool, err error) {
	return destroyed(s.b, id)
}

func destroyed(b Backend, id string) (string, time.Time, bool, error) {
	_, t, err := b.Get(context.Background(), id)
	switch {
	case errors.Is(err, ErrNoKey):
		return "", time.Time{}, false, nil
	case err != nil:
		return "", time.Time{}, false, err
	case t == nil:
		return "", time.Time{}, false, nil
	}
	return t.ErasureID, t.DestroyedAt, true, nil
}

// splitKeyID reads a full key id back into its base and generation.
func splitKeyID(id string) (string, uint64, bool) {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return "", 0, false
	}
	gen, err := strconv.ParseUint(id[i+1:], 10, 64)
	return id[:i], gen, err == nil && gen > 0
}

// MasterID is the id of the master key that wraps the store.
func (s *Store) MasterID() string { return s.masterID }

// ErrNotLocal: the operation is the local key store's (a shared one is
// copied and rotated with its ledger's tools).
var ErrNotLocal = errors.New("not the key store of a data directory")

func (s *Store) local() (*local, error) {
	if l, ok := s.b.(*local); ok {
		return l, nil
	}
	return nil, ErrNotLocal
}

// Checkpoint writes a copy of the local key store into dir (which must not
// exist) while it serves (Pebble's checkpoint: tables hard-linked where
// possible, the log copied after a sync). Every key created before the call
// is in it; a key destroyed before the call is not.
func (s *Store) Checkpoint(dir string) error {
	l, err := s.local()
	if err != nil {
		return err
	}
	if err := l.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("checkpoint the key store into %s: %w", dir, err)
	}
	return nil
}

// Damaged says whether the key store's backend found its data damaged (nil:
// it did not, or it cannot tell). Reads of the damaged keys fail; the data
// keys are not a cache, so the remedy is a restore (docs/operations.md).
func (s *Store) Damaged() error {
	if d, ok := s.b.(interface{ Damaged() error }); ok {
		return d.Damaged()
	}
	return nil
}
