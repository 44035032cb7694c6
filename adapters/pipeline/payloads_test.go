package pipeline_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// messageReads counts the reads of message streams; shift moves every
// one-event read of $all one position on, as a store whose positions did not
// match the deliveries' would.
type messageReads struct {
	domain.EventStore
	streamReads atomic.Int64
	shift       bool
}

func (s *messageReads) ReadStream(ctx context.Context, stream string, from uint64, dir domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if strings.HasPrefix(stream, domain.MessageStream("")) {
		s.streamReads.Add(1)
	}
	return s.EventStore.ReadStream(ctx, stream, from, dir, max)
}

func (s *messageReads) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if s.shift && max == 1 {
		from++
	}
	return s.EventStore.ReadAll(ctx, from, max)
}

// TestAttemptsReadTheirPayloadAtTheMessagesPosition: with no payload cache,
// each attempt reads its message from the ledger, at the position its
// delivery recorded, not through the message stream's index; when that
// position holds another event, from the stream. Either way the endpoint
// gets the message's own body.
func TestAttemptsReadTheirPayloadAtTheMessagesPosition(t *testing.T) {
	for _, shift := range []bool{false, true} {
		var mu sync.Mutex
		got := map[string]bool{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[string(b)] = true
			mu.Unlock()
		}))
		reads := &messageReads{shift: shift}
		h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
			reads.EventStore = o.Store
			o.Store, o.PayloadCacheBytes = reads, 1 // every payload is larger than the cache
		}})
		h.app("app")
		h.sub("app", "sub_a", srv.URL, "*")
		h.sub("app", "sub_b", srv.URL, "*")
		h.start()
		var dels []string
		for _, body := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
			m, _ := h.publish("app", "order.paid", body)
			dels = append(dels, domain.DeliveryIDFor(m, "sub_a"), domain.DeliveryIDFor(m, "sub_b"))
		}
		for _, id := range dels {
			waitUntil(t, 10*time.Second, "delivered", func() bool { return h.delivery(id).Status == domain.DeliveryStatusAcknowledged })
		}
		mu.Lock()
		if len(got) != 3 || !got[`{"n":1}`] || !got[`{"n":2}`] || !got[`{"n":3}`] {
			t.Errorf("shift %v: the endpoint got %v", shift, got)
		}
		mu.Unlock()
		switch n := reads.streamReads.Load(); {
		case !shift && n != 0:
			t.Errorf("%d reads of message streams; the positions should have served every attempt", n)
		case shift && n != int64(len(dels)):
			t.Errorf("positions holding other events: %d reads of message streams, want one per attempt (%d)", n, len(dels))
		}
		h.stop()
		srv.Close()
	}
}
