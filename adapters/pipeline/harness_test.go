package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type harness struct {
	t      *testing.T
	store  domain.EventStore
	cmds   *domain.Commands
	runner *pipeline.Runner
	cancel context.CancelFunc
	done   chan error
	dir    string
	views  *viewstore.Store
	// options adjusts every runner the harness builds, restarts included.
	options func(*pipeline.Options)
}

// openViews opens the harness's view store, closing the last one (a
// restarted process opens it again).
func (h *harness) openViews() *viewstore.Store {
	h.t.Helper()
	if h.views != nil {
		h.views.Close()
	}
	v, err := viewstore.Open(h.dir+"/views", viewstore.Options{Logger: zerolog.Nop()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.views = v
	return v
}

type harnessOpts struct {
	clock   clock.Clock
	sender  sender.Options
	options func(*pipeline.Options)
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	dir := t.TempDir()
	store, err := pebblestore.Open(dir+"/store", pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.clock == nil {
		o.clock = clock.Real{}
	}
	cmds := &domain.Commands{Store: store, Now: o.clock.Now, NewEventID: ids.NewEventID}
	o.sender.AllowPrivate = true
	h := &harness{t: t, store: store, cmds: cmds, dir: dir, options: o.options}
	opts := pipeline.Options{
		Store: store, Commands: cmds, Sender: sender.New(o.sender), Clock: o.clock,
		Random: func() float64 { return 0.5 }, Log: zerolog.Nop(), ViewStore: h.openViews(),
	}
	if o.options != nil {
		o.options(&opts)
	}
	r, err := pipeline.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.runner = r
	t.Cleanup(func() { h.stop(); h.views.Close(); store.Close() })
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.runner.Run(ctx) }()
	waitUntil(h.t, 10*time.Second, "pipeline ready", h.runner.Ready)
}

func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("pipeline did not stop within 30 s")
		return nil
	}
}

// restart stops the runner and starts a new one on the same ledger and
// view store, as a restarted process would (clk nil: the real clock).
func (h *harness) restart(clk clock.Clock) {
	h.t.Helper()
	h.stop()
	opts := pipeline.Options{Store: h.store, Commands: h.cmds, Sender: sender.New(sender.Options{AllowPrivate: true, Timeout: 5 * time.Second}),
		Clock: clk, Random: func() float64 { return 0.5 }, ViewStore: h.openViews()}
	if h.options != nil { // the same bounds as the first runner's
		h.options(&opts)
	}
	r, err := pipeline.New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.runner = r
	h.start()
}

var md = domain.Metadata{Actor: "test"}

func (h *harness) app(id string) {
	h.t.Helper()
	if _, _, err := h.cmds.CreateApplication(context.Background(), domain.CreateApplication{ApplicationID: id, Name: id}, md); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) sub(app, id, url string, filters ...string) string {
	h.t.Helper()
	secret := ids.NewSecret()
	_, _, err := h.cmds.CreateSubscription(context.Background(), domain.CreateSubscription{
		SubscriptionID: id, ApplicationID: app, URL: url, EventTypes: filters, Secret: secret,
	}, md)
	if err != nil {
		h.t.Fatal(err)
	}
	return secret
}

func (h *harness) publish(app, eventType string, payload string) (string, domain.Position) {
	h.t.Helper()
	id := ids.New(domain.PrefixMessage)
	_, res, err := h.cmds.PublishNew(context.Background(), domain.PublishMessage{MessageID: id, ApplicationID: app, EventType: eventType, Payload: []byte(payload)}, md)
	if err != nil {
		h.t.Fatal(err)
	}
	return id, res.Position
}

func (h *harness) delivery(id string) projections.DeliveryView {
	var d projections.DeliveryView
	h.runner.Read(func(v *projections.Views) {
		if p := v.Delivery(id); p != nil {
			d = *p
		}
	})
	return d
}

func (h *harness) subscription(id string) projections.SubscriptionView {
	var s projections.SubscriptionView
	h.runner.Read(func(v *projections.Views) {
		if p := v.Subscriptions[id]; p != nil {
			s = *p
		}
	})
	return s
}

// timeline reads a delivery's stream as decoded events.
func (h *harness) timeline(id string) []domain.Event {
	h.t.Helper()
	recs, err := h.store.ReadStream(context.Background(), domain.DeliveryStream(id), 0, domain.Forward, 1000)
	if err != nil {
		h.t.Fatalf("timeline %s: %v", id, err)
	}
	out := make([]domain.Event, len(recs))
	for i, r := range recs {
		ev, _, err := domain.Decode(r)
		if err != nil {
			h.t.Fatal(err)
		}
		out[i] = ev
	}
	return out
}

func types(evs []domain.Event) string {
	var b bytes.Buffer
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.Type())
	}
	return b.String()
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rebuild folds the whole ledger from position 0 into fresh views, up to pos.
func rebuild(t *testing.T, store domain.EventStore, upTo domain.Position) []byte {
	t.Helper()
	v := projections.New()
	for from := domain.Position(0); ; {
		page, err := store.ReadAll(context.Background(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range page {
			if rec.Position > upTo {
				break
			}
			if err := v.Apply(rec); err != nil {
				t.Fatal(err)
			}
		}
		if len(page) < 1000 || page[len(page)-1].Position >= upTo {
			break
		}
		from = page[len(page)-1].Position + 1
	}
	b, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) liveSnapshot() ([]byte, domain.Position) {
	var b []byte
	var pos domain.Position
	var err error
	h.runner.Read(func(v *projections.Views) { b, err = v.Snapshot(); pos = v.Checkpoint })
	if err != nil {
		h.t.Fatal(err)
	}
	return b, pos
}

func errIs(err, target error) bool { return errors.Is(err, target) }

var _ = fmt.Sprint
