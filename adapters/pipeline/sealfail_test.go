package pipeline_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// sealBreaker refuses appends to the audit stream while broken.
type sealBreaker struct {
	domain.EventStore
	broken atomic.Bool
}

func (s *sealBreaker) Append(ctx context.Context, stream string, exp domain.ExpectedRevision, evs ...domain.EventData) (domain.AppendResult, error) {
	if stream == domain.AuditStream && s.broken.Load() {
		return domain.AppendResult{}, errors.New("injected: the seal cannot be written")
	}
	return s.EventStore.Append(ctx, stream, exp, evs...)
}

// TestSealFailureIsAnnouncedOncePerRun: while seals cannot be written, the
// operational subscription hears it once (not at every retry); after a seal
// is written again, a new failure is a new announcement.
func TestSealFailureIsAnnouncedOncePerRun(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	ops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
	}))
	defer ops.Close()
	count := func(typ string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, b := range got {
			if b["type"] == typ {
				n++
			}
		}
		return n
	}
	h := newHarness(t, harnessOpts{})
	h.app(domain.SystemApplicationID)
	h.sub(domain.SystemApplicationID, "sub_ops", ops.URL, "hookledger.*")
	h.start()
	store := &sealBreaker{EventStore: h.store}
	_, key, _ := ed25519.GenerateKey(nil)
	sealer := &audit.Sealer{Store: store, Key: key, Every: 1, Interval: 20 * time.Millisecond, NewEventID: ids.NewEventID,
		Log: zerolog.Nop(), OnFailure: h.runner.AnnounceSealFailure}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sealer.Run(ctx) }()
	defer func() { cancel(); <-done }()

	store.broken.Store(true)
	h.app("app_x") // something to seal
	waitUntil(t, 10*time.Second, "the seal failure announced", func() bool { return count(domain.OpSealFailed) == 1 })
	time.Sleep(1500 * time.Millisecond) // the sealer retries and fails again meanwhile
	if n := count(domain.OpSealFailed); n != 1 {
		t.Fatalf("%d announcements for one run of failures", n)
	}
	_, before, _ := sealer.Sealed()
	store.broken.Store(false)
	waitUntil(t, 10*time.Second, "a seal written again", func() bool { _, at, ok := sealer.Sealed(); return ok && at.After(before) })
	store.broken.Store(true)
	h.app("app_y")
	waitUntil(t, 10*time.Second, "the second run of failures announced", func() bool { return count(domain.OpSealFailed) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if got[0]["error"] == "" || got[0]["failing_since"] == nil {
		t.Fatalf("announcement body: %v", got[0])
	}
}
