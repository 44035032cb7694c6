package projections_test

import (
	"testing"

	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

// memStore runs the suite over the in-memory records: "commit" keeps the
// views, and a reopen is a fresh fold of nothing kept (MemRecords are not
// durable), emulated by a snapshot round trip at the last commit.
type memStore struct {
	v    *projections.Views
	kept []byte
}

func (m *memStore) Load(t *testing.T) *projections.Views {
	if m.v == nil {
		m.v = projections.New()
		if m.kept != nil {
			v, err := projections.LoadSnapshot(m.kept)
			if err != nil {
				t.Fatal(err)
			}
			m.v = v
		}
	}
	return m.v
}

func (m *memStore) Commit(t *testing.T, v *projections.Views) {
	b, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m.kept = b
}

func (m *memStore) Reopen(*testing.T) { m.v = nil }

func TestMemRecordsSuite(t *testing.T) {
	projectionstest.RunStoreSuite(t, func(*testing.T) projectionstest.Store { return &memStore{} })
}
