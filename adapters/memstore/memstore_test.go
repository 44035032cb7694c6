package memstore_test

import (
	"testing"

	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/adapters/storetest"
	"github.com/hookledger/hookledger/domain"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) domain.EventStore {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
