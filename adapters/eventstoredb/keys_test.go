package eventstoredb_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/eventstoredb/esdbtest"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/keystore/keystoretest"
	"github.com/hookledger/hookledger/domain"
)

// keyBackends opens key backends on url: each Open a ledger of its own
// (prefix), each Share a second adapter (another node) on the same ledger.
func keyBackends(url string) keystoretest.Options {
	stores := map[keystore.Backend]*eventstoredb.Store{}
	backend := func(t *testing.T, s *eventstoredb.Store) keystore.Backend {
		b, err := s.KeyBackend()
		if err != nil {
			t.Fatal(err)
		}
		stores[b] = s
		return b
	}
	return keystoretest.Options{
		Open: func(t *testing.T) keystore.Backend { return backend(t, open(t, url, nil)) },
		Share: func(t *testing.T, b keystore.Backend) keystore.Backend {
			prefix := stores[b].Prefix()
			return backend(t, open(t, url, func(o *eventstoredb.Options) { o.Prefix = prefix }))
		},
	}
}

// TestKeyBackendAgainstEmulator runs the key store's conformance suite on
// the shared key backend, through the official client.
func TestKeyBackendAgainstEmulator(t *testing.T) {
	keystoretest.Run(t, keyBackends(emulator(t, esdbtest.Options{}).URL()))
}

// TestKeyBackendAgainstRealServer: the same, on a real server when
// HOOKLEDGER_TEST_ESDB_URL names one.
func TestKeyBackendAgainstRealServer(t *testing.T) {
	url := os.Getenv("HOOKLEDGER_TEST_ESDB_URL")
	if url == "" || testing.Short() {
		t.Skip("HOOKLEDGER_TEST_ESDB_URL is not set (or -short): no EventStoreDB server to test against")
	}
	keystoretest.Run(t, keyBackends(url))
}

// TestTheKeyStreamsStayOutOfTheLedger: the key streams are not the
// ledger's (its reads of $all and its subscription never meet them, so no
// seal or export holds a key), and a destroyed key is not read back from its
// stream at all: only its tombstone is.
func TestTheKeyStreamsStayOutOfTheLedger(t *testing.T) {
	srv := emulator(t, esdbtest.Options{})
	s := open(t, srv.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := s.KeyBackend()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
	ks, err := keystore.New(ctx, b, m, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ks.Seal(ctx, "app_1/d/20260310", "message:msg_1", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "message-msg_1", domain.NoStream, domain.EventData{ID: "0b7a3f4e-55a0-4c55-9d36-2f1f1a1c0001", Type: "t", Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ReadAll(ctx, 0, 100)
	if err != nil || len(all) != 1 || all[0].Stream != "message-msg_1" {
		t.Fatalf("the ledger's $all: %v %v", all, err)
	}
	seen := make(chan domain.RecordedEvent, 10)
	sctx, scancel := context.WithCancel(ctx)
	go s.SubscribeAll(sctx, 0, func(r domain.RecordedEvent) error { seen <- r; return nil })
	select {
	case r := <-seen:
		if r.Stream != "message-msg_1" {
			t.Fatalf("the subscription delivered %s", r.Stream)
		}
	case <-ctx.Done():
		t.Fatal("no event from the subscription")
	}
	scancel()

	// Re-wrapped by a new master key: the stream reads as the new copy
	// alone (the old one is past $tb, for the scavenge).
	kept, err := ks.Seal(ctx, "app_1/d/20260311", "message:msg_2", []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
	if n, err := keystore.RotateMasterOf(ctx, b, m, m2, []string{"app_1"}); err != nil || n != 2 {
		t.Fatalf("rotation: %d %v", n, err)
	}
	c, err := kurrentdb.NewClient(mustConfig(t, srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw := func(id string) (types []string, masters []string) {
		rs, err := c.ReadStream(ctx, eventstoredb.KeyStreamsPrefix(s.Prefix())+"key-"+id, kurrentdb.ReadStreamOptions{From: kurrentdb.Start{}}, 100)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if err != nil {
				return
			}
			types = append(types, ev.Event.EventType)
			var rec keystore.Record
			if json.Unmarshal(ev.Event.Data, &rec) == nil && len(rec.Wrapped) > 0 {
				masters = append(masters, rec.Master)
			}
		}
	}
	if types, masters := raw(kept.KeyID); strings.Join(types, ",") != "data_key.created" || strings.Join(masters, ",") != keystore.MasterKeyID(m2) {
		t.Fatalf("the re-wrapped key's stream reads %v wrapped by %v", types, masters)
	}
	ks, err = keystore.New(ctx, b, m2, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// Destroyed: a raw read of the key's stream, from its start, holds the
	// tombstone only.
	if err := ks.Destroy([]string{v.KeyID}, "era_1"); err != nil {
		t.Fatal(err)
	}
	if types, masters := raw(v.KeyID); strings.Join(types, ",") != "data_key.destroyed" || len(masters) > 0 {
		t.Fatalf("the destroyed key's stream reads %v (wrapped copies: %v)", types, masters)
	}
}

func mustConfig(t *testing.T, url string) *kurrentdb.Configuration {
	t.Helper()
	cfg, err := kurrentdb.ParseConnectionString(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKeysCopyBetweenTheLocalAndTheLedgerKeyStore: a ledger moved from one
// process to a cluster (and back) takes its keys along, erasures included.
func TestKeysCopyBetweenTheLocalAndTheLedgerKeyStore(t *testing.T) {
	url := emulator(t, esdbtest.Options{}).URL()
	ledger := keyBackends(url).Open
	local := func(t *testing.T) keystore.Backend {
		b, err := keystore.OpenLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	t.Run("LocalToLedger", func(t *testing.T) { keystoretest.CheckCopy(t, local, ledger) })
	t.Run("LedgerToLocal", func(t *testing.T) { keystoretest.CheckCopy(t, ledger, local) })
}
