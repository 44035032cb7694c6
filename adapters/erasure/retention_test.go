package erasure_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/domain"
)

type ledger struct {
	t     *testing.T
	store domain.EventStore
	cmds  *domain.Commands
	keys  *keystore.Store
	clk   *clock.Fake
}

func newLedger(t *testing.T, start time.Time) *ledger {
	t.Helper()
	master, _ := keystore.ParseMasterKey(keystore.NewMasterKey())
	clk := clock.NewFake(start)
	keys, err := keystore.Open(t.TempDir(), master, keystore.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	t.Cleanup(func() { keys.Close(); store.Close() })
	return &ledger{t: t, store: store, keys: keys, clk: clk,
		cmds: &domain.Commands{Store: store, Now: clk.Now, NewEventID: ids.NewEventID, Cipher: keys, ErasureScope: domain.ScopeApplication}}
}

func (l *ledger) publish(app string) domain.MessagePublished {
	l.t.Helper()
	m, _, err := l.cmds.PublishNew(context.Background(), domain.PublishMessage{MessageID: ids.New(domain.PrefixMessage), ApplicationID: app,
		EventType: "a.b", Payload: []byte(`{"secret":1}`)}, domain.Metadata{Actor: "test"})
	if err != nil {
		l.t.Fatal(err)
	}
	return m
}

func (l *ledger) readable(m domain.MessagePublished) bool {
	l.t.Helper()
	_, err := domain.OpenPayload(context.Background(), l.keys, m)
	if err != nil && !errors.Is(err, domain.ErrErased) {
		l.t.Fatal(err)
	}
	return err == nil
}

// TestRetentionSweepErasesWhatIsPastThePolicy, on a fake clock: each sweep
// erases the days that ended before the retention period, records it as an
// erasure by the sweeper naming the policy, and records nothing when there
// is nothing to erase; other applications are untouched.
func TestRetentionSweepErasesWhatIsPastThePolicy(t *testing.T) {
	day := 24 * time.Hour
	l := newLedger(t, time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	old := l.publish("app_r") // 1 Nov
	other := l.publish("app_keep")
	l.clk.Advance(5 * day)
	mid := l.publish("app_r") // 6 Nov
	l.clk.Advance(3 * day)
	recent := l.publish("app_r") // 9 Nov
	policies := []erasure.Retention{{ApplicationID: "app_r", Days: 3}}
	s := &erasure.Sweeper{Eraser: &erasure.Eraser{Store: l.store, Commands: l.cmds, Keys: l.keys, Log: zerolog.Nop()},
		Policies: func() []erasure.Retention { return policies }, Clock: l.clk, Interval: time.Hour}

	done := s.Sweep(context.Background()) // 9 Nov 12:00: payloads before 6 Nov 00:00 go
	if len(done) != 1 || len(done[0].Erasure.Completed.KeyIDs) != 1 {
		t.Fatalf("first sweep: %+v", done)
	}
	if l.readable(old) || !l.readable(mid) || !l.readable(recent) || !l.readable(other) {
		t.Fatalf("after the first sweep: old %v mid %v recent %v other %v", l.readable(old), l.readable(mid), l.readable(recent), l.readable(other))
	}
	recs, err := l.store.ReadStream(context.Background(), domain.ErasureStream(done[0].Erasure.ErasureID), 0, domain.Forward, 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("the sweep's erasure in the ledger: %v %v", recs, err)
	}
	ev, md, _ := domain.Decode(recs[0])
	if req := ev.(domain.ErasureRequested); md.Actor != "retention-sweeper" || !strings.Contains(req.Reason, "older than 3 days") ||
		!req.Before.Equal(time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("the sweep's request: %+v by %s", req, md.Actor)
	}
	head, _ := l.store.Head(context.Background())
	if again := s.Sweep(context.Background()); len(again) != 0 {
		t.Fatalf("a second sweep erased %+v", again)
	}
	if h, _ := l.store.Head(context.Background()); h != head {
		t.Fatal("a sweep with nothing to erase wrote to the ledger")
	}

	// Run: sweeps at once, then every interval as the clock moves.
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { s.Run(ctx); close(stopped) }()
	l.clk.Advance(2 * day) // 11 Nov: before 8 Nov 00:00, so 6 Nov goes
	deadline := time.Now().Add(5 * time.Second)
	for l.readable(mid) {
		if time.Now().After(deadline) {
			t.Fatal("the running sweeper never erased the 6 November payload")
		}
		l.clk.Advance(time.Hour)
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-stopped
	if !l.readable(recent) || !l.readable(other) {
		t.Fatal("the running sweeper erased too much")
	}
}
