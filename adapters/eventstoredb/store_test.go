package eventstoredb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/eventstoredb/esdbtest"
	"github.com/hookledger/hookledger/adapters/storetest"
	"github.com/hookledger/hookledger/domain"
)

var prefixSeq atomic.Int64

// open returns an adapter on url with a prefix of its own, so that every
// test sees an empty ledger even on a shared server.
func open(t testing.TB, url string, tweak func(*eventstoredb.Options)) *eventstoredb.Store {
	t.Helper()
	opts := eventstoredb.Options{
		URL:    url,
		Prefix: fmt.Sprintf("hltest%d-%d-", time.Now().UnixNano(), prefixSeq.Add(1)),
		// The conformance suite appends a 1 MiB event: the emulator (and a
		// real server under test) run with a 2 MiB maximum append size.
		MaxAppendSize: 2 << 20, RetryFor: 10 * time.Second, Log: zerolog.Nop(),
	}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := eventstoredb.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func emulator(t testing.TB, opts esdbtest.Options) *esdbtest.Server {
	t.Helper()
	if opts.MaxAppendSize == 0 {
		opts.MaxAppendSize = 2 << 20
	}
	srv, err := esdbtest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// TestConformanceAgainstEmulator runs the event-store conformance suite
// through the official client against the in-process emulator.
func TestConformanceAgainstEmulator(t *testing.T) {
	srv := emulator(t, esdbtest.Options{})
	storetest.Run(t, func(t testing.TB) domain.EventStore { return open(t, srv.URL(), nil) })
}

// TestConformanceAgainstRealServer runs the same suite against a real
// EventStoreDB/KurrentDB when HOOKLEDGER_TEST_ESDB_URL names one. The server
// needs a maximum append size of at least 2 MiB for the large-event test
// (EVENTSTORE_MAX_APPEND_SIZE=2097152).
func TestConformanceAgainstRealServer(t *testing.T) {
	url := os.Getenv("HOOKLEDGER_TEST_ESDB_URL")
	if url == "" {
		t.Skip("HOOKLEDGER_TEST_ESDB_URL is not set: no EventStoreDB server to test against (e.g. esdb://127.0.0.1:2113?tls=false)")
	}
	if testing.Short() {
		t.Skip("needs a server; skipped under -short")
	}
	storetest.Run(t, func(t testing.TB) domain.EventStore { return open(t, url, nil) })
}

func ev(i int) domain.EventData {
	return domain.EventData{ID: domain.DerivedEventID("esdb-test", fmt.Sprint(i), fmt.Sprint(time.Now().UnixNano())), Type: "t", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
}

// TestSubscriptionDroppedResumesWithoutGapOrDuplicate: the server drops
// every subscription several times while events are written; the adapter
// resubscribes from the last position it saw.
func TestSubscriptionDroppedResumesWithoutGapOrDuplicate(t *testing.T) {
	srv := emulator(t, esdbtest.Options{CheckpointEvery: 4})
	s := open(t, srv.URL(), nil)
	other := open(t, srv.URL(), nil) // another application's streams on the same server
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const total = 400
	var mu sync.Mutex
	var got []domain.RecordedEvent
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, 0, func(e domain.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e)
			if len(got) == total {
				return errEnough
			}
			return nil
		})
	}()
	drops := 0
	for i := 0; i < total; i++ {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i%5), domain.Any, ev(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Append(ctx, "noise", domain.Any, ev(i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 25 {
			srv.DropSubscriptions()
			drops++
		}
	}
	select {
	case err := <-done:
		if !errors.Is(err, errEnough) {
			t.Fatalf("subscription ended with %v", err)
		}
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("only %d of %d events after %d drops", len(got), total, drops)
	}
	all, err := s.ReadAll(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("$all has %d of our events, want %d", len(all), total)
	}
	for i := range all {
		if got[i].ID != all[i].ID || got[i].Position != all[i].Position {
			t.Fatalf("event %d: subscription %s@%d, $all %s@%d (gap or duplicate after a drop)", i, got[i].ID, got[i].Position, all[i].ID, all[i].Position)
		}
		if got[i].Stream == "noise" {
			t.Fatal("another application's stream leaked into the subscription")
		}
	}
}

var errEnough = errors.New("enough")

// TestServerDownAtStartThenUp: the client library stays closed for ever when
// its first discovery fails; the adapter recreates it, so calls made while
// the server is down succeed once it is up, with no restart.
func TestServerDownAtStartThenUp(t *testing.T) {
	srv := emulator(t, esdbtest.Options{})
	srv.Stop()
	s := open(t, srv.URL(), func(o *eventstoredb.Options) { o.RetryFor = 30 * time.Second; o.AttemptTimeout = 3 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	// While it is down (for longer than the client's own discovery gives up
	// after), an append fails as unavailable when its context runs out.
	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	_, err := s.Append(short, "early", domain.NoStream, ev(0))
	cancelShort()
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("append while the server is down: %v, want ErrUnavailable", err)
	}
	// A subscription started while it is down delivers once it is up.
	subGot := make(chan domain.RecordedEvent, 1)
	go s.SubscribeAll(ctx, 0, func(e domain.RecordedEvent) error { subGot <- e; return errEnough })
	appended := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "later", domain.NoStream, ev(1))
		appended <- err
	}()
	time.Sleep(1500 * time.Millisecond)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-appended; err != nil {
		t.Fatalf("append once the server is up: %v", err)
	}
	select {
	case e := <-subGot:
		if e.Stream != "later" {
			t.Fatalf("subscription got %s", e.Stream)
		}
	case <-ctx.Done():
		t.Fatal("the subscription started while the server was down never delivered")
	}
	if _, err := s.ReadStream(ctx, "later", 0, domain.Forward, 1); err != nil {
		t.Fatal(err)
	}
}

// TestServerRestartMidSubscription: the server goes away and comes back on
// the same address; the subscription resumes without gap or duplicate.
func TestServerRestartMidSubscription(t *testing.T) {
	srv := emulator(t, esdbtest.Options{})
	s := open(t, srv.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, 0, func(e domain.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e.ID)
			if len(got) == 40 {
				return errEnough
			}
			return nil
		})
	}()
	var ids []string
	for i := 0; i < 40; i++ {
		e := ev(i)
		ids = append(ids, e.ID)
		if _, err := s.Append(ctx, "r", domain.Any, e); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if i == 20 {
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := <-done; !errors.Is(err, errEnough) {
		t.Fatalf("subscription: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("after a restart the subscription saw\n%v\nwant\n%v", got, ids)
	}
}

// TestOverTheServerAppendLimitRefusedBeforeSending: with the real server's
// default 1 MiB limit, a larger append is refused by the adapter and never
// reaches the server.
func TestOverTheServerAppendLimitRefusedBeforeSending(t *testing.T) {
	srv := emulator(t, esdbtest.Options{MaxAppendSize: 1 << 20})
	s := open(t, srv.URL(), func(o *eventstoredb.Options) { o.MaxAppendSize = 0 })
	ctx := context.Background()
	if _, err := s.Append(ctx, "ok", domain.NoStream, ev(0)); err != nil {
		t.Fatal(err)
	}
	before := srv.Appends()
	big := ev(1)
	big.Data = make([]byte, 1<<20+1)
	_, err := s.Append(ctx, "big", domain.NoStream, big)
	if !errors.Is(err, domain.ErrEventTooLarge) {
		t.Fatalf("got %v, want ErrEventTooLarge", err)
	}
	if srv.Appends() != before {
		t.Fatal("the oversized append was sent to the server")
	}
}

// TestReadsHaveDeadlines: a server that stalls makes reads fail with a
// deadline instead of blocking for ever (the client sets none).
func TestReadsHaveDeadlines(t *testing.T) {
	srv := emulator(t, esdbtest.Options{})
	s := open(t, srv.URL(), func(o *eventstoredb.Options) { o.ReadTimeout = 300 * time.Millisecond; o.RetryFor = time.Second })
	ctx := context.Background()
	if _, err := s.Append(ctx, "d", domain.NoStream, ev(0)); err != nil {
		t.Fatal(err)
	}
	srv.SetDelay(5 * time.Second)
	start := time.Now()
	_, err := s.ReadStream(ctx, "d", 0, domain.Forward, 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled read: %v, want a deadline error", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatalf("the read waited %v: the adapter's deadline did not apply", time.Since(start))
	}
	srv.SetDelay(0)
	srv.SetUnavailable(true)
	if _, err := s.ReadStream(ctx, "d", 0, domain.Forward, 1); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("unavailable server: %v, want ErrUnavailable", err)
	}
	srv.SetUnavailable(false)
	if got, err := s.ReadStream(ctx, "d", 0, domain.Forward, 1); err != nil || len(got) != 1 {
		t.Fatalf("after recovery: %v %v", got, err)
	}
}

// TestSystemEventsAndOtherStreamsStayOut: $all on a real server starts with
// system events and may hold other applications' streams; none of them are
// the ledger's.
func TestSystemEventsAndOtherStreamsStayOut(t *testing.T) {
	srv := emulator(t, esdbtest.Options{})
	a := open(t, srv.URL(), nil)
	b := open(t, srv.URL(), nil)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := a.Append(ctx, "mine", domain.Any, ev(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(ctx, "theirs", domain.Any, ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := a.ReadAll(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("%d events, want 5", len(all))
	}
	for _, e := range all {
		if e.Stream != "mine" || e.Type != "t" {
			t.Fatalf("foreign event %+v", e)
		}
	}
	h, err := a.Head(ctx)
	if err != nil || h != all[4].Position {
		t.Fatalf("head %d (%v), want %d", h, err, all[4].Position)
	}
	// The emulator's positions are sparse log offsets, as a server's are.
	if all[1].Position-all[0].Position < 2 {
		t.Fatalf("positions %d, %d are not sparse: the emulator does not behave like a server", all[0].Position, all[1].Position)
	}
}

// TestReadAllAfterRestartFromOnePastAnEvent: a real server refuses reads
// from a position that is not an event's; a fresh adapter (nothing seen yet)
// asked for "after the last sealed event" (its position + 1) must still
// answer, as it does after a restart.
func TestReadAllAfterRestartFromOnePastAnEvent(t *testing.T) {
	srv := emulator(t, esdbtest.Options{})
	prefix := fmt.Sprintf("restart%d-", time.Now().UnixNano())
	w := open(t, srv.URL(), func(o *eventstoredb.Options) { o.Prefix = prefix })
	ctx := context.Background()
	var res []domain.AppendResult
	for i := 0; i < 6; i++ {
		r, err := w.Append(ctx, "p", domain.Any, ev(i))
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	r := open(t, srv.URL(), func(o *eventstoredb.Options) { o.Prefix = prefix }) // same streams, nothing remembered
	for _, from := range []domain.Position{res[2].Position + 1, res[2].Position} {
		page, err := r.ReadAll(ctx, from, 10)
		if err != nil {
			t.Fatalf("read from %d on a fresh adapter: %v", from, err)
		}
		want := 3
		if from == res[2].Position {
			want = 4
		}
		if len(page) != want || page[len(page)-1].Position != res[5].Position {
			t.Fatalf("from %d: %d events, want %d", from, len(page), want)
		}
	}
	if page, err := r.ReadAll(ctx, res[5].Position+1, 10); err != nil || len(page) != 0 {
		t.Fatalf("past the end on a fresh adapter: %d events, %v", len(page), err)
	}
}

// TestResumeAcrossRealShapedCheckpoints: real servers checkpoint at a
// record's post-position with prepare 0, and KurrentDB 25.0.0 sends the end
// of the log (E, 0) when a subscription goes live. The next event is then
// written at (E, E): a client that resumes from (E, E) skips it. Every drop
// below comes right after such a checkpoint, with the next event appended
// before the adapter resubscribes.
func TestResumeAcrossRealShapedCheckpoints(t *testing.T) {
	srv := emulator(t, esdbtest.Options{CheckpointEvery: 1, LiveEndCheckpoint: true})
	s := open(t, srv.URL(), nil)
	other := open(t, srv.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, 0, func(e domain.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e.ID)
			return nil
		})
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	const rounds = 12
	var want []string
	for i := 0; i < rounds; i++ {
		e := ev(i)
		if i%2 == 1 {
			// A foreign event first: the subscription checkpoints past it at
			// the post-position of the filtered record.
			if _, err := other.Append(ctx, "noise", domain.Any, ev(1000+i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Append(ctx, "s", domain.Any, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
		deadline := time.Now().Add(20 * time.Second)
		for count() < len(want) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d events delivered: an event was skipped on resume", i, count(), len(want))
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(30 * time.Millisecond) // let the live checkpoint arrive
		srv.DropSubscriptions()
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: got %s, want %s (gap or duplicate)", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d events delivered, want %d", len(got), len(want))
	}
}

// TestAppendSizeAsTheServerCountsIt: the server counts data, metadata and
// twice the type's length; an append over the server's limit that the
// adapter lets through (its limit set higher) is answered ErrEventTooLarge,
// not a generic error.
func TestAppendSizeAsTheServerCountsIt(t *testing.T) {
	srv := emulator(t, esdbtest.Options{MaxAppendSize: 64 << 10})
	ctx := context.Background()
	strict := open(t, srv.URL(), func(o *eventstoredb.Options) { o.MaxAppendSize = 64 << 10 })
	e := ev(0)
	e.Type = strings.Repeat("t", 100)
	e.Data = make([]byte, 64<<10-len(e.Metadata)-150) // under the limit without the type, over it with 2 x 100
	before := srv.Appends()
	if _, err := strict.Append(ctx, "a", domain.Any, e); !errors.Is(err, domain.ErrEventTooLarge) {
		t.Fatalf("counted without the type: %v", err)
	}
	if srv.Appends() != before {
		t.Fatal("sent although over the limit as the server counts it")
	}
	loose := open(t, srv.URL(), func(o *eventstoredb.Options) { o.MaxAppendSize = 1 << 20 })
	_, err := loose.Append(ctx, "a", domain.Any, e)
	if !errors.Is(err, domain.ErrEventTooLarge) || !strings.Contains(err.Error(), "esdb-max-append-size") {
		t.Fatalf("the server's refusal: %v", err)
	}
}

// TestAppendTimedOutAfterTheWriteIsNotAFailure: a write the server committed
// but answered DeadlineExceeded is retried with the same ids and reported as
// the success it was, once (no duplicate), with its position, also when the
// idempotent answer carries no position.
func TestAppendTimedOutAfterTheWriteIsNotAFailure(t *testing.T) {
	for _, noPos := range []bool{false, true} {
		srv := emulator(t, esdbtest.Options{IdempotentNoPosition: noPos})
		s := open(t, srv.URL(), nil)
		ctx := context.Background()
		if _, err := s.Append(ctx, "a", domain.NoStream, ev(0)); err != nil {
			t.Fatal(err)
		}
		srv.TimeoutAfterWrite(1)
		e := ev(1)
		res, err := s.Append(ctx, "a", domain.Exact(0), e)
		if err != nil {
			t.Fatalf("noPos=%v: a committed write was reported as failed: %v", noPos, err)
		}
		recs, err := s.ReadStream(ctx, "a", 0, domain.Forward, 10)
		if err != nil || len(recs) != 2 || recs[1].ID != e.ID {
			t.Fatalf("noPos=%v: the stream holds %d events (%v): a duplicate or a loss", noPos, len(recs), err)
		}
		if res.Revision != 1 || res.Position != recs[1].Position || res.Position == 0 {
			t.Fatalf("noPos=%v: answered %+v, the event is at revision 1 position %d", noPos, res, recs[1].Position)
		}
	}
}

// TestSecureServer runs the conformance suite over TLS with credentials (the
// certificate trusted through tlsCAFile), and checks what a user without
// read access to $all gets: a clear start-up error naming the ACL, while
// appending still works; wrong credentials are refused as such.
func TestSecureServer(t *testing.T) {
	srv := emulator(t, esdbtest.Options{TLS: true, TLSDir: t.TempDir(),
		Users: map[string]string{"admin": "changeit", "writer": "w-pass"}})
	t.Run("conformance over TLS as admin", func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) domain.EventStore { return open(t, srv.URLAs("admin", "changeit"), nil) })
	})
	ctx := context.Background()
	admin := open(t, srv.URLAs("admin", "changeit"), nil)
	if err := admin.CheckAccess(ctx); err != nil {
		t.Fatalf("admin: %v", err)
	}
	writer := open(t, srv.URLAs("writer", "w-pass"), func(o *eventstoredb.Options) { o.RetryFor = time.Second })
	if _, err := writer.Append(ctx, "w", domain.Any, ev(1)); err != nil {
		t.Fatalf("a non-admin user appends: %v", err)
	}
	err := writer.CheckAccess(ctx)
	if !errors.Is(err, eventstoredb.ErrAccessDenied) || !strings.Contains(err.Error(), "$admins") || !strings.Contains(err.Error(), "$all") {
		t.Fatalf("a user who cannot read $all: %v", err)
	}
	wrong := open(t, srv.URLAs("admin", "nope"), func(o *eventstoredb.Options) { o.RetryFor = time.Second })
	if _, err := wrong.Append(ctx, "w", domain.Any, ev(2)); !errors.Is(err, eventstoredb.ErrAccessDenied) || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestLeaderChange: on a 3-node cluster (discovered by gossip, leader
// preferred), appends and the subscription go on across two leader changes:
// a write that reaches the old leader is refused "not leader", the client
// reconnects to the new one, and the subscription resumes with no gap and no
// duplicate.
func TestLeaderChange(t *testing.T) {
	c, err := esdbtest.StartCluster(3, esdbtest.Options{MaxAppendSize: 2 << 20, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	s := open(t, c.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const total = 90
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, 0, func(e domain.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e.ID)
			if len(got) == total {
				return errEnough
			}
			return nil
		})
	}()
	var want []string
	for i := 0; i < total; i++ {
		if i == 30 {
			c.ElectLeader(1)
		}
		if i == 60 {
			c.ElectLeader(2)
		}
		e := ev(i)
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i%3), domain.Any, e); err != nil {
			t.Fatalf("append %d after a leader change: %v", i, err)
		}
		want = append(want, e.ID)
	}
	select {
	case err := <-done:
		if !errors.Is(err, errEnough) {
			t.Fatalf("subscription ended with %v", err)
		}
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("%d of %d events after two leader changes", len(got), total)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: got %s, want %s (gap or duplicate)", i, got[i], want[i])
		}
	}
	if c.NotLeaderRefusals() == 0 {
		t.Error("no write reached a follower: the not-leader path was not exercised")
	}
	for i, n := range c.Nodes {
		if i != 0 && n.Appends() == 0 {
			t.Errorf("node %d, a leader after a change, received no append: the client never moved", i)
		}
	}
}

// TestUnknownReadMessageFailsTheReadNotTheProcess: the client panics on a
// read message it does not know; the adapter turns that into an error.
func TestUnknownReadMessageFailsTheReadNotTheProcess(t *testing.T) {
	srv := emulator(t, esdbtest.Options{LastStreamPositionOnReads: true})
	s := open(t, srv.URL(), func(o *eventstoredb.Options) { o.RetryFor = time.Second })
	ctx := context.Background()
	if _, err := s.Append(ctx, "a", domain.NoStream, ev(0)); err != nil {
		t.Fatal(err)
	}
	_, err := s.ReadStream(ctx, "a", 0, domain.Forward, 10)
	if err == nil || !strings.Contains(err.Error(), "does not know") {
		t.Fatalf("a read ending with an unknown message: %v", err)
	}
}
