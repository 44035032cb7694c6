package viewstore_test

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

type harness struct {
	dir string
	s   *viewstore.Store
	v   *projections.Views
}

func (h *harness) Load(t *testing.T) *projections.Views {
	if h.v == nil {
		v, _, err := h.s.Load()
		if err != nil {
			t.Fatal(err)
		}
		h.v = v
	}
	return h.v
}

func (h *harness) Commit(t *testing.T, v *projections.Views) {
	if err := h.s.Commit(v, nil); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) Reopen(t *testing.T) {
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	h.s, h.v = open(t, h.dir), nil
}

func open(t *testing.T, dir string) *viewstore.Store {
	t.Helper()
	s, err := viewstore.Open(dir, viewstore.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreSuite(t *testing.T) {
	projectionstest.RunStoreSuite(t, func(t *testing.T) projectionstest.Store {
		dir := t.TempDir()
		h := &harness{dir: dir, s: open(t, dir)}
		t.Cleanup(func() { h.s.Close() })
		return h
	})
}
