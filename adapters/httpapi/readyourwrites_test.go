package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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

// Across the nodes of a cluster: every write answers its ledger position,
// and a read naming it (X-Min-Position) waits until the views hold it, or
// answers 503 views_behind when they do not in time; a bad value is a 400.
func TestReadsWaitForTheMinPositionTheClientNames(t *testing.T) {
	rec := &waitRecorder{}
	e := newEnv(t, func(d *httpapi.Deps) { rec.Views = d.Views; d.Views = rec; d.WriteWait = 300 * time.Millisecond })
	A := e.admin
	created := e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_m", "name": "m"})
	pos, err := strconv.ParseUint(created.header.Get("X-Ledger-Position"), 10, 64)
	if err != nil || pos == 0 {
		t.Fatalf("a write answers X-Ledger-Position %q", created.header.Get("X-Ledger-Position"))
	}
	pub := e.must(202, "POST", "/v1/applications/app_m/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{}})
	if got := pub.header.Get("X-Ledger-Position"); got != strconv.FormatUint(uint64(pub.json()["position"].(float64)), 10) {
		t.Fatalf("a publish answers X-Ledger-Position %q, body position %v", got, pub.json()["position"])
	}

	read := func(minPos string) resp {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/applications/app_m", nil)
		req.Header.Set("Authorization", "Bearer "+A)
		req.Header.Set("X-Min-Position", minPos)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return resp{status: res.StatusCode, header: res.Header, body: b}
	}
	if r := read(strconv.FormatUint(pos, 10)); r.status != 200 || rec.maxWaited() < domain.Position(pos) {
		t.Fatalf("a read at a reached position: %d (waited for %d)", r.status, rec.maxWaited())
	}
	far := read("999999999")
	if far.status != 503 || far.str("code") != "views_behind" || far.header.Get("Retry-After") == "" || !strings.Contains(far.str("detail"), "999999999") {
		t.Fatalf("a read past the views: %d %s", far.status, far.body)
	}
	if bad := read("soon"); bad.status != 400 || bad.str("code") != "invalid_parameter" {
		t.Fatalf("a bad X-Min-Position: %d %s", bad.status, bad.body)
	}
}
