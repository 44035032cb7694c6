package erasure_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/eventstoredb/esdbtest"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// TestErasureOnEveryStore: the same erasure, recorded and carried out on the
// embedded store, the in-memory store and EventStoreDB (through the official
// client, against the protocol emulator): the key store is local whatever
// the ledger's store, so erasure behaves the same on each.
func TestErasureOnEveryStore(t *testing.T) {
	stores := map[string]func(t *testing.T) domain.EventStore{
		"memstore": func(t *testing.T) domain.EventStore { return memstore.New() },
		"pebblestore": func(t *testing.T) domain.EventStore {
			s, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"eventstoredb": func(t *testing.T) domain.EventStore {
			emu, err := esdbtest.Start(esdbtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(emu.Stop)
			s, err := eventstoredb.Open(eventstoredb.Options{URL: emu.URL(), Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open(t)
			defer store.Close()
			master, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
			keys, err := keystore.Open(t.TempDir(), master, keystore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer keys.Close()
			cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID, Cipher: keys, ErasureScope: domain.ScopeMessage}
			publish := func() domain.MessagePublished {
				m, _, err := cmds.PublishNew(ctx, domain.PublishMessage{MessageID: ids.New(domain.PrefixMessage), ApplicationID: "app_s", EventType: "a.b",
					Payload: []byte(`{"n":1}`)}, domain.Metadata{Actor: "test"})
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			gone, kept := publish(), publish()
			e := &erasure.Eraser{Store: store, Commands: cmds, Keys: keys, Log: zerolog.Nop()}
			req := domain.RequestErasure{ErasureID: "era_s", ApplicationID: "app_s", Scope: domain.EraseMessages, MessageIDs: []string{gone.MessageID}, Reason: "r"}
			res, err := e.Erase(ctx, req, domain.Metadata{Actor: "test"})
			if err != nil || res.Erasure.Completed == nil || len(res.Erasure.Completed.KeyIDs) != 1 {
				t.Fatalf("erase: %+v %v", res, err)
			}
			if _, err := domain.OpenPayload(ctx, keys, gone); err == nil {
				t.Fatal("the erased payload still opens")
			}
			if b, err := domain.OpenPayload(ctx, keys, kept); err != nil || string(b) != `{"n":1}` {
				t.Fatalf("the other payload: %q %v", b, err)
			}
			recs, err := store.ReadStream(ctx, domain.ErasureStream("era_s"), 0, domain.Forward, 10)
			if err != nil || len(recs) != 2 || recs[0].Type != domain.TypeErasureRequested || recs[1].Type != domain.TypeErasureCompleted {
				t.Fatalf("the erasure's stream: %v %v", recs, err)
			}
			if again, err := e.Erase(ctx, req, domain.Metadata{Actor: "test"}); err != nil || !again.Resumed {
				t.Fatalf("the same erasure again: %+v %v", again, err)
			}
		})
	}
}
