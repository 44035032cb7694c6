package keystore_test

import (
	"testing"

	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/keystore/keystoretest"
)

// The local backend (one process: no Share) runs the conformance suite.
func TestLocalBackend(t *testing.T) {
	keystoretest.Run(t, keystoretest.Options{Open: func(t *testing.T) keystore.Backend {
		b, err := keystore.OpenLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}})
}
