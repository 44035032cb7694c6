package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// TestWhatIsCreatedForADeletedApplicationIsDeleted: a subscription and an
// application key written after their application's deletion (checked
// against views a moment behind, on this node or another) are deleted and
// revoked when the fold meets them; one written before the deletion is the
// deletion's to sweep, and is left alone here.
func TestWhatIsCreatedForADeletedApplicationIsDeleted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.app("app_gone")
	h.app("app_kept")
	h.start()
	before := "sub_before"
	h.sub("app_gone", before, "http://127.0.0.1:9/", "*")
	if _, _, err := h.cmds.DeleteApplication(ctx, "app_gone", domain.DeleteApplication{Reason: "offboarded"}, md); err != nil {
		t.Fatal(err)
	}
	// A create that read the application just before its deletion, and
	// appended just after (the domain checks the application first).
	late := "sub_late"
	ev, err := domain.Encode(ids.NewEventID(), domain.SubscriptionCreated{SubscriptionID: late, ApplicationID: "app_gone", URL: "http://127.0.0.1:9/",
		EventTypes: domain.Filters{"*"}, CreatedAt: time.Now().UTC()}, md)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Append(ctx, domain.SubscriptionStream(late), domain.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	kept := "sub_kept"
	h.sub("app_kept", kept, "http://127.0.0.1:9/", "*")
	hash := domain.HashAPIKey("a-key-created-too-late-0123456789")
	keyID := domain.KeyIDForHash(hash)
	if _, _, err := h.cmds.CreateAPIKey(ctx, domain.CreateAPIKey{KeyID: keyID, Role: domain.RoleApplication, ApplicationID: "app_gone", Hash: hash}, md); err == nil {
		t.Fatal("a key issued to a deleted application")
	}
	// Issued as the subscription was: checked just before the deletion.
	kev, err := domain.Encode(ids.NewEventID(), domain.APIKeyCreated{KeyID: keyID, Role: domain.RoleApplication, ApplicationID: "app_gone", Hash: hash, CreatedAt: time.Now().UTC()}, md)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Append(ctx, domain.APIKeyStream(keyID), domain.NoStream, kev); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the late subscription deleted and the late key revoked", func() bool {
		revoked := false
		h.runner.Read(func(v *projections.Views) { revoked = v.Keys[keyID] != nil && v.Keys[keyID].Revoked })
		return h.subscription(late).Status == domain.StatusDeleted && revoked
	})
	if s := h.subscription(kept).Status; s != domain.StatusActive {
		t.Fatalf("another application's subscription: %s", s)
	}
	if s := h.subscription(before).Status; s != domain.StatusActive {
		t.Fatalf("a subscription created before the deletion was deleted by the fold (the deletion sweeps it): %s", s)
	}
	recs, err := h.store.ReadStream(ctx, domain.SubscriptionStream(late), domain.RevisionEnd, domain.Backward, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := domain.DecodeEvent(recs[0]); ev == nil || ev.(domain.SubscriptionDeleted).Reason != "its application was deleted before it was created" {
		t.Fatalf("the late subscription's last event: %s %s", recs[0].Type, recs[0].Data)
	}
	// A restart folds the ledger again: nothing more is recorded.
	head, _ := h.store.Head(ctx)
	h.restart(nil)
	time.Sleep(200 * time.Millisecond)
	if again, _ := h.store.Head(ctx); again != head {
		t.Fatalf("a restart recorded %d events more", again-head)
	}
}
