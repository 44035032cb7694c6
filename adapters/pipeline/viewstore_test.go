package pipeline_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
)

// TestStartResumesFromTheViewStore: a clean stop commits the views with the
// ledger's head as checkpoint, so the next start folds nothing already
// folded; what was delivered stays visible and nothing is delivered twice.
func TestStartResumesFromTheViewStore(t *testing.T) {
	recv := receiver.New()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	h := newHarness(t, harnessOpts{})
	h.start()
	h.app("app")
	secret := h.sub("app", "sub_1", srv.URL+"/sub_1", "*")
	if err := recv.Add("sub_1", secret); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := 0; i < 30; i++ {
		last, _ = h.publish("app", "a.b", `{"i":1}`)
	}
	id := domain.DeliveryIDFor(last, "sub_1")
	waitUntil(t, 10*time.Second, "last delivery acknowledged", func() bool { return h.delivery(id).Status == domain.DeliveryStatusAcknowledged })
	waitUntil(t, 10*time.Second, "30 received", func() bool { return recv.Unique() == 30 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	head, err := h.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, state, err := h.views.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v.Checkpoint != head {
		t.Fatalf("after a clean stop the view store is at %d, the ledger at %d: the next start would fold again", v.Checkpoint, head)
	}
	if len(state) != 0 {
		t.Fatalf("fan-outs left open after every delivery was scheduled: %v", state)
	}
	if d := v.Delivery(id); d == nil || d.Status != domain.DeliveryStatusAcknowledged {
		t.Fatalf("delivery in the view store: %+v", d)
	}
	h.restart(nil)
	if got := h.delivery(id); got.Status != domain.DeliveryStatusAcknowledged {
		t.Fatalf("after the restart the delivery reads %+v", got)
	}
	time.Sleep(200 * time.Millisecond)
	if recv.Total() != 30 {
		t.Fatalf("the receiver got %d requests for 30 messages: a restart redelivered", recv.Total())
	}
}
