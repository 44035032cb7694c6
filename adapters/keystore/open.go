package keystore

// Opening a key store: over the local backend or another, with the master
// key checked against the one that wraps the backend's keys (at once, or
// at the first use).

import (
	"context"
	"crypto/cipher"
	"fmt"
	"time"
)

// Options configure Open.
type Options struct {
	// Now is the clock of tombstones (default time.Now).
	Now func() time.Time
	// ReadOnly opens the store for reading (export, inspection).
	ReadOnly bool
	// CheckLater: New does not contact the backend; the first use that
	// needs it checks the master key instead (a shared backend down while
	// a node starts). Until that check passes, nothing is sealed or opened.
	CheckLater bool
}

// Open opens (or creates) the key store in dir with the master key. A store
// whose keys another master key wraps is refused with ErrWrongMasterKey,
// naming both keys' ids.
func Open(dir string, master []byte, o Options) (*Store, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("%w: a master key is %d bytes", ErrWrongMasterKey, MasterKeySize)
	}
	l, err := openLocal(dir, o.ReadOnly)
	if err != nil {
		return nil, err
	}
	s, err := New(context.Background(), l, master, o)
	if err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

// New is a key store over b with the master key (Open is New over the
// local backend). Keys another master key wraps are refused with
// ErrWrongMasterKey, naming both keys' ids; a backend that holds no key yet
// records this master key's id (unless o.ReadOnly). Close closes b.
func New(ctx context.Context, b Backend, master []byte, o Options) (*Store, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("%w: a master key is %d bytes", ErrWrongMasterKey, MasterKeySize)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	aead, _ := newAEAD(master)
	s := &Store{b: b, master: aead, masterID: MasterKeyID(master), now: o.Now, current: map[string]current{}, keys: map[string]cipher.AEAD{}}
	s.readOnly = o.ReadOnly
	if o.CheckLater {
		return s, nil
	}
	if err := s.verify(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// verify checks, once, that the backend's keys are wrapped by this master
// key (recording it on a backend that holds none). A mismatch is final;
// a backend that did not answer is asked again at the next use.
func (s *Store) verify(ctx context.Context) error {
	if s.checked.Load() {
		return nil
	}
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	if s.checked.Load() || s.mismatch != nil {
		return s.mismatch
	}
	var have string
	var err error
	if s.readOnly {
		have, err = s.b.Master(ctx)
	} else {
		have, err = s.b.InitMaster(ctx, s.masterID)
	}
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	if have != "" && have != s.masterID {
		s.mismatch = fmt.Errorf("%w: the key store's data keys are wrapped by master key %s, the key given is %s: "+
			"give the master key this key store was made with (HOOKLEDGER_MASTER_KEY or --master-key-file); without it its payloads cannot be read",
			ErrWrongMasterKey, have, s.masterID)
		return s.mismatch
	}
	s.checked.Store(true)
	return nil
}

// Close releases the store.
func (s *Store) Close() error { return s.b.Close() }
