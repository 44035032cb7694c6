package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// Factory returns a new, empty store. It registers the store's cleanup with
// t.Cleanup; the suite may Close the store itself too (Close must be idempotent).
type Factory func(t testing.TB) domain.EventStore

// Run runs every conformance test against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, domain.EventStore)
	}{
		{"AppendNoStream", testAppendNoStream},
		{"AppendStreamExists", testAppendStreamExists},
		{"AppendExact", testAppendExact},
		{"AppendAny", testAppendAny},
		{"MultiEventAppendIsAtomicAndOrdered", testMultiEventAppend},
		{"ReadStreamForwardIsInclusive", testReadStreamForward},
		{"ReadStreamBackward", testReadStreamBackward},
		{"ReadStreamNotFound", testReadStreamNotFound},
		{"ReadAllKeepsCommitOrderAcrossStreams", testReadAllOrder},
		{"ReadAllPaging", testReadAllPaging},
		{"ReadAllPastTheEnd", testReadAllPastEnd},
		{"HeadIsTheLastPosition", testHead},
		{"DataAndMetadataPreserved", testDataPreserved},
		{"SubscribeCatchUpThenLiveWithConcurrentWriters", testSubscribeCatchUpLive},
		{"SubscribeStartIsExclusive", testSubscribeExclusive},
		{"SubscribeStopsOnCancel", testSubscribeCancel},
		{"SubscribeStopsOnHandlerError", testSubscribeHandlerError},
		{"FiftyWritersRaceOnOneStream", testRace},
		{"LargeEvents", testLargeEvents},
		{"UnicodeStreamNames", testUnicode},
		{"InvalidInputRejected", testInvalidInput},
		{"ClosedStoreRefuses", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
	runOptional(t, newStore, "multi-stream append", multiTests)
	runOptional(t, newStore, "read by position", positionTests)
	runOptional(t, newStore, "read into a page", pageTests)
}

var idSeq atomic.Uint64

// ev makes an event with a fresh UUID id.
func ev(typ, data string) domain.EventData {
	n := idSeq.Add(1)
	return domain.EventData{
		ID:       domain.DerivedEventID("storetest", fmt.Sprint(n), fmt.Sprint(time.Now().UnixNano())),
		Type:     typ,
		Data:     []byte(data),
		Metadata: []byte(fmt.Sprintf(`{"n":%d}`, n)),
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(t *testing.T, s domain.EventStore, stream string, exp domain.ExpectedRevision, evs ...domain.EventData) domain.AppendResult {
	t.Helper()
	res, err := s.Append(ctxT(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append to %s (%s): %v", stream, exp, err)
	}
	return res
}

func wantWrongRevision(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrWrongRevision) {
		t.Fatalf("want ErrWrongRevision, got %v", err)
	}
	var wre *domain.WrongRevisionError
	if !errors.As(err, &wre) {
		t.Fatalf("want a *domain.WrongRevisionError, got %T", err)
	}
}

func readAll(t *testing.T, s domain.EventStore) []domain.RecordedEvent {
	t.Helper()
	var out []domain.RecordedEvent
	from := domain.Position(0)
	for {
		page, err := s.ReadAll(ctxT(t), from, 100)
		if err != nil {
			t.Fatalf("read all from %d: %v", from, err)
		}
		out = append(out, page...)
		if len(page) < 100 {
			return out
		}
		from = page[len(page)-1].Position + 1
	}
}

func testAppendNoStream(t *testing.T, s domain.EventStore) {
	res := mustAppend(t, s, "orders-1", domain.NoStream, ev("created", `{}`))
	if res.Revision != 0 || res.Position == 0 {
		t.Fatalf("first append: revision %d position %d, want revision 0 and a position > 0", res.Revision, res.Position)
	}
	_, err := s.Append(ctxT(t), "orders-1", domain.NoStream, ev("created", `{}`))
	wantWrongRevision(t, err)
	var wre *domain.WrongRevisionError
	errors.As(err, &wre)
	if !wre.HasActual || wre.Actual != 0 || wre.Stream != "orders-1" {
		t.Fatalf("error says stream %q actual %d (has %v), want orders-1 at 0", wre.Stream, wre.Actual, wre.HasActual)
	}
}

func testAppendStreamExists(t *testing.T, s domain.EventStore) {
	_, err := s.Append(ctxT(t), "missing", domain.StreamExists, ev("x", `{}`))
	wantWrongRevision(t, err)
	var wre *domain.WrongRevisionError
	errors.As(err, &wre)
	if wre.HasActual {
		t.Fatal("a missing stream must be reported as having no revision")
	}
	mustAppend(t, s, "there", domain.NoStream, ev("x", `{}`))
	if res := mustAppend(t, s, "there", domain.StreamExists, ev("y", `{}`)); res.Revision != 1 {
		t.Fatalf("revision %d, want 1", res.Revision)
	}
}

func testAppendExact(t *testing.T, s domain.EventStore) {
	_, err := s.Append(ctxT(t), "exact", domain.Exact(0), ev("x", `{}`))
	wantWrongRevision(t, err)
	mustAppend(t, s, "exact", domain.NoStream, ev("a", `{}`))
	mustAppend(t, s, "exact", domain.Exact(0), ev("b", `{}`))
	_, err = s.Append(ctxT(t), "exact", domain.Exact(0), ev("c", `{}`))
	wantWrongRevision(t, err)
	_, err = s.Append(ctxT(t), "exact", domain.Exact(5), ev("c", `{}`))
	wantWrongRevision(t, err)
	if res := mustAppend(t, s, "exact", domain.Exact(1), ev("c", `{}`)); res.Revision != 2 {
		t.Fatalf("revision %d, want 2", res.Revision)
	}
}

func testAppendAny(t *testing.T, s domain.EventStore) {
	for i := 0; i < 3; i++ {
		if res := mustAppend(t, s, "any", domain.Any, ev("x", `{}`)); res.Revision != uint64(i) {
			t.Fatalf("append %d: revision %d", i, res.Revision)
		}
	}
}

func testMultiEventAppend(t *testing.T, s domain.EventStore) {
	mustAppend(t, s, "other", domain.NoStream, ev("o", `{}`))
	res := mustAppend(t, s, "multi", domain.NoStream, ev("a", `1`), ev("b", `2`), ev("c", `3`))
	if res.Revision != 2 {
		t.Fatalf("last revision %d, want 2", res.Revision)
	}
	got, err := s.ReadStream(ctxT(t), "multi", 0, domain.Forward, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d events, want 3", len(got))
	}
	for i, e := range got {
		if e.Revision != uint64(i) || e.Type != string(rune('a'+i)) {
			t.Fatalf("event %d: revision %d type %s", i, e.Revision, e.Type)
		}
		if i > 0 && e.Position <= got[i-1].Position {
			t.Fatalf("positions not increasing within an append: %d then %d", got[i-1].Position, e.Position)
		}
	}
	if got[2].Position != res.Position {
		t.Fatalf("result position %d, last event at %d", res.Position, got[2].Position)
	}
	// A refused append writes none of its events.
	before := readAll(t, s)
	_, err = s.Append(ctxT(t), "multi", domain.Exact(0), ev("x", ``), ev("y", ``))
	wantWrongRevision(t, err)
	if after := readAll(t, s); len(after) != len(before) {
		t.Fatalf("a refused append wrote %d events", len(after)-len(before))
	}
}

func seedStream(t *testing.T, s domain.EventStore, stream string, n int) []domain.AppendResult {
	t.Helper()
	out := make([]domain.AppendResult, n)
	for i := 0; i < n; i++ {
		out[i] = mustAppend(t, s, stream, domain.Any, ev(fmt.Sprintf("t%d", i), fmt.Sprintf(`{"i":%d}`, i)))
	}
	return out
}

func revisions(evs []domain.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Revision
	}
	return out
}

func testReadStreamForward(t *testing.T, s domain.EventStore) {
	seedStream(t, s, "fwd", 10)
	seedStream(t, s, "fwd-other", 3)
	got, err := s.ReadStream(ctxT(t), "fwd", 3, domain.Forward, 4)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(got)) != "[3 4 5 6]" {
		t.Fatalf("forward from 3, max 4: revisions %v", revisions(got))
	}
	for _, e := range got {
		if e.Stream != "fwd" {
			t.Fatalf("read fwd returned an event of %q", e.Stream)
		}
	}
	got, _ = s.ReadStream(ctxT(t), "fwd", 8, domain.Forward, 100)
	if fmt.Sprint(revisions(got)) != "[8 9]" {
		t.Fatalf("forward from 8: %v", revisions(got))
	}
	got, err = s.ReadStream(ctxT(t), "fwd", 10, domain.Forward, 100)
	if err != nil || len(got) != 0 {
		t.Fatalf("forward past the end: %v events, err %v; want none and no error", len(got), err)
	}
}

func testReadStreamBackward(t *testing.T, s domain.EventStore) {
	seedStream(t, s, "bwd", 5)
	got, err := s.ReadStream(ctxT(t), "bwd", domain.RevisionEnd, domain.Backward, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(revisions(got)) != "[4 3 2]" {
		t.Fatalf("backward from the end: %v", revisions(got))
	}
	got, _ = s.ReadStream(ctxT(t), "bwd", 1, domain.Backward, 10)
	if fmt.Sprint(revisions(got)) != "[1 0]" {
		t.Fatalf("backward from 1 (inclusive): %v", revisions(got))
	}
	got, _ = s.ReadStream(ctxT(t), "bwd", 99, domain.Backward, 1)
	if fmt.Sprint(revisions(got)) != "[4]" {
		t.Fatalf("backward from past the end: %v", revisions(got))
	}
}

func testReadStreamNotFound(t *testing.T, s domain.EventStore) {
	_, err := s.ReadStream(ctxT(t), "nobody-here", 0, domain.Forward, 10)
	if !errors.Is(err, domain.ErrStreamNotFound) {
		t.Fatalf("want ErrStreamNotFound, got %v", err)
	}
	_, err = s.ReadStream(ctxT(t), "nobody-here", domain.RevisionEnd, domain.Backward, 10)
	if !errors.Is(err, domain.ErrStreamNotFound) {
		t.Fatalf("backward: want ErrStreamNotFound, got %v", err)
	}
}

func testReadAllOrder(t *testing.T, s domain.EventStore) {
	var want []string
	for i := 0; i < 12; i++ {
		stream := fmt.Sprintf("s-%d", i%3)
		e := ev("t", fmt.Sprintf(`{"i":%d}`, i))
		mustAppend(t, s, stream, domain.Any, e)
		want = append(want, e.ID)
	}
	all := readAll(t, s)
	if len(all) != len(want) {
		t.Fatalf("read all: %d events, want %d", len(all), len(want))
	}
	for i, e := range all {
		if e.ID != want[i] {
			t.Fatalf("event %d of $all is %s, want %s (commit order)", i, e.ID, want[i])
		}
		if i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("positions not strictly increasing: %d then %d", all[i-1].Position, e.Position)
		}
		if e.Revision != uint64(i/3) {
			t.Fatalf("event %d: revision %d, want %d", i, e.Revision, i/3)
		}
	}
	// Reading from an event's own position includes it (inclusive).
	page, err := s.ReadAll(ctxT(t), all[5].Position, 2)
	if err != nil || len(page) != 2 || page[0].ID != all[5].ID || page[1].ID != all[6].ID {
		t.Fatalf("read all from position %d: %v %v", all[5].Position, page, err)
	}
}

func testReadAllPaging(t *testing.T, s domain.EventStore) {
	seedStream(t, s, "paging-a", 25)
	seedStream(t, s, "paging-b", 12)
	seen := map[string]bool{}
	var last domain.Position
	from := domain.Position(0)
	pages := 0
	for {
		page, err := s.ReadAll(ctxT(t), from, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 7 {
			t.Fatalf("page of %d events, max 7", len(page))
		}
		for _, e := range page {
			if seen[e.ID] {
				t.Fatalf("event %s seen twice while paging", e.ID)
			}
			if e.Position <= last {
				t.Fatalf("paging went backwards: %d after %d", e.Position, last)
			}
			seen[e.ID], last = true, e.Position
		}
		pages++
		if len(page) < 7 {
			break
		}
		from = page[len(page)-1].Position + 1
	}
	if len(seen) != 37 || pages != 6 {
		t.Fatalf("paging saw %d events in %d pages, want 37 in 6", len(seen), pages)
	}
}

func testReadAllPastEnd(t *testing.T, s domain.EventStore) {
	res := seedStream(t, s, "end", 3)
	page, err := s.ReadAll(ctxT(t), res[2].Position+1, 10)
	if err != nil || len(page) != 0 {
		t.Fatalf("read all past the end: %d events, err %v", len(page), err)
	}
	if _, err := s.ReadAll(ctxT(t), 0, 0); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("max 0: want ErrInvalidArgument, got %v", err)
	}
}

func testHead(t *testing.T, s domain.EventStore) {
	h, err := s.Head(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(readAll(t, s)) == 0 && h != 0 {
		t.Fatalf("empty store: head %d, want 0", h)
	}
	res := seedStream(t, s, "head", 2)
	if h, _ = s.Head(ctxT(t)); h != res[1].Position {
		t.Fatalf("head %d, want the last append's position %d", h, res[1].Position)
	}
}

func testDataPreserved(t *testing.T, s domain.EventStore) {
	e := domain.EventData{
		ID:       "8d4f2a1c-3b5e-4f60-9a7b-1c2d3e4f5a6b",
		Type:     "subscription.created",
		Data:     []byte(`{"url":"https://example.com","bin":"\u0000\u00ff"}`),
		Metadata: []byte(`{"actor":"key_1","correlation_id":"msg_1"}`),
	}
	res := mustAppend(t, s, "preserve", domain.NoStream, e, domain.EventData{ID: "9d4f2a1c-3b5e-4f60-9a7b-1c2d3e4f5a6b", Type: "empty"})
	got, err := s.ReadStream(ctxT(t), "preserve", 0, domain.Forward, 2)
	if err != nil {
		t.Fatal(err)
	}
	g := got[0]
	if g.ID != e.ID || g.Type != e.Type || !bytes.Equal(g.Data, e.Data) || !bytes.Equal(g.Metadata, e.Metadata) || g.Stream != "preserve" {
		t.Fatalf("stored %+v\nread   %+v", e, g)
	}
	if got[1].Position != res.Position || len(got[1].Data) != 0 || len(got[1].Metadata) != 0 {
		t.Fatalf("empty event read back as %+v", got[1])
	}
	if g.Created.IsZero() || time.Since(g.Created) > time.Hour || time.Until(g.Created) > time.Hour {
		t.Fatalf("created time %v is not the commit time", g.Created)
	}
}

func testSubscribeCatchUpLive(t *testing.T, s domain.EventStore) {
	const history, writers, perWriter = 300, 4, 150
	seedStream(t, s, "hist", history)
	total := history + writers*perWriter
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var got []domain.RecordedEvent
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, 0, func(e domain.RecordedEvent) error {
			mu.Lock()
			got = append(got, e)
			n := len(got)
			mu.Unlock()
			if n == total {
				return errStop
			}
			return nil
		})
	}()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("live-%d", w), domain.Any, ev("live", fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err := <-done; !errors.Is(err, errStop) {
		mu.Lock()
		t.Fatalf("subscription ended with %v after %d of %d events", err, len(got), total)
	}
	all := readAll(t, s)
	if len(all) != total {
		t.Fatalf("store has %d events, want %d", len(all), total)
	}
	for i := range all {
		if got[i].ID != all[i].ID || got[i].Position != all[i].Position {
			t.Fatalf("subscription event %d is %s@%d, $all has %s@%d (gap, duplicate or reorder)", i, got[i].ID, got[i].Position, all[i].ID, all[i].Position)
		}
	}
}

var errStop = errors.New("storetest: enough")

func testSubscribeExclusive(t *testing.T, s domain.EventStore) {
	res := seedStream(t, s, "excl", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []uint64
	err := s.SubscribeAll(ctx, res[2].Position, func(e domain.RecordedEvent) error {
		got = append(got, e.Revision)
		if len(got) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || fmt.Sprint(got) != "[3 4]" {
		t.Fatalf("subscribe after position of revision 2: got revisions %v, err %v; want [3 4]", got, err)
	}
}

func testSubscribeCancel(t *testing.T, s domain.EventStore) {
	seedStream(t, s, "cancel", 3)
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(ctx, 0, func(domain.RecordedEvent) error { n.Add(1); return nil })
	}()
	deadline := time.Now().Add(20 * time.Second)
	for n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n.Load() != 3 {
		t.Fatalf("subscription delivered %d of 3 events", n.Load())
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription did not stop within 10 s of its context being cancelled")
	}
}

func testSubscribeHandlerError(t *testing.T, s domain.EventStore) {
	seedStream(t, s, "herr", 4)
	calls := 0
	boom := errors.New("boom")
	err := s.SubscribeAll(ctxT(t), 0, func(domain.RecordedEvent) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 2 {
		t.Fatalf("handler error: got %v after %d calls, want boom after 2", err, calls)
	}
}

// testRace: in each round 50 goroutines append to one stream expecting the
// same revision at the same moment. Exactly one must win each round.
func testRace(t *testing.T, s domain.EventStore) {
	const racers, rounds = 50, 8
	var winners []string
	for r := 0; r < rounds; r++ {
		exp := domain.NoStream
		if r > 0 {
			exp = domain.Exact(uint64(r - 1))
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		var mu sync.Mutex
		var won []string
		lost := 0
		for g := 0; g < racers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				e := ev("race", fmt.Sprintf(`{"round":%d,"g":%d}`, r, g))
				<-start
				res, err := s.Append(context.Background(), "race", exp, e)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					if res.Revision != uint64(r) {
						t.Errorf("round %d: winner got revision %d", r, res.Revision)
					}
					won = append(won, e.ID)
				case errors.Is(err, domain.ErrWrongRevision):
					lost++
				default:
					t.Errorf("round %d: unexpected error %v", r, err)
				}
			}(g)
		}
		close(start)
		wg.Wait()
		if len(won) != 1 || lost != racers-1 {
			t.Fatalf("round %d: %d winners and %d losers, want 1 and %d", r, len(won), lost, racers-1)
		}
		winners = append(winners, won[0])
	}
	got, err := s.ReadStream(ctxT(t), "race", 0, domain.Forward, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != rounds {
		t.Fatalf("stream has %d events, want %d", len(got), rounds)
	}
	for i, e := range got {
		if e.ID != winners[i] || e.Revision != uint64(i) {
			t.Fatalf("revision %d holds %s, the winner was %s", i, e.ID, winners[i])
		}
	}
}

func testLargeEvents(t *testing.T, s domain.EventStore) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	e := domain.EventData{ID: "1d4f2a1c-3b5e-4f60-9a7b-1c2d3e4f5a6b", Type: "big", Data: big, Metadata: []byte(`{}`)}
	mustAppend(t, s, "big", domain.NoStream, e)
	got, err := s.ReadStream(ctxT(t), "big", 0, domain.Forward, 1)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, big) {
		t.Fatalf("1 MiB event did not round-trip (err %v)", err)
	}
	all := readAll(t, s)
	if len(all) != 1 || len(all[0].Data) != len(big) {
		t.Fatal("1 MiB event not intact in $all")
	}
	tooBig := domain.EventData{ID: "2d4f2a1c-3b5e-4f60-9a7b-1c2d3e4f5a6b", Type: "big", Data: make([]byte, domain.MaxEventSize+1)}
	_, err = s.Append(ctxT(t), "big", domain.Any, tooBig)
	if !errors.Is(err, domain.ErrEventTooLarge) {
		t.Fatalf("over the limit: want ErrEventTooLarge, got %v", err)
	}
	if len(readAll(t, s)) != 1 {
		t.Fatal("a refused large event was written")
	}
}

func testUnicode(t *testing.T, s domain.EventStore) {
	names := []string{"commande-café-☕", "日本語-ストリーム", "emoji-🚀-" + strings.Repeat("é", 10), "a-b", "a"}
	for _, n := range names {
		mustAppend(t, s, n, domain.NoStream, ev("u", `{}`))
	}
	for _, n := range names {
		got, err := s.ReadStream(ctxT(t), n, 0, domain.Forward, 10)
		if err != nil || len(got) != 1 || got[0].Stream != n {
			t.Fatalf("stream %q: %d events, err %v", n, len(got), err)
		}
	}
	for i, e := range readAll(t, s) {
		if e.Stream != names[i] {
			t.Fatalf("$all event %d names stream %q, want %q", i, e.Stream, names[i])
		}
	}
}

func testInvalidInput(t *testing.T, s domain.EventStore) {
	mustAppend(t, s, "valid", domain.NoStream, ev("v", `{}`))
	good := ev("t", `{}`)
	cases := []struct {
		name   string
		stream string
		events []domain.EventData
	}{
		{"empty stream name", "", []domain.EventData{good}},
		{"reserved name", "$all", []domain.EventData{good}},
		{"control character", "bad\x00name", []domain.EventData{good}},
		{"no events", "valid", nil},
		{"event without type", "valid", []domain.EventData{{ID: "3d4f2a1c-3b5e-4f60-9a7b-1c2d3e4f5a6b"}}},
		{"event without id", "valid", []domain.EventData{{Type: "t"}}},
		{"same id twice", "valid", []domain.EventData{good, good}},
	}
	for _, c := range cases {
		_, err := s.Append(ctxT(t), c.stream, domain.Any, c.events...)
		if !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("%s: want ErrInvalidArgument, got %v", c.name, err)
		}
		var ve *domain.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Errorf("%s: want a *domain.ValidationError, got %T", c.name, err)
		}
	}
	if n := len(readAll(t, s)); n != 1 {
		t.Fatalf("invalid appends wrote %d events", n-1)
	}
	if _, err := s.ReadStream(ctxT(t), "", 0, domain.Forward, 1); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Errorf("read of an empty stream name: %v", err)
	}
	if _, err := s.ReadStream(ctxT(t), "valid", 0, domain.Forward, 0); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Errorf("read with max 0: %v", err)
	}
}

func testClosed(t *testing.T, s domain.EventStore) {
	mustAppend(t, s, "c", domain.NoStream, ev("x", `{}`))
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := s.Append(context.Background(), "c", domain.Any, ev("x", `{}`)); !errors.Is(err, domain.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	if _, err := s.ReadAll(context.Background(), 0, 10); !errors.Is(err, domain.ErrClosed) {
		t.Fatalf("read after close: %v, want ErrClosed", err)
	}
	if err := s.SubscribeAll(context.Background(), 0, func(domain.RecordedEvent) error { return nil }); !errors.Is(err, domain.ErrClosed) {
		t.Fatalf("subscribe after close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
