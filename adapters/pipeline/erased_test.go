package pipeline_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// TestEncryptedPayloadsAreSentPlainAndErasedOnesCancelled: the ledger holds
// payloads encrypted, the endpoint gets them decrypted; a delivery whose
// payload's key was destroyed while it waited is cancelled when it comes
// due, naming the erasure, and nothing is sent for it.
func TestEncryptedPayloadsAreSentPlainAndErasedOnesCancelled(t *testing.T) {
	srv, bodies := recordingEndpoint(t)
	master, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
	keys, err := keystore.Open(t.TempDir(), master, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	h, kept, gone := twoWhilePaused(t, keys, srv.URL)
	ctx := context.Background()
	recs, err := h.store.ReadStream(ctx, domain.MessageStream(gone), 0, domain.Forward, 1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(recs[0].Data), "erase") {
		t.Fatalf("the ledger holds the payload in the clear: %s", recs[0].Data)
	}
	ev, _ := domain.DecodeEvent(recs[0])
	if err := keys.Destroy([]string{ev.(domain.MessagePublished).Sealed.KeyID}, "era_test"); err != nil {
		t.Fatal(err)
	}
	resumeAndSettle(t, h, kept, gone)
	tl := h.timeline(domain.DeliveryIDFor(gone, "sub_a"))
	if c, ok := tl[len(tl)-1].(domain.DeliveryCancelled); !ok || c.Reason != "payload erased by era_test" || types(tl) != "delivery.scheduled delivery.cancelled" {
		t.Fatalf("the erased delivery's timeline: %s %+v", types(tl), tl[len(tl)-1])
	}
	if got := bodies(); len(got) != 1 || got[0] != `{"keep":"this"}` {
		t.Fatalf("the endpoint got %q", got)
	}
}

// TestAnErasureByAnotherNodeStopsThisOnesCachedKey: two key stores over
// one backend, as two nodes of a cluster share one; this node's store has
// the message's key cached (it sealed the payload). Another node destroys
// the key and records the erasure: when this node folds erasure.completed,
// its cache forgets the key, and the delivery waiting for it is cancelled,
// not sent with a key that no longer exists.
func TestAnErasureByAnotherNodeStopsThisOnesCachedKey(t *testing.T) {
	srv, bodies := recordingEndpoint(t)
	master, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
	backend, err := keystore.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	ctx := context.Background()
	here, err := keystore.New(ctx, backend, master, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	there, err := keystore.New(ctx, backend, master, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, kept, gone := twoWhilePaused(t, here, srv.URL)
	recs, err := h.store.ReadStream(ctx, domain.MessageStream(gone), 0, domain.Forward, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := domain.DecodeEvent(recs[0])
	key := ev.(domain.MessagePublished).Sealed.KeyID
	// The other node: the key destroyed, the erasure recorded.
	if err := there.Destroy([]string{key}, "era_other"); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Open(ctx, domain.MessageAAD(gone), ev.(domain.MessagePublished).Sealed); err != nil {
		t.Fatalf("the test proves nothing: this node's cache did not hold the key (%v)", err)
	}
	if _, _, err := h.cmds.ChangeErasure(ctx, "era_other", domain.RequestErasure{ErasureID: "era_other", ApplicationID: "app", Scope: domain.EraseMessages, MessageIDs: []string{gone}, Reason: "r"}, md); err != nil {
		t.Fatal(err)
	}
	_, out, err := h.cmds.ChangeErasure(ctx, "era_other", domain.CompleteErasure{KeyIDs: []string{key}}, md)
	if err != nil {
		t.Fatal(err)
	}
	h.runner.WaitFor(ctx, out.Result.Position)
	resumeAndSettle(t, h, kept, gone)
	if got := bodies(); len(got) != 1 || got[0] != `{"keep":"this"}` {
		t.Fatalf("the endpoint got %q", got)
	}
}

// recordingEndpoint answers 200 and records the bodies it was sent.
// resumeAndSettle resumes sub_a and waits until the kept message's delivery
// is acknowledged and the erased one's cancelled.
func resumeAndSettle(t *testing.T, h *harness, kept, gone string) {
	t.Helper()
	if _, _, err := h.cmds.ChangeSubscription(context.Background(), "app", "sub_a", domain.ResumeSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the kept one delivered", func() bool {
		return h.delivery(domain.DeliveryIDFor(kept, "sub_a")).Status == domain.DeliveryStatusAcknowledged
	})
	waitUntil(t, 5*time.Second, "the erased one cancelled", func() bool {
		return h.delivery(domain.DeliveryIDFor(gone, "sub_a")).Status == domain.DeliveryStatusCancelled
	})
}

func recordingEndpoint(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bodies...)
	}
}

// twoWhilePaused starts a pipeline encrypting under keys (a key per
// message) with sub_a paused, publishes a message to keep and one to
// erase, and waits until both deliveries are scheduled.
func twoWhilePaused(t *testing.T, keys *keystore.Store, url string) (h *harness, kept, gone string) {
	h = newHarness(t, harnessOpts{options: func(o *pipeline.Options) { o.Cipher = keys }})
	h.cmds.Cipher, h.cmds.ErasureScope = keys, domain.ScopeMessage
	h.app("app")
	h.sub("app", "sub_a", url, "*")
	if _, _, err := h.cmds.ChangeSubscription(context.Background(), "app", "sub_a", domain.PauseSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	h.start()
	kept, _ = h.publish("app", "order.paid", `{"keep":"this"}`)
	gone, _ = h.publish("app", "order.paid", `{"erase":"this"}`)
	for _, m := range []string{kept, gone} {
		id := domain.DeliveryIDFor(m, "sub_a")
		waitUntil(t, 5*time.Second, "scheduled while paused", func() bool { return h.delivery(id).ID != "" })
	}
	return h, kept, gone
}
