package pebblestore_test

import (
	"testing"

	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/storetest"
	"github.com/hookledger/hookledger/domain"
)

func openTemp(t testing.TB) *pebblestore.Store {
	s, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) domain.EventStore { return openTemp(t) })
}
