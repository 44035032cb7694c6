package keystore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hookledger/hookledger/adapters/pebblebg"
	"github.com/hookledger/hookledger/domain"
)

// local is the Backend of one process: a Pebble instance of its own in the
// data directory (`<data-dir>/keys`). Data keys under k/, tombstones of
// destroyed ones under t/, each base's highest generation under g/.
type local struct {
	db *pebble.DB
	// bg bounds purge's flush: Pebble retries a failed flush without end,
	// and an erasure must fail rather than wait for ever (adapters/pebblebg).
	bg *pebblebg.Watch
	// damaged is the first data corruption a read met (Damaged).
	damaged *atomic.Pointer[error]
}

const (
	metaMaster = "meta/master"
	pKey       = "k/"
	pTomb      = "t/"
	pGen       = "g/"
)

// OpenLocal opens (or creates) the local backend in dir, for New.
func OpenLocal(dir string) (Backend, error) { return openLocal(dir, false) }

func openLocal(dir string, readOnly bool) (*local, error) { return openLocalOn(dir, readOnly, nil) }

// openLocalOn is openLocal on files (nil: the operating system's); the tests
// bring one that fails.
func openLocalOn(dir string, readOnly bool, files vfs.FS) (*local, error) {
	// Errors surface as returned errors, so the watch logs nothing. A
	// damaged table too: Pebble's default would end the process from inside
	// the read; with a listener, the read returns the corruption error, and
	// Damaged keeps the first for the API's /readyz.
	bg := pebblebg.New(func(error, int) {}, 0)
	damaged := new(atomic.Pointer[error])
	corrupt := func(info pebble.DataCorruptionInfo) {
		err := fmt.Errorf("data corruption in %s: %v", info.Path, info.Details)
		damaged.CompareAndSwap(nil, &err)
	}
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: readOnly, Logger: quietLogger{}, FS: files,
		EventListener: &pebble.EventListener{BackgroundError: bg.Report, DataCorruption: corrupt}})
	if err != nil {
		var pe *fs.PathError
		if !errors.As(err, &pe) && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)) {
			// The directory lock's refusal (not a file's permissions).
			return nil, fmt.Errorf("open the key store %s: %w (another process, a running server or tool, has it open): %w", dir, ErrInUse, err)
		}
		return nil, fmt.Errorf("open the key store %s: %w", dir, err)
	}
	return &local{db: db, bg: bg, damaged: damaged}, nil
}

func (l *local) Close() error { return l.db.Close() }

// Damaged says whether a read met a damaged table since the store opened
// (nil: none).
func (l *local) Damaged() error {
	if p := l.damaged.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *local) Master(context.Context) (string, error) {
	v, closer, err := l.db.Get([]byte(metaMaster))
	if errors.Is(err, pebble.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("key store: %w", err)
	}
	defer closer.Close()
	return string(v), nil
}

func (l *local) InitMaster(ctx context.Context, id string) (string, error) {
	have, err := l.Master(ctx)
	if err != nil || have != "" {
		return have, err
	}
	if err := l.db.Set([]byte(metaMaster), []byte(id), pebble.Sync); err != nil {
		return "", fmt.Errorf("key store: %w", err)
	}
	return id, nil
}

func (l *local) Get(_ context.Context, id string) (Record, *Tombstone, error) {
	raw, closer, err := l.db.Get([]byte(pKey + id))
	if errors.Is(err, pebble.ErrNotFound) {
		t, ok, terr := l.tombstone(id)
		switch {
		case terr != nil:
			return Record{}, nil, terr
		case ok:
			return Record{}, &t, nil
		}
		return Record{}, nil, ErrNoKey
	}
	if err != nil {
		return Record{}, nil, fmt.Errorf("key store: %w", err)
	}
	defer closer.Close()
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Record{}, nil, fmt.Errorf("%w: key store record %s: %v", domain.ErrCorrupt, id, err)
	}
	return rec, nil, nil
}

func (l *local) tombstone(id string) (Tombstone, bool, error) {
	raw, closer, err := l.db.Get([]byte(pTomb + id))
	if errors.Is(err, pebble.ErrNotFound) {
		return Tombstone{}, false, nil
	}
	if err != nil {
		return Tombstone{}, false, err
	}
	defer closer.Close()
	var t Tombstone
	if err := json.Unmarshal(raw, &t); err != nil {
		return Tombstone{}, false, fmt.Errorf("%w: tombstone %s: %v", domain.ErrCorrupt, id, err)
	}
	return t, true, nil
}

func (l *local) Generation(_ context.Context, base string) (uint64, error) {
	v, closer, err := l.db.Get([]byte(pGen + base))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return strconv.ParseUint(string(v), 10, 64)
}

// Create: one process holds the store (Pebble's directory lock) and the
// Store serialises the creations of a base, so no other makes gen between
// the look and the write.
func (l *local) Create(_ context.Context, base string, gen uint64, id string, rec Record) error {
	for _, k := range []string{pKey + id, pTomb + id} {
		switch _, closer, err := l.db.Get([]byte(k)); {
		case err == nil:
			closer.Close()
			return fmt.Errorf("%w: %s", ErrKeyExists, id)
		case !errors.Is(err, pebble.ErrNotFound):
			return fmt.Errorf("key store: %w", err)
		}
	}
	b := l.db.NewBatch()
	raw, _ := json.Marshal(rec)
	b.Set([]byte(pKey+id), raw, nil)
	if err := l.raiseGeneration(b, base, gen); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("key store: create %s: %w", id, err)
	}
	return nil
}

// raiseGeneration sets base's generation to gen in b unless it is higher.
func (l *local) raiseGeneration(b *pebble.Batch, base string, gen uint64) error {
	have, err := l.Generation(context.Background(), base)
	if err != nil {
		return err
	}
	if gen > have {
		b.Set([]byte(pGen+base), []byte(strconv.FormatUint(gen, 10)), nil)
	}
	return nil
}

func (l *local) Keys(_ context.Context, prefix string) ([]string, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte(pKey + prefix), UpperBound: upper([]byte(pKey + prefix))})
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

// Destroy deletes the records and leaves tombstones, synced; then flushes
// and compacts the key range so the wrapped keys leave the store's tables
// too.
func (l *local) Destroy(_ context.Context, ids []string, t Tombstone) error {
	b := l.db.NewBatch()
	raw, _ := json.Marshal(t)
	for _, id := range ids {
		if _, ok, err := l.tombstone(id); err != nil {
			return err
		} else if ok {
			continue
		}
		b.Delete([]byte(pKey+id), nil)
		b.Set([]byte(pTomb+id), raw, nil)
		// A key destroyed without having been created here (a key store
		// restored from an older backup, a copy) still takes its
		// generation: the next one of its base is created after it.
		if base, gen, ok := splitKeyID(id); ok {
			if err := l.raiseGeneration(b, base, gen); err != nil {
				return err
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("key store: destroy: %w", err)
	}
	return l.purge()
}

// purge flushes the memtable and compacts the data keys' range, so that
// deleted wrapped keys are no longer in any table of the store.
func (l *local) purge() error {
	if err := l.bg.Flush(l.db); err != nil {
		return fmt.Errorf("key store: flush: %w", err)
	}
	if err := l.db.Compact(context.Background(), []byte(pKey), upper([]byte(pKey)), true); err != nil {
		return fmt.Errorf("key store: compact: %w", err)
	}
	// Pebble deletes the tables a compaction made obsolete in the
	// background: wait for it (briefly), so that when Destroy returns no
	// table file holds a destroyed key.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m := l.db.Metrics()
		if m.Table.ObsoleteCount == 0 && m.Table.ZombieCount == 0 {
			return nil
		}
	}
	return errors.New("key store: the tables holding destroyed keys were not deleted within 5 s")
}

// quietLogger keeps Pebble's informational lines out of the process log;
// errors surface as returned errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("key store: "+format, args...))
}

// KeyIDs lists every key the store holds or destroyed, in order (the
// applications are not needed: it holds them all).
func (l *local) KeyIDs(_ context.Context, _ []string) ([]string, error) {
	var out []string
	for _, p := range []string{pKey, pTomb} {
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte(p), UpperBound: upper([]byte(p))})
		if err != nil {
			return nil, err
		}
		for it.First(); it.Valid(); it.Next() {
			out = append(out, string(it.Key()[len(p):]))
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

func (l *local) Rewrap(ctx context.Context, id string, rec Record) error {
	if _, tomb, err := l.Get(ctx, id); err != nil || tomb != nil {
		return err
	}
	raw, _ := json.Marshal(rec)
	if err := l.db.Set([]byte(pKey+id), raw, pebble.Sync); err != nil {
		return fmt.Errorf("key store: rewrap %s: %w", id, err)
	}
	return nil
}

func (l *local) SetMaster(_ context.Context, id string) error {
	if err := l.db.Set([]byte(metaMaster), []byte(id), pebble.Sync); err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	return nil
}
