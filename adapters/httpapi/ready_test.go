package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/domain"
)

// laggingViews reports a fold behind the ledger by behind.
type laggingViews struct {
	httpapi.Views
	behind time.Duration
}

func (l laggingViews) Lag(context.Context) (domain.Position, domain.Position, time.Duration, error) {
	return 1000, 10, l.behind, nil
}

// TestReadyzBoundsTheFoldLag: /readyz answers 503 naming the lag when the
// views are further behind than the bound, 200 within it.
func TestReadyzBoundsTheFoldLag(t *testing.T) {
	for _, c := range []struct {
		behind time.Duration
		status int
	}{{time.Minute, 503}, {5 * time.Second, 200}} {
		e := newEnv(t, func(d *httpapi.Deps) {
			d.Views = laggingViews{Views: d.Views, behind: c.behind}
			d.ReadyMaxLag = 30 * time.Second
		})
		r := e.do("GET", "/readyz", "", nil)
		if r.status != c.status {
			t.Fatalf("behind %s: %d %s", c.behind, r.status, r.body)
		}
		if c.status == 503 && !strings.Contains(r.str("detail"), "990 positions") {
			t.Fatalf("the problem does not say how far behind: %s", r.body)
		}
	}
}

// stuckViews reports its checkpoint stuck at 0 while stuck is set: the
// delivery pipeline behind ingest.
type stuckViews struct {
	httpapi.Views
	stuck *atomic.Bool
}

func (v stuckViews) Checkpoint() domain.Position {
	if v.stuck.Load() {
		return 0
	}
	return v.Views.(interface{ Checkpoint() domain.Position }).Checkpoint()
}

// TestPublishIsRefusedWhileThePipelineIsBehind: admission control. Past the
// bound, a publish is answered 503 overloaded with Retry-After and nothing
// is written; once the pipeline catches up, publishes are accepted again.
func TestPublishIsRefusedWhileThePipelineIsBehind(t *testing.T) {
	var stuck atomic.Bool
	e := newEnv(t, func(d *httpapi.Deps) {
		d.Views = stuckViews{Views: d.Views, stuck: &stuck}
		d.MaxIngestLag = 1
	})
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	msg := map[string]any{"event_type": "a.b", "payload": map[string]any{}}
	e.must(202, "POST", "/v1/applications/app_a/messages", A, msg)
	stuck.Store(true)
	head, _ := e.store.Head(context.Background())
	r := e.do("POST", "/v1/applications/app_a/messages", A, msg)
	if r.status != 503 || r.str("code") != "overloaded" || r.header.Get("Retry-After") == "" || !strings.Contains(r.str("detail"), "behind") {
		t.Fatalf("publish while the pipeline is behind: %d %s", r.status, r.body)
	}
	if after, _ := e.store.Head(context.Background()); after != head {
		t.Fatal("a refused publish wrote to the ledger")
	}
	stuck.Store(false)
	e.must(202, "POST", "/v1/applications/app_a/messages", A, msg)
}

// damagedViews reports its view store damaged.
type damagedViews struct{ httpapi.Views }

func (damagedViews) Damaged() error { return errors.New("data corruption in 000007.sst") }

// damagedCipher is a payload cipher whose key store reports damage.
type damagedCipher struct{ domain.PayloadCipher }

func (damagedCipher) Damaged() error { return errors.New("data corruption in keys/000006.sst") }

// TestReadyzSaysWhatIsDamaged: a view store found corrupt, or a key store
// that met a damaged table, answers /readyz 503 naming the file and the
// remedy (a restart rebuilds the views; keys are restored from a backup).
func TestReadyzSaysWhatIsDamaged(t *testing.T) {
	for _, c := range []struct {
		name         string
		damage       func(d *httpapi.Deps)
		file, remedy string
	}{
		{"views", func(d *httpapi.Deps) { d.Views = damagedViews{Views: d.Views} }, "000007.sst", "restart"},
		{"key store", func(d *httpapi.Deps) { d.Cipher = damagedCipher{PayloadCipher: d.Cipher} }, "keys/000006.sst", "restore"},
	} {
		e := newEnv(t, c.damage)
		r := e.do("GET", "/readyz", "", nil)
		if r.status != 503 || !strings.Contains(r.str("detail"), c.file) || !strings.Contains(r.str("detail"), c.remedy) {
			t.Fatalf("readyz with damaged %s: %d %s", c.name, r.status, r.body)
		}
	}
}
