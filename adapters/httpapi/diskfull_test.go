package httpapi_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/domain"
)

// fullDisk is a store whose appends fail as the embedded store's do on a
// full disk, while full is set.
type fullDisk struct {
	domain.EventStore
	full atomic.Bool
}

var errFull = fmt.Errorf("%w: disk full: 3 MiB free (%w)", domain.ErrUnavailable, syscall.ENOSPC)

func (f *fullDisk) Append(ctx context.Context, s string, exp domain.ExpectedRevision, evs ...domain.EventData) (domain.AppendResult, error) {
	if f.full.Load() {
		return domain.AppendResult{}, errFull
	}
	return f.EventStore.Append(ctx, s, exp, evs...)
}

func (f *fullDisk) Health() error {
	if f.full.Load() {
		return errFull
	}
	return nil
}

// TestDiskFullAnswers503: a publish on a full disk answers 503
// store_unavailable with Retry-After, /readyz says why, and both recover.
func TestDiskFullAnswers503(t *testing.T) {
	var fd *fullDisk
	e := newEnv(t, func(d *httpapi.Deps) {
		fd = &fullDisk{EventStore: d.Store}
		d.Store = fd
		d.Commands.Store = fd
	})
	e.must(201, "POST", "/v1/applications", e.admin, map[string]any{"id": "app_a", "name": "A"})
	e.must(200, "GET", "/readyz", "", nil)
	fd.full.Store(true)
	r := e.do("POST", "/v1/applications/app_a/messages", e.admin, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}})
	if r.status != 503 || r.str("code") != "store_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("publish on a full disk: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/readyz", "", nil)
	if r.status != 503 || r.str("code") != "store_unavailable" {
		t.Fatalf("readyz on a full disk: %d %s", r.status, r.body)
	}
	fd.full.Store(false)
	e.must(202, "POST", "/v1/applications/app_a/messages", e.admin, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}})
	e.must(200, "GET", "/readyz", "", nil)
}
