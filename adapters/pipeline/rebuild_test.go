package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/storetest"
	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
)

// TestRebuildFindsUnscheduledFanout: a message published while nothing ran
// has no deliveries yet; a rebuild reports its fan-out as unfinished, and a
// pipeline started on the rebuilt view store schedules and delivers it.
func TestRebuildFindsUnscheduledFanout(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.app("app")
	h.sub("app", "sub_1", "http://127.0.0.1:1/x", "*")
	h.sub("app", "sub_2", "http://127.0.0.1:1/y", "other.*")
	msg, _ := h.publish("app", "a.b", `{}`)
	res, err := pipeline.RebuildInto(context.Background(), h.store, h.views, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unscheduled) != 1 || len(res.Unscheduled[0].Schedules) != 1 || res.Unscheduled[0].Schedules[0].SubscriptionID != "sub_1" {
		t.Fatalf("unscheduled: %+v", res.Unscheduled)
	}
	if _, err := pipeline.RebuildInto(context.Background(), h.store, h.views, 0, nil); err == nil {
		t.Fatal("a rebuild into a view store that is not empty must be refused")
	}
	h.start()
	id := domain.DeliveryIDFor(msg, "sub_1")
	waitUntil(t, 5e9, "scheduled from the snapshot", func() bool { return h.delivery(id).Exists() })
	live, pos := h.liveSnapshot()
	again, err := pipeline.Rebuild(context.Background(), h.store, pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := again.Views.Snapshot()
	if !bytes.Equal(b, live) {
		t.Fatal("rebuild differs from live views")
	}
}

// TestRebuildCancelledReturnsAnError: a rebuild cut short by its context
// must not return the views folded so far as if they were complete.
func TestRebuildCancelledReturnsAnError(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.app("app")
	for i := 0; i < 20; i++ {
		h.publish("app", "a.b", `{}`)
	}
	head, err := h.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := pipeline.Rebuild(ctx, h.store, head, nil); err == nil {
		t.Fatalf("a cancelled rebuild returned %d events of views and no error", res.Views.Events)
	}
	res, err := pipeline.Rebuild(context.Background(), h.store, head, nil)
	if err != nil || res.Messages != 20 {
		t.Fatalf("rebuild: %v, %d messages", err, res.Messages)
	}
}

// TestRebuildWritingWhileFoldingMatchesTheFold: a rebuild into a view store
// writes each batch while folding the next (and the next batch changes the
// same deliveries). With a batch every few events, the store reopened from
// disk must hold exactly what a fold in memory holds.
func TestRebuildWritingWhileFoldingMatchesTheFold(t *testing.T) {
	h, head := attemptedLedger(t, 60)
	defer pipeline.SetRebuildCommitEvery(3)()
	dir := t.TempDir()
	into, err := viewstore.Open(dir, viewstore.Options{Logger: zerolog.Nop(), Bulk: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.RebuildInto(context.Background(), h.store, into, head, nil); err != nil {
		t.Fatal(err)
	}
	if err := into.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := viewstore.Open(dir, viewstore.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	v, _, err := reopened.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v.Checkpoint != head {
		t.Fatalf("checkpoint %d, head %d", v.Checkpoint, head)
	}
	got, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if want := rebuild(t, h.store, head); !bytes.Equal(got, want) {
		t.Fatalf("the rebuilt store differs from the fold in memory:\n got %.600s\nwant %.600s", got, want)
	}
}

// TestRebuildIntoRaisesTheGCTargetWhileItRuns: the collector's target is
// raised during the rebuild and restored after it; a higher setting, or none,
// is left as the operator made it.
func TestRebuildIntoRaisesTheGCTargetWhileItRuns(t *testing.T) {
	gcPercent := func() int { was := debug.SetGCPercent(-1); debug.SetGCPercent(was); return was }
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, before := range []int{100, 150, 800, -1} {
		debug.SetGCPercent(before)
		h := newHarness(t, harnessOpts{})
		h.app("app")
		h.publish("app", "a.b", `{}`)
		during := 0
		if _, err := pipeline.RebuildInto(context.Background(), h.store, h.views, 0, func(domain.Position) { during = gcPercent() }); err != nil {
			t.Fatal(err)
		}
		want := max(before, 200)
		if before < 0 {
			want = -1
		}
		if during != want || gcPercent() != before {
			t.Errorf("GOGC %d: %d during the rebuild, %d after; want %d, then %d", before, during, gcPercent(), want, before)
		}
	}
}

// TestARebuildKeepsNothingOfThePagesItReadsInto: a rebuild over a store
// that reads into pages it hands back (domain.PageReader) gives them back
// once folded, and its views are the fold's, byte for byte, however the
// pages' memory is reused.
func TestARebuildKeepsNothingOfThePagesItReadsInto(t *testing.T) {
	h, head := attemptedLedger(t, 40)
	paged := &storetest.ReusedPages{EventStore: h.store}
	res, err := pipeline.Rebuild(context.Background(), paged, head, nil)
	if err != nil {
		t.Fatal(err)
	}
	if paged.Reads < int(head)/5 {
		t.Fatalf("%d reads into pages for %d events: the rebuild did not read into pages", paged.Reads, head)
	}
	got, err := res.Views.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if want := rebuild(t, h.store, head); !bytes.Equal(got, want) {
		t.Fatalf("the rebuild over reused pages differs from the fold:\n got %.600s\nwant %.600s", got, want)
	}
}

// attemptedLedger is a stopped pipeline's ledger of messages published to
// two subscriptions whose endpoints refuse them, every delivery attempted
// at least once (failed, retries scheduled); head is its last position.
func attemptedLedger(t *testing.T, messages int) (*harness, domain.Position) {
	t.Helper()
	h := newHarness(t, harnessOpts{})
	h.app("app")
	h.sub("app", "sub_1", "http://127.0.0.1:1/x", "*") // refused: attempts fail and retry
	h.sub("app", "sub_2", "http://127.0.0.1:1/y", "a.*")
	var ids []string
	for i := 0; i < messages; i++ {
		msg, _ := h.publish("app", "a.b", fmt.Sprintf(`{"n":%d}`, i))
		ids = append(ids, domain.DeliveryIDFor(msg, "sub_2"))
	}
	h.start()
	waitUntil(t, 10e9, "every delivery attempted", func() bool {
		for _, id := range ids {
			if h.delivery(id).Attempts == 0 {
				return false
			}
		}
		return true
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	head, err := h.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h, head
}
