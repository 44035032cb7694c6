package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/domain"
)

// TestVerifyErasuresHoldsTheKeyStoreToTheLedger: an erasure recorded and
// carried out agrees; one recorded whose key still lives, a key destroyed
// by an erasure never completed, and one destroyed by no erasure of the
// ledger are each reported, by key and erasure.
func TestVerifyErasuresHoldsTheKeyStoreToTheLedger(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	backend, err := keystore.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	master, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
	keys, err := keystore.New(ctx, backend, master, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	md := domain.Metadata{Actor: "test"}
	if _, _, err := cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_e", Name: "e"}, md); err != nil {
		t.Fatal(err)
	}
	key := func(base string) string {
		v, err := keys.Seal(ctx, base, "aad", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		return v.KeyID
	}
	request := func(id string) {
		if _, _, err := cmds.ChangeErasure(ctx, id, domain.RequestErasure{ErasureID: id, ApplicationID: "app_e", Scope: domain.EraseApplication, Reason: "r"}, md); err != nil {
			t.Fatal(err)
		}
	}
	complete := func(id string, keyIDs ...string) {
		if _, _, err := cmds.ChangeErasure(ctx, id, domain.CompleteErasure{KeyIDs: keyIDs}, md); err != nil {
			t.Fatal(err)
		}
	}
	verify := func() audit.ErasureReport {
		rep, err := audit.VerifyErasures(ctx, store, keystore.TombstonesOf(backend))
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	k1 := key("app_e/d/20260301")
	request("era_1")
	if err := keys.Destroy([]string{k1}, "era_1"); err != nil {
		t.Fatal(err)
	}
	complete("era_1", k1)
	key("app_e/d/20260302") // live, named by no erasure
	if rep := verify(); !rep.OK || rep.Erasures != 1 || rep.KeysNamed != 1 || rep.Tombstones != 1 {
		t.Fatalf("an erasure carried out: %+v", rep)
	}

	k2 := key("app_e/d/20260303")
	request("era_2")
	complete("era_2", k2) // recorded, the key never destroyed
	k3 := key("app_e/d/20260304")
	request("era_3")
	if err := keys.Destroy([]string{k3}, "era_3"); err != nil { // destroyed, never recorded completed
		t.Fatal(err)
	}
	k4 := key("app_e/d/20260305")
	if err := keys.Destroy([]string{k4}, "era_rogue"); err != nil { // no erasure at all
		t.Fatal(err)
	}
	rep := verify()
	want := map[string]string{k2: audit.KindErasureNotEffective, k3: audit.KindErasureIncomplete, k4: audit.KindKeyDestroyedUnrecorded}
	if rep.OK || len(rep.Problems) != len(want) || rep.Erasures != 2 || rep.Tombstones != 3 {
		t.Fatalf("the key store disagreeing with the ledger: %+v", rep)
	}
	for _, p := range rep.Problems {
		if want[p.KeyID] != p.Kind {
			t.Fatalf("key %s reported %s (%s), want %s", p.KeyID, p.Kind, p.Detail, want[p.KeyID])
		}
	}
}
