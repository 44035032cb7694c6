package keystore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// in a Pebble instance of its own, outside the immutable ledger. It
// implements domain.PayloadCipher. Safe for concurrent use.
//
// A data key named by domain.DataKeyID (its "base") has generations: Destroy
// removes every generation it names and the next Seal of that base creates a
// new one, so messages published after an erasure are not born erased.
type Store struct {
	db       *pebble.DB
	master   cipher.AEAD
	masterID string
	now      func() time.Time

	stripes [64]sync.Mutex // creations of one base are serialised; others run alongside

	mu      sync.RWMutex
	current map[string]current     // base -> its current generation's key (bounded: reset when full)
	keys    map[string]cipher.AEAD // full key id -> its cipher (bounded: reset when full)
	// epoch counts Destroy's cache purges: a key read from disk before a
	// purge is not cached after it (it may be one the purge destroyed).
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

// Options configure Open.
type Options struct {
	// Now is the clock of tombstones (default time.Now).
	Now func() time.Time
	// ReadOnly opens the store for reading (export, inspection).
	ReadOnly bool
}

// Open opens (or creates) the key store in dir with the master key. A store
// whose keys another master key wraps is refused with ErrWrongMasterKey,
// naming both keys' ids.
func Open(dir string, master []byte, o Options) (*Store, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("%w: a master key is %d bytes", ErrWrongMasterKey, MasterKeySize)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: o.ReadOnly, Logger: quietLogger{}})
	if err != nil {
		var pe *fs.PathError
		if !errors.As(err, &pe) && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)) {
			// The directory lock's refusal (not a file's permissions).
			return nil, fmt.Errorf("open the key store %s: %w (another process, a running server or tool, has it open): %w", dir, ErrInUse, err)
		}
		return nil, fmt.Errorf("open the key store %s: %w", dir, err)
	}
	aead, _ := newAEAD(master)
	s := &Store{db: db, master: aead, masterID: MasterKeyID(master), now: o.Now, current: map[string]current{}, keys: map[string]cipher.AEAD{}}
	v, closer, err := db.Get([]byte(metaMaster))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if !o.ReadOnly {
			if err := db.Set([]byte(metaMaster), []byte(s.masterID), pebble.Sync); err != nil {
				db.Close()
				return nil, fmt.Errorf("key store: %w", err)
			}
		}
	case err != nil:
		db.Close()
		return nil, fmt.Errorf("key store: %w", err)
	default:
		have := string(v)
		closer.Close()
		if have != s.masterID {
			db.Close()
			return nil, fmt.Errorf("%w: the key store's data keys are wrapped by master key %s, the key given is %s: "+
				"give the master key this key store was made with (HOOKLEDGER_MASTER_KEY or --master-key-file); without it its payloads cannot be read",
				ErrWrongMasterKey, have, s.masterID)
		}
	}
	return s, nil
}

// Close releases the store.
func (s *Store) Close() error { return s.db.Close() }

// Keys of the store. Data keys under k/, tombstones of destroyed ones under
// t/, each base's highest generation under g/.
const (
	metaMaster = "meta/master"
	pKey       = "k/"
	pTomb      = "t/"
	pGen       = "g/"
)

type keyRecord struct {
	Master    string    `json:"master"`
	Nonce     []byte    `json:"nonce"`
	Wrapped   []byte    `json:"wrapped"`
	CreatedAt time.Time `json:"created_at"`
}

type tombstone struct {
	ErasureID   string    `json:"erasure_id"`
	DestroyedAt time.Time `json:"destroyed_at"`
}

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
	cur, err := s.currentKey(base)
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
	aead, err := s.key(keyID)
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
	aead, err := s.key(v.KeyID)
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
func (s *Store) currentKey(base string) (current, error) {
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
		cur, err := s.loadOrCreate(base)
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
// stripe.
func (s *Store) loadOrCreate(base string) (current, error) {
	var cur current
	gen, err := s.generation(base)
	if err != nil {
		return current{}, err
	}
	if gen > 0 {
		id := base + "#" + strconv.FormatUint(gen, 10)
		if aead, err := s.key(id); err == nil {
			cur = current{id: id, aead: aead}
		} else if !errors.Is(err, domain.ErrErased) {
			return current{}, err
		}
	}
	if cur.id == "" { // none yet, or the current one was destroyed: a new generation
		gen++
		cur.id = base + "#" + strconv.FormatUint(gen, 10)
		key := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return current{}, err
		}
		if cur.aead, err = newAEAD(key); err != nil {
			return current{}, err
		}
		rec := keyRecord{Master: s.masterID, Nonce: make([]byte, s.master.NonceSize()), CreatedAt: s.now().UTC()}
		io.ReadFull(rand.Reader, rec.Nonce)
		rec.Wrapped = s.master.Seal(nil, rec.Nonce, key, wrapAAD(cur.id))
		b := s.db.NewBatch()
		raw, _ := json.Marshal(rec)
		b.Set([]byte(pKey+cur.id), raw, nil)
		b.Set([]byte(pGen+base), []byte(strconv.FormatUint(gen, 10)), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return current{}, fmt.Errorf("key store: create %s: %w", cur.id, err)
		}
	}
	return cur, nil
}

func (s *Store) generation(base string) (uint64, error) {
	v, closer, err := s.db.Get([]byte(pGen + base))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return strconv.ParseUint(string(v), 10, 64)
}

// remember caches an unwrapped key's cipher; s.mu must be held for writing.
func (s *Store) remember(id string, aead cipher.AEAD) {
	if len(s.keys) >= cacheKeys {
		s.keys = map[string]cipher.AEAD{}
	}
	s.keys[id] = aead
}

// key answers the cipher of the data key id (a full id, with its generation).
func (s *Store) key(id string) (cipher.AEAD, error) {
	s.mu.RLock()
	k, ok := s.keys[id]
	epoch := s.epoch
	s.mu.RUnlock()
	if ok {
		return k, nil
	}
	raw, closer, err := s.db.Get([]byte(pKey + id))
	if errors.Is(err, pebble.ErrNotFound) {
		if t, ok, terr := s.tombstone(id); terr != nil {
			return nil, terr
		} else if ok {
			return nil, &domain.ErasedError{KeyID: id, ErasureID: t.ErasureID, ErasedAt: t.DestroyedAt}
		}
		return nil, fmt.Errorf("%w: %s", ErrKeyMissing, id)
	}
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	var rec keyRecord
	err = json.Unmarshal(raw, &rec)
	closer.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: key store record %s: %v", domain.ErrCorrupt, id, err)
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
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pKey + prefix), UpperBound: upper([]byte(pKey + prefix))})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []string
	for it.First(); it.Valid(); it.Next() {
		out = append(out, string(it.Key()[len(pKey):]))
	}
	return out, it.Error()
}

func upper(p []byte) []byte {
	u := bytes.Clone(p)
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] < 0xff {
			u[i]++
			return u[:i+1]
		}
	}
	return nil
}

// Destroy removes the data keys ids for ever, leaving tombstones that name
// the erasure, synced; then flushes and compacts the key range so the
// wrapped keys leave the store's tables too. Destroying a destroyed or
// unknown key changes nothing (an interrupted erasure is simply run again).
func (s *Store) Destroy(ids []string, erasureID string) error {
	if len(ids) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	t, _ := json.Marshal(tombstone{ErasureID: erasureID, DestroyedAt: s.now().UTC()})
	for _, id := range ids {
		if _, ok, err := s.tombstone(id); err != nil {
			return err
		} else if ok {
			continue
		}
		b.Delete([]byte(pKey+id), nil)
		b.Set([]byte(pTomb+id), t, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("key store: destroy: %w", err)
	}
	s.mu.Lock()
	s.epoch++
	for _, id := range ids {
		delete(s.keys, id)
		base, _, _ := strings.Cut(id, "#")
		if s.current[base].id == id {
			delete(s.current, base)
		}
	}
	s.mu.Unlock()
	return s.purge()
}

// purge flushes the memtable and compacts the data keys' range, so that
// deleted wrapped keys are no longer in any table of the store.
func (s *Store) purge() error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("key store: flush: %w", err)
	}
	if err := s.db.Compact(context.Background(), []byte(pKey), upper([]byte(pKey)), true); err != nil {
		return fmt.Errorf("key store: compact: %w", err)
	}
	// Pebble deletes the tables a compaction made obsolete in the
	// background: wait for it (briefly), so that when Destroy returns no
	// table file holds a destroyed key.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m := s.db.Metrics()
		if m.Table.ObsoleteCount == 0 && m.Table.ZombieCount == 0 {
			return nil
		}
	}
	return errors.New("key store: the tables holding destroyed keys were not deleted within 5 s")
}

// MasterID is the id of the master key that wraps the store.
func (s *Store) MasterID() string { return s.masterID }

// quietLogger keeps Pebble's informational lines out of the process log;
// errors surface as returned errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("key store: "+format, args...))
}

// Checkpoint writes a copy of the key store into dir (which must not exist)
// while it serves (Pebble's checkpoint: tables hard-linked where possible,
// the log copied after a sync). Every key created before the call is in it;
// a key destroyed before the call is not.
func (s *Store) Checkpoint(dir string) error {
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("checkpoint the key store into %s: %w", dir, err)
	}
	return nil
}
