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

// messageReads counts the reads of message streams.
type messageReads struct {
	domain.EventStore
	streamReads atomic.Int64
}

func (s *messageReads) ReadStream(ctx context.Context, stream string, from uint64, dir domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if strings.HasPrefix(stream, domain.MessageStream("")) {
		s.streamReads.Add(1)
	}
	return s.EventStore.ReadStream(ctx, stream, from, dir, max)
}

// positionReads also reads by position; shift moves every read one position
// on, as a store whose positions did not match the deliveries' would.
type positionReads struct {
	*messageReads
	shift bool
}

func (s positionReads) ReadAt(ctx context.Context, pos domain.Position) (domain.RecordedEvent, error) {
	if s.shift {
		pos++
	}
	return s.EventStore.(domain.PositionReader).ReadAt(ctx, pos)
}

// TestAttemptsReadTheirPayloadAtTheMessagesPosition: with no payload cache,
// each attempt reads its message from the ledger: at the position its
// delivery recorded on a store that reads by position, from the message
// stream on one that does not or when that position holds another event.
// Either way the endpoint gets the message's own body.
func TestAttemptsReadTheirPayloadAtTheMessagesPosition(t *testing.T) {
	for _, c := range []struct {
		name        string
		byPosition  bool
		shift       bool
		streamReads bool
	}{
		{"by position", true, false, false},
		{"positions holding other events", true, true, true},
		{"no read by position", false, false, true},
	} {
		var mu sync.Mutex
		got := map[string]bool{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[string(b)] = true
			mu.Unlock()
		}))
		reads := &messageReads{}
		h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
			reads.EventStore = o.Store
			o.Store, o.PayloadCacheBytes = reads, 1 // every payload is larger than the cache
			if c.byPosition {
				o.Store = positionReads{messageReads: reads, shift: c.shift}
			}
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
			t.Errorf("%s: the endpoint got %v", c.name, got)
		}
		mu.Unlock()
		want := int64(0)
		if c.streamReads {
			want = int64(len(dels))
		}
		if n := reads.streamReads.Load(); n != want {
			t.Errorf("%s: %d reads of message streams, want %d", c.name, n, want)
		}
		h.stop()
		srv.Close()
	}
}
