package pipeline_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
)

// TestMemoryStaysWithinTheConfiguredBounds: with a due-queue window of 100
// and a payload cache of 64 KiB, 10,000 messages delivered to one
// subscription and 10,000 parked for a paused one never make the in-memory
// structures exceed their bounds: the parked deliveries wait in the view
// store's open index, not in memory.
func TestMemoryStaysWithinTheConfiguredBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages; skipped under -short")
	}
	const n, window, cache, workers = 10_000, 100, 64 << 10, 16
	recv := receiver.New()
	srv := httptest.NewServer(recv)
	defer srv.Close()
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		o.QueueWindow, o.PayloadCacheBytes, o.Workers, o.PerSubscription = window, cache, workers, workers
	}})
	h.start()
	h.app("app")
	secret := h.sub("app", "sub_live", srv.URL+"/sub_live", "*")
	if err := recv.Add("sub_live", secret); err != nil {
		t.Fatal(err)
	}
	h.sub("app", "sub_parked", srv.URL+"/sub_parked", "*")
	if _, _, err := h.cmds.ChangeSubscription(context.Background(), "app", "sub_parked", domain.PauseSubscription{}, md); err != nil {
		t.Fatal(err)
	}

	var worst pipeline.Footprint
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample while publishing and delivering
		defer close(sampled)
		for {
			f := h.runner.Footprint()
			worst.QueueEntries = max(worst.QueueEntries, f.QueueEntries)
			worst.PayloadBytes = max(worst.PayloadBytes, f.PayloadBytes)
			worst.InFlight = max(worst.InFlight, f.InFlight)
			worst.FIFOEntries = max(worst.FIFOEntries, f.FIFOEntries)
			worst.Reasons = max(worst.Reasons, f.Reasons)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	payload := `{"pad":"` + strings.Repeat("x", 1000) + `"}` // ~1 KiB
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < n; i += 16 {
				if _, _, err := h.cmds.PublishNew(context.Background(), domain.PublishMessage{MessageID: fmt.Sprintf("msg_b%05d", i), ApplicationID: "app", EventType: "a.b", Payload: []byte(payload)}, md); err != nil {
					t.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitUntil(t, 3*time.Minute, "10,000 received", func() bool { return recv.Unique() == n })
	waitUntil(t, 30*time.Second, "10,000 parked", func() bool { return h.subscription("sub_parked").Open == n })
	waitUntil(t, 30*time.Second, "every acknowledgement folded", func() bool { return h.subscription("sub_live").Open == 0 })
	close(stop)
	<-sampled

	if worst.QueueEntries > 2*window {
		t.Errorf("due queue held %d entries; bound: window %d x 2 subscriptions", worst.QueueEntries, window)
	}
	if worst.PayloadBytes > cache {
		t.Errorf("payload cache held %d bytes; bound %d", worst.PayloadBytes, cache)
	}
	// An in-flight mark lives from the dispatch until the fold has seen the
	// attempt's events; the dispatcher waits for the fold past 4 x Workers.
	if worst.InFlight > 4*workers {
		t.Errorf("%d in flight; bound: 4 x %d workers", worst.InFlight, workers)
	}
	if worst.FIFOEntries != 0 || worst.Reasons != 0 {
		t.Errorf("no FIFO subscription, nothing held for ordering: %+v", worst)
	}
	if f := h.runner.Footprint(); f.QueueEntries != 0 {
		t.Errorf("after the drain the queue holds %d entries (the parked ones must wait on disk)", f.QueueEntries)
	}
	b := h.runner.Backlog()
	if b.Parked != n || b.Pending != 0 {
		t.Errorf("backlog: %+v, want %d parked", b, n)
	}
	reason := h.runner.WaitingReason(domain.DeliveryIDFor("msg_b00000", "sub_parked"))
	if reason != pipeline.WaitPaused {
		t.Errorf("a parked delivery's reason: %q", reason)
	}
	t.Logf("worst footprint %+v", worst)

	// Resumed: the parked deliveries come back through the window.
	for _, id := range []string{"sub_parked"} {
		recvSecret := h.subscription(id).Keys[0].Secret
		if err := recv.Add(id, recvSecret); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := h.cmds.ChangeSubscription(context.Background(), "app", "sub_parked", domain.ResumeSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 3*time.Minute, "the parked 10,000 received", func() bool { return recv.Unique() == 2*n })
	if f := h.runner.Footprint(); f.QueueEntries > 2*window {
		t.Errorf("after the resume: %+v", f)
	}
}
