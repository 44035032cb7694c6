package httpapi_test

import (
	"context"
	"sync"
	"testing"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/domain"
)

// waitRecorder records the positions reads waited for.
type waitRecorder struct {
	httpapi.Views
	mu     sync.Mutex
	waited []domain.Position
}

func (w *waitRecorder) WaitFor(ctx context.Context, pos domain.Position) error {
	w.mu.Lock()
	w.waited = append(w.waited, pos)
	w.mu.Unlock()
	return w.Views.WaitFor(ctx, pos)
}

func (w *waitRecorder) maxWaited() domain.Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	var m domain.Position
	for _, p := range w.waited {
		m = max(m, p)
	}
	return m
}

// TestReadsSeeEarlierPublishes: publishing does not wait for the views, so a
// read that follows must: it waits for the views to hold every message the
// server accepted before it (a listing right after a publish shows it).
func TestReadsSeeEarlierPublishes(t *testing.T) {
	rec := &waitRecorder{}
	e := newEnv(t, func(d *httpapi.Deps) { rec.Views = d.Views; d.Views = rec })
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_r", "name": "r"})
	var last domain.Position
	for i := 0; i < 20; i++ {
		pub := e.must(202, "POST", "/v1/applications/app_r/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"i": i}})
		last = domain.Position(pub.json()["position"].(float64))
	}
	listed := e.must(200, "GET", "/v1/applications/app_r/messages?limit=100", A, nil)
	if got := rec.maxWaited(); got < last {
		t.Fatalf("the listing waited for position %d, the last publish was at %d", got, last)
	}
	if n := len(listed.items()); n != 20 {
		t.Fatalf("listing right after 20 publishes shows %d", n)
	}
}
