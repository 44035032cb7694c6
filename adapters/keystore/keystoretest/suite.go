// Package keystoretest is the conformance suite of keystore.Backend: every
// backend (the local one, EventStoreDB's shared one) runs it, so the key
// store behaves the same over each.
package keystoretest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/domain"
)

// Options describe the backend under test.
type Options struct {
	// Open answers a new, empty backend.
	Open func(t *testing.T) keystore.Backend
	// Shared: Share answers a second handle on the same backend, as another
	// process (a node of a cluster) has it; the suite then checks that two
	// key stores over it agree.
	Share func(t *testing.T, b keystore.Backend) keystore.Backend
}

// Run runs the suite.
func Run(t *testing.T, o Options) {
	t.Run("Master", func(t *testing.T) { testMaster(t, o) })
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, o) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, o) })
	t.Run("Destroy", func(t *testing.T) { testDestroy(t, o) })
	t.Run("StoreOverIt", func(t *testing.T) { testStore(t, o) })
	t.Run("Copy", func(t *testing.T) { CheckCopy(t, o.Open, o.Open) })
	t.Run("RotateMaster", func(t *testing.T) { testRotate(t, o) })
	if o.Share != nil {
		t.Run("Shared", func(t *testing.T) { testShared(t, o) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func record(n byte) keystore.Record {
	return keystore.Record{Master: "mk_test", Nonce: []byte{n, 1, 2}, Wrapped: []byte{n, 9, 8, 7}, CreatedAt: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
}

func testMaster(t *testing.T, o Options) {
	ctx, b := ctxT(t), o.Open(t)
	if id, err := b.Master(ctx); err != nil || id != "" {
		t.Fatalf("a new backend's master: %q %v", id, err)
	}
	if id, err := b.InitMaster(ctx, "mk_a"); err != nil || id != "mk_a" {
		t.Fatalf("first InitMaster: %q %v", id, err)
	}
	if id, err := b.InitMaster(ctx, "mk_b"); err != nil || id != "mk_a" {
		t.Fatalf("a second InitMaster with another key answers %q %v, want the first", id, err)
	}
	if id, err := b.Master(ctx); err != nil || id != "mk_a" {
		t.Fatalf("Master: %q %v", id, err)
	}
}

func testCreateGet(t *testing.T, o Options) {
	ctx, b := ctxT(t), o.Open(t)
	const base, id = "app_1/d/20260310", "app_1/d/20260310#1"
	if _, _, err := b.Get(ctx, id); !errors.Is(err, keystore.ErrNoKey) {
		t.Fatalf("Get of a key never created: %v", err)
	}
	if g, err := b.Generation(ctx, base); err != nil || g != 0 {
		t.Fatalf("generation before any: %d %v", g, err)
	}
	if err := b.Create(ctx, base, 1, id, record(1)); err != nil {
		t.Fatal(err)
	}
	rec, tomb, err := b.Get(ctx, id)
	if err != nil || tomb != nil || !reflect.DeepEqual(rec, record(1)) {
		t.Fatalf("Get: %+v %v %v", rec, tomb, err)
	}
	if err := b.Create(ctx, base, 1, id, record(2)); !errors.Is(err, keystore.ErrKeyExists) {
		t.Fatalf("creating generation 1 again: %v", err)
	}
	if rec, _, _ := b.Get(ctx, id); !reflect.DeepEqual(rec, record(1)) {
		t.Fatalf("a refused Create changed the key: %+v", rec)
	}
	if g, err := b.Generation(ctx, base); err != nil || g != 1 {
		t.Fatalf("generation: %d %v", g, err)
	}
	if g, _ := b.Generation(ctx, "app_1/d/20260311"); g != 0 {
		t.Fatalf("another base's generation: %d", g)
	}
}

func testKeys(t *testing.T, o Options) {
	ctx, b := ctxT(t), o.Open(t)
	for i, id := range []string{"app_1/m/20260310/msg_2#1", "app_1/d/20260310#1", "app_2/d/20260310#1", "app_10/d/20260310#1", "app_1/m/20260310/msg_1#1"} {
		base := id[:len(id)-2]
		if err := b.Create(ctx, base, 1, id, record(byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	for prefix, want := range map[string][]string{
		"app_1/":            {"app_1/d/20260310#1", "app_1/m/20260310/msg_1#1", "app_1/m/20260310/msg_2#1"},
		"app_1/m/":          {"app_1/m/20260310/msg_1#1", "app_1/m/20260310/msg_2#1"},
		"app_1/m/20260310/": {"app_1/m/20260310/msg_1#1", "app_1/m/20260310/msg_2#1"},
		"app_10/":           {"app_10/d/20260310#1"},
		"app_3/":            nil,
	} {
		got, err := b.Keys(ctx, prefix)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Keys(%q) = %v %v, want %v", prefix, got, err, want)
		}
	}
}

func testDestroy(t *testing.T, o Options) {
	ctx, b := ctxT(t), o.Open(t)
	const base = "app_1/d/20260310"
	ids := []string{base + "#1", "app_1/m/20260310/msg_1#1"}
	for i, id := range ids {
		if err := b.Create(ctx, id[:len(id)-2], 1, id, record(byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	first := keystore.Tombstone{ErasureID: "era_1", DestroyedAt: time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)}
	if err := b.Destroy(ctx, ids[:1], first); err != nil {
		t.Fatal(err)
	}
	_, tomb, err := b.Get(ctx, ids[0])
	if err != nil || tomb == nil || *tomb != first {
		t.Fatalf("Get of a destroyed key: %v %v", tomb, err)
	}
	if keys, _ := b.Keys(ctx, "app_1/"); fmt.Sprint(keys) != fmt.Sprint(ids[1:]) {
		t.Fatalf("live keys after a destroy: %v", keys)
	}
	// Again, by another erasure: the first tombstone stays.
	if err := b.Destroy(ctx, ids, keystore.Tombstone{ErasureID: "era_2", DestroyedAt: first.DestroyedAt.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, tomb, _ := b.Get(ctx, ids[0]); tomb == nil || tomb.ErasureID != "era_1" {
		t.Fatalf("a second destroy replaced the tombstone: %v", tomb)
	}
	if _, tomb, _ := b.Get(ctx, ids[1]); tomb == nil || tomb.ErasureID != "era_2" {
		t.Fatalf("the second key's tombstone: %v", tomb)
	}
	if keys, _ := b.Keys(ctx, "app_1/"); len(keys) != 0 {
		t.Fatalf("live keys after destroying all: %v", keys)
	}
	// The destroyed generation counts: the next one is 2.
	if g, _ := b.Generation(ctx, base); g != 1 {
		t.Fatalf("generation after a destroy: %d", g)
	}
	if err := b.Create(ctx, base, 1, base+"#1", record(7)); !errors.Is(err, keystore.ErrKeyExists) {
		t.Fatalf("re-creating a destroyed generation: %v", err)
	}
	if err := b.Create(ctx, base, 2, base+"#2", record(8)); err != nil {
		t.Fatal(err)
	}
	if g, _ := b.Generation(ctx, base); g != 2 {
		t.Fatalf("generation after the next: %d", g)
	}
	if keys, _ := b.Keys(ctx, "app_1/"); fmt.Sprint(keys) != "["+base+"#2]" {
		t.Fatalf("live keys: %v", keys)
	}
	// A key destroyed that this backend never held (a key store restored
	// from an older backup) still takes its generation, and a store over
	// the backend seals its base under the next one.
	const lost = "app_3/d/20260310"
	if err := b.Destroy(ctx, []string{lost + "#1"}, first); err != nil {
		t.Fatal(err)
	}
	if _, tomb, err := b.Get(ctx, lost+"#1"); err != nil || tomb == nil {
		t.Fatalf("a key destroyed without being created: %v %v", tomb, err)
	}
	if g, _ := b.Generation(ctx, lost); g != 1 {
		t.Fatalf("the generation of a base whose only key was destroyed unseen: %d", g)
	}
	if err := b.Create(ctx, lost, 1, lost+"#1", record(9)); !errors.Is(err, keystore.ErrKeyExists) {
		t.Fatalf("creating a key destroyed unseen: %v", err)
	}
	// Many at once (an application's erasure under one key per message).
	var many []string
	for i := range 40 {
		id := fmt.Sprintf("app_2/m/20260310/msg_%02d#1", i)
		if err := b.Create(ctx, id[:len(id)-2], 1, id, record(byte(i))); err != nil {
			t.Fatal(err)
		}
		many = append(many, id)
	}
	if err := b.Destroy(ctx, many, first); err != nil {
		t.Fatal(err)
	}
	for _, id := range many {
		if _, tomb, err := b.Get(ctx, id); err != nil || tomb == nil {
			t.Fatalf("%s after destroying 40 keys: %v %v", id, tomb, err)
		}
	}
	if keys, _ := b.Keys(ctx, "app_2/"); len(keys) != 0 {
		t.Fatalf("live keys after destroying 40: %v", keys)
	}
}

func newMaster(t *testing.T) []byte {
	t.Helper()
	m, err := keystore.ParseMasterKey(keystore.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newStore(t *testing.T, b keystore.Backend, m []byte) *keystore.Store {
	t.Helper()
	s, err := keystore.New(ctxT(t), b, m, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testStore(t *testing.T, o Options) {
	ctx, b := ctxT(t), o.Open(t)
	m := newMaster(t)
	s := newStore(t, b, m)
	v, err := s.Seal(ctx, "app_1/d/20260310", "message:msg_1", []byte(`{"card":"4242"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(ctx, "message:msg_1", v); err != nil || string(got) != `{"card":"4242"}` {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := keystore.New(ctx, b, newMaster(t), keystore.Options{}); !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("a key store over the backend with another master key: %v", err)
	}
	// Checked later (a backend down at the start): the first use checks.
	late, err := keystore.New(ctx, b, newMaster(t), keystore.Options{CheckLater: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := late.Seal(ctx, "app_1/d/20260310", "message:msg_9", []byte("x")); !errors.Is(err, keystore.ErrWrongMasterKey) {
			t.Fatalf("a key store checked later sealed with another master key: %v", err)
		}
		if _, err := late.Open(ctx, "message:msg_1", v); !errors.Is(err, keystore.ErrWrongMasterKey) {
			t.Fatalf("a key store checked later opened with another master key: %v", err)
		}
	}
	right, err := keystore.New(ctx, b, m, keystore.Options{CheckLater: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := right.Open(ctx, "message:msg_1", v); err != nil || string(got) != `{"card":"4242"}` {
		t.Fatalf("open, checked later with the right key: %q %v", got, err)
	}
	if err := s.Destroy([]string{v.KeyID}, "era_1"); err != nil {
		t.Fatal(err)
	}
	var erased *domain.ErasedError
	if _, err := s.Open(ctx, "message:msg_1", v); !errors.As(err, &erased) || erased.ErasureID != "era_1" {
		t.Fatalf("open after destroy: %v", err)
	}
	v2, err := s.Seal(ctx, "app_1/d/20260310", "message:msg_2", []byte(`{}`))
	if err != nil || v2.KeyID == v.KeyID {
		t.Fatalf("a seal after the destroy: %+v %v", v2, err)
	}
	// A base whose first key was destroyed before this store made it.
	if err := b.Destroy(ctx, []string{"app_1/d/20260311#1"}, keystore.Tombstone{ErasureID: "era_0"}); err != nil {
		t.Fatal(err)
	}
	if v3, err := s.Seal(ctx, "app_1/d/20260311", "message:msg_3", []byte(`{}`)); err != nil || v3.KeyID != "app_1/d/20260311#2" {
		t.Fatalf("a seal under a base whose first key was destroyed unseen: %+v %v", v3, err)
	}
	if id, _, ok, err := keystore.TombstonesOf(b).Destroyed(v.KeyID); err != nil || !ok || id != "era_1" {
		t.Fatalf("the tombstone without the master key: %q %v %v", id, ok, err)
	}
}

// testShared: two key stores over one shared backend (two nodes) read each
// other's keys, create one key when they seal under one base at once, and
// the one that did not destroy a key stops opening values under it once
// told (Forget).
func testShared(t *testing.T, o Options) {
	ctx, b := ctxT(t), o.Open(t)
	m := newMaster(t)
	a, other := newStore(t, b, m), newStore(t, o.Share(t, b), m)
	const base = "app_1/d/20260310"
	var wg sync.WaitGroup
	vals := make([]*domain.SealedValue, 16)
	errs := make([]error, len(vals))
	for i := range vals {
		s := a
		if i%2 == 1 {
			s = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], errs[i] = s.Seal(ctx, base, fmt.Sprintf("message:msg_%d", i), []byte(fmt.Sprint(i)))
		}()
	}
	wg.Wait()
	for i, v := range vals {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if v.KeyID != vals[0].KeyID {
			t.Fatalf("two stores sealing under one base at once made two keys: %s and %s", vals[0].KeyID, v.KeyID)
		}
		for _, s := range []*keystore.Store{a, other} {
			if got, err := s.Open(ctx, fmt.Sprintf("message:msg_%d", i), v); err != nil || string(got) != fmt.Sprint(i) {
				t.Fatalf("value %d: %q %v", i, got, err)
			}
		}
	}
	if err := a.Destroy([]string{vals[0].KeyID}, "era_1"); err != nil {
		t.Fatal(err)
	}
	other.Forget([]string{vals[0].KeyID})
	var erased *domain.ErasedError
	if _, err := other.Open(ctx, "message:msg_1", vals[1]); !errors.As(err, &erased) || erased.ErasureID != "era_1" {
		t.Fatalf("the other store opens a value under a key destroyed and forgotten: %v", err)
	}
	// Both seal the base under its next generation.
	n1, err1 := other.Seal(ctx, base, "message:msg_a", []byte("a"))
	n2, err2 := a.Seal(ctx, base, "message:msg_b", []byte("b"))
	if err1 != nil || err2 != nil || n1.KeyID != n2.KeyID || n1.KeyID == vals[0].KeyID {
		t.Fatalf("after the destroy: %v %v, %v %v", n1, err1, n2, err2)
	}
}

// CheckCopy copies the keys of a backend opened by from into one opened by
// to (the same kind, or another: a ledger moved between stores), and
// checks that the copy opens what the source opened, keeps erased what
// was erased, resumes when run again, and refuses a destination wrapped
// by another master key.
func CheckCopy(t *testing.T, from, to func(*testing.T) keystore.Backend) {
	ctx, src, dst := ctxT(t), from(t), to(t)
	m := newMaster(t)
	s := newStore(t, src, m)
	vals := sealThenErase(t, s, "app_1/d/20260310", "app_1/m/20260310/msg_2", "app_2/d/20260310", "app_1/c")
	again, err := s.Seal(ctx, "app_1/m/20260310/msg_2", "aad again", []byte("value again"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := keystore.CopyKeys(ctx, src, dst, []string{"app_1", "app_2"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Keys != 4 || rep.Tombstones != 1 || rep.AlreadyThere != 0 || rep.MasterID != keystore.MasterKeyID(m) {
		t.Fatalf("copy: %+v", rep)
	}
	c := newStore(t, dst, m)
	for i, v := range vals {
		got, err := c.Open(ctx, fmt.Sprint("aad", i), v)
		if i == 1 {
			var erased *domain.ErasedError
			if !errors.As(err, &erased) || erased.ErasureID != "era_1" {
				t.Fatalf("the erased value, in the copy: %q %v", got, err)
			}
			continue
		}
		if err != nil || string(got) != fmt.Sprint("value ", i) {
			t.Fatalf("value %d in the copy: %q %v", i, got, err)
		}
	}
	if got, err := c.Open(ctx, "aad again", again); err != nil || string(got) != "value again" {
		t.Fatalf("the next generation in the copy: %q %v", got, err)
	}
	// The copy seals new values past what it was given.
	if v, err := c.Seal(ctx, "app_1/m/20260310/msg_2", "aad 3", []byte("x")); err != nil || v.KeyID != again.KeyID {
		t.Fatalf("a seal in the copy: %+v %v", v, err)
	}
	if rep, err := keystore.CopyKeys(ctx, src, dst, []string{"app_1", "app_2"}); err != nil || rep.Keys != 0 || rep.AlreadyThere != 4 {
		t.Fatalf("the copy run again: %+v %v", rep, err)
	}
	other := to(t)
	if _, err := keystore.New(ctx, other, newMaster(t), keystore.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := keystore.CopyKeys(ctx, src, other, []string{"app_1"}); !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("a copy into a key store of another master key: %v", err)
	}
}

// testRotate: a master key's rotation re-wraps every live key, leaves the
// destroyed ones destroyed, and records the new master key; run again, it
// changes nothing.
func testRotate(t *testing.T, o Options) {
	ctx, b := ctxT(t), o.Open(t)
	m, m2 := newMaster(t), newMaster(t)
	s := newStore(t, b, m)
	vals := sealThenErase(t, s, "app_1/d/20260310", "app_1/m/20260310/msg_2", "app_2/d/20260310")
	if _, err := keystore.RotateMasterOf(ctx, b, newMaster(t), m2, []string{"app_1", "app_2"}); !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("a rotation from a key that is not the current one: %v", err)
	}
	n, err := keystore.RotateMasterOf(ctx, b, m, m2, []string{"app_1", "app_2"})
	if err != nil || n != 2 {
		t.Fatalf("rotation: %d keys re-wrapped, %v", n, err)
	}
	if _, err := keystore.New(ctx, b, m, keystore.Options{}); !errors.Is(err, keystore.ErrWrongMasterKey) {
		t.Fatalf("the old master key after the rotation: %v", err)
	}
	r := newStore(t, b, m2)
	for i, v := range vals {
		got, err := r.Open(ctx, fmt.Sprint("aad", i), v)
		if i == 1 {
			if !errors.Is(err, domain.ErrErased) {
				t.Fatalf("the erased value after the rotation: %q %v", got, err)
			}
			continue
		}
		if err != nil || string(got) != fmt.Sprint("value ", i) {
			t.Fatalf("value %d after the rotation: %q %v", i, got, err)
		}
	}
	for _, id := range []string{vals[0].KeyID, vals[2].KeyID} {
		if rec, _, err := b.Get(ctx, id); err != nil || rec.Master != keystore.MasterKeyID(m2) {
			t.Fatalf("%s after the rotation: wrapped by %s, %v", id, rec.Master, err)
		}
	}
	if n, err := keystore.RotateMasterOf(ctx, b, m, m2, []string{"app_1", "app_2"}); err != nil || n != 0 {
		t.Fatalf("the rotation run again: %d %v", n, err)
	}
}

// sealThenErase seals "value i" under each base in turn (additional data
// "aad i"), then destroys the second one's key by erasure era_1.
func sealThenErase(t *testing.T, s *keystore.Store, bases ...string) []*domain.SealedValue {
	t.Helper()
	var vals []*domain.SealedValue
	for i, base := range bases {
		v, err := s.Seal(ctxT(t), base, fmt.Sprint("aad", i), []byte(fmt.Sprint("value ", i)))
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v)
	}
	if err := s.Destroy([]string{vals[1].KeyID}, "era_1"); err != nil {
		t.Fatal(err)
	}
	return vals
}
