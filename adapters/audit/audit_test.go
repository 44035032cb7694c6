package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/adapters/storetest"
	"github.com/hookledger/hookledger/domain"
)

// sealedLedger writes a small two-application ledger and seals it (seals of
// 7 events), returning the store, the key, and the number of ledger events.
func sealedLedger(t *testing.T) (domain.EventStore, ed25519.PrivateKey, int) {
	t.Helper()
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	_, key, _ := ed25519.GenerateKey(nil)
	ctx := context.Background()
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	md := domain.Metadata{Actor: "test"}
	for _, app := range []string{"app_one", "app_two"} {
		if _, _, err := cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: app, Name: app}, md); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: "sub_" + app, ApplicationID: app, URL: "https://e.example/" + app, EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret()}, md); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 12; i++ {
			id := ids.New(domain.PrefixMessage)
			if _, _, err := cmds.PublishNew(ctx, domain.PublishMessage{MessageID: id, ApplicationID: app, EventType: "order.paid", Payload: []byte(fmt.Sprintf(`{"secret_of_%s":%d}`, app, i))}, md); err != nil {
				t.Fatal(err)
			}
			evs, _ := domain.DecideDelivery(domain.Delivery{}, domain.ScheduleDelivery{MessageID: id, SubscriptionID: "sub_" + app, ApplicationID: app, EventType: "order.paid"}, time.Now())
			if _, _, err := cmds.AppendDecided(ctx, domain.DeliveryStream(domain.DeliveryIDFor(id, "sub_"+app)), 0, false, evs, md); err != nil {
				t.Fatal(err)
			}
		}
	}
	head, _ := store.Head(ctx)
	seal(t, store, key, int(head))
	return store, key, int(head)
}

// seal runs a sealer until it has sealed n events.
func seal(t *testing.T, store domain.EventStore, key ed25519.PrivateKey, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &audit.Sealer{Store: store, Key: key, Every: 7, Interval: 20 * time.Millisecond, NewEventID: ids.NewEventID, Log: zerolog.Nop()}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		last, _, ok, err := audit.LastSeal(context.Background(), store)
		if err != nil {
			t.Fatal(err)
		}
		if ok && last.ToSeq == uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sealer did not seal %d events (last %+v)", n, last.ToSeq)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func TestUntouchedLedgerVerifies(t *testing.T) {
	store, key, n := sealedLedger(t)
	rep, err := audit.Verify(context.Background(), store, pub(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Events != uint64(n) || rep.Sealed != uint64(n) || rep.Unsealed != 0 || rep.Seals < uint64(n/7) {
		t.Fatalf("report %+v", rep)
	}
	// New events after the last seal are reported as unsealed, not as a problem.
	store.Append(context.Background(), "application-app_three", domain.NoStream, domain.EventData{ID: ids.NewEventID(), Type: domain.TypeApplicationCreated, Data: []byte(`{"application_id":"app_three","name":"x"}`)})
	rep, _ = audit.Verify(context.Background(), store, pub(key), nil)
	if !rep.OK || rep.Unsealed != 1 {
		t.Fatalf("after one unsealed event: %+v", rep)
	}
	// A restarted sealer continues the same chain.
	seal(t, store, key, n+1)
	if rep, _ = audit.Verify(context.Background(), store, pub(key), nil); !rep.OK || rep.Unsealed != 0 {
		t.Fatalf("after resealing: %+v", rep)
	}
}

// TestVerifyOverReusedPages: verify reads into pages it hands back
// (domain.PageReader) and reports what it reports over ReadAll, tampering
// included: nothing of a page is read after the page is given back.
func TestVerifyOverReusedPages(t *testing.T) {
	store, key, _ := sealedLedger(t)
	want, err := audit.Verify(context.Background(), store, pub(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	paged := &storetest.ReusedPages{EventStore: store, Size: 3}
	got, err := audit.Verify(context.Background(), paged, pub(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	if paged.Reads < int(want.Events)/3 {
		t.Fatalf("%d reads into pages for %d events: verify did not read into pages", paged.Reads, want.Events)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !got.OK || !bytes.Equal(g, w) {
		t.Fatalf("over reused pages %s, over ReadAll %s", g, w)
	}
	evs := allEvents(t, store)
	evs[nth(evs, 5)].Data = []byte(`{"application_id":"app_one","name":"renamed"}`)
	bad, err := audit.Verify(context.Background(), &storetest.ReusedPages{EventStore: &tampered{EventStore: store, events: evs}, Size: 3}, pub(key), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bad.OK || bad.Problem == nil || bad.Problem.Position != evs[nth(evs, 5)].Position {
		t.Fatalf("a changed event over reused pages: %+v", bad)
	}
}

// TestExportOverReusedPages: an export read through pages it hands back
// (domain.PageReader) is the export read through ReadAll, line for line
// but the header's time, whatever the scope, and verifies.
func TestExportOverReusedPages(t *testing.T) {
	store, key, _ := sealedLedger(t)
	for _, scope := range []audit.Scope{{}, {Application: "app_one"}, {Subscription: "sub_app_two"}} {
		paged := &storetest.ReusedPages{EventStore: store, Size: 4}
		got, want := exportOf(t, paged, key, scope), exportOf(t, store, key, scope)
		if paged.Reads == 0 {
			t.Fatalf("%+v: the export did not read into pages", scope)
		}
		if rep, err := audit.VerifyExport(bytes.NewReader(got), pub(key)); err != nil || !rep.OK {
			t.Fatalf("%+v over reused pages: %+v %v", scope, rep, err)
		}
		g, w := strings.SplitN(string(got), "\n", 2), strings.SplitN(string(want), "\n", 2)
		if len(g) != 2 || len(w) != 2 || g[1] != w[1] {
			t.Fatalf("%+v: over reused pages the export differs from the one over ReadAll:\n got %.400s\nwant %.400s", scope, got, want)
		}
	}
}

// tampered serves a modified copy of the ledger through the store port.
type tampered struct {
	domain.EventStore
	events []domain.RecordedEvent
}

func (s *tampered) ReadAll(_ context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	var out []domain.RecordedEvent
	for _, e := range s.events {
		if e.Position >= from && len(out) < max {
			out = append(out, e)
		}
	}
	return out, nil
}

func allEvents(t *testing.T, store domain.EventStore) []domain.RecordedEvent {
	evs, err := store.ReadAll(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// nth returns the index of the n-th non-seal event.
func nth(evs []domain.RecordedEvent, n int) int {
	for i, e := range evs {
		if e.Stream != domain.AuditStream {
			if n == 0 {
				return i
			}
			n--
		}
	}
	panic("not enough events")
}

func TestTamperingIsReportedWithItsPosition(t *testing.T) {
	store, key, _ := sealedLedger(t)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name   string
		mutate func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position)
		key    ed25519.PublicKey
		kind   string
	}{
		{"one byte of one event's data changed", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			i := nth(evs, 10)
			d := append([]byte(nil), evs[i].Data...)
			d[len(d)-2] ^= 0x01
			evs[i].Data = d
			return evs, evs[i].Position
		}, nil, audit.KindChanged},
		{"metadata changed", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			i := nth(evs, 3)
			evs[i].Metadata = []byte(strings.Replace(string(evs[i].Metadata), "test", "tesT", 1))
			return evs, evs[i].Position
		}, nil, audit.KindChanged},
		{"an event dropped", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			i := nth(evs, 15)
			next := evs[i+1].Position
			if evs[i+1].Stream == domain.AuditStream {
				next = evs[i+2].Position
			}
			return append(evs[:i], evs[i+1:]...), next
		}, nil, audit.KindRemoved},
		{"two events swapped", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			i, j := nth(evs, 8), nth(evs, 9)
			pi, pj := evs[i].Position, evs[j].Position
			evs[i], evs[j] = evs[j], evs[i]
			evs[i].Position, evs[j].Position = pi, pj
			return evs, pi
		}, nil, audit.KindReordered},
		{"an event inserted", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			i := nth(evs, 5)
			fake := evs[i]
			fake.ID, fake.Data = "00000000-0000-4000-8000-000000000000", []byte(`{"forged":true}`)
			out := append(append(append([]domain.RecordedEvent{}, evs[:i]...), fake), evs[i:]...)
			return out, fake.Position
		}, nil, audit.KindInserted},
		{"a seal forged", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			for i, e := range evs {
				if e.Stream == domain.AuditStream {
					var m map[string]any
					json.Unmarshal(e.Data, &m)
					m["to_position"] = 999 // unsigned field: harmless
					m["count"] = m["count"].(float64) - 1
					b, _ := json.Marshal(m)
					evs[i].Data = b
					return evs, e.Position
				}
			}
			panic("no seal")
		}, nil, audit.KindSealForged},
		{"a seal removed", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			seen := 0
			for i, e := range evs {
				if e.Stream == domain.AuditStream {
					seen++
					if seen == 2 {
						out := append(evs[:i], evs[i+1:]...)
						for _, n := range out[i:] {
							if n.Stream == domain.AuditStream {
								return out, n.Position
							}
						}
					}
				}
			}
			panic("no seal")
		}, nil, audit.KindSealMissing},
		{"the key replaced", func(evs []domain.RecordedEvent) ([]domain.RecordedEvent, domain.Position) {
			for _, e := range evs {
				if e.Stream == domain.AuditStream {
					return evs, e.Position
				}
			}
			panic("no seal")
		}, pub(otherKey), audit.KindSealKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, wantPos := c.mutate(allEvents(t, store))
			k := c.key
			if k == nil {
				k = pub(key)
			}
			rep, err := audit.Verify(context.Background(), &tampered{EventStore: store, events: evs}, k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Problem == nil {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Problem.Kind != c.kind || rep.Problem.Position != wantPos {
				t.Fatalf("got %s at %d (%s), want %s at %d", rep.Problem.Kind, rep.Problem.Position, rep.Problem.Detail, c.kind, wantPos)
			}
		})
	}
}

// TestResignedWithAnotherKeyNeedsThePinnedKey: an attacker who rewrites an
// event and re-signs every seal with a key of their own is caught by the
// auditor's pinned public key.
func TestResignedWithAnotherKeyNeedsThePinnedKey(t *testing.T) {
	store, key, n := sealedLedger(t)
	_, attacker, _ := ed25519.GenerateKey(nil)
	forged := memstore.New()
	defer forged.Close()
	for _, e := range allEvents(t, store) {
		if e.Stream == domain.AuditStream {
			continue
		}
		forged.Append(context.Background(), e.Stream, domain.Any, domain.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata})
	}
	seal(t, forged, attacker, n)
	if rep, _ := audit.Verify(context.Background(), forged, pub(attacker), nil); !rep.OK {
		t.Fatal("the attacker's own key verifies the attacker's seals (that is why keys are pinned)")
	}
	rep, _ := audit.Verify(context.Background(), forged, pub(key), nil)
	if rep.OK || rep.Problem.Kind != audit.KindSealKey {
		t.Fatalf("pinned key: %+v", rep)
	}
}

func exportOf(t *testing.T, store domain.EventStore, key ed25519.PrivateKey, scope audit.Scope) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), store, key, scope, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportsVerifyOffline(t *testing.T) {
	store, key, n := sealedLedger(t)
	full := exportOf(t, store, key, audit.Scope{})
	rep, err := audit.VerifyExport(bytes.NewReader(full), pub(key))
	if err != nil || !rep.OK || rep.Events != uint64(n) || rep.Sealed != uint64(n) || !rep.KeyPinned {
		t.Fatalf("full export: %+v %v", rep, err)
	}
	if strings.Contains(string(full), "whsec_") {
		t.Fatal("an export must never contain signing secrets")
	}
	one := exportOf(t, store, key, audit.Scope{Application: "app_one"})
	rep, err = audit.VerifyExport(bytes.NewReader(one), nil)
	if err != nil || !rep.OK || rep.Events == 0 || rep.Sealed != rep.Events || rep.KeyPinned {
		t.Fatalf("application export: %+v %v", rep, err)
	}
	for _, line := range strings.Split(string(one), "\n") {
		if strings.Contains(line, `"kind":"event"`) && (strings.Contains(line, "app_two") || strings.Contains(line, "secret_of_app_two")) {
			t.Fatalf("the export of app_one holds app_two's data: %s", line)
		}
	}
	if strings.Contains(string(one), "app_two") {
		t.Fatal("the export of app_one names app_two")
	}
	// A subscription's export: its stream, its 12 deliveries and the 12
	// messages they delivered (an auditor sees what was sent).
	sub := exportOf(t, store, key, audit.Scope{Subscription: "sub_app_two"})
	if rep, err := audit.VerifyExport(bytes.NewReader(sub), pub(key)); err != nil || !rep.OK || rep.Events != 25 {
		t.Fatalf("subscription export: %+v %v", rep, err)
	}
	if n := strings.Count(string(sub), `"type":"message.published"`); n != 12 {
		t.Fatalf("the subscription export holds %d of its 12 messages", n)
	}
	if strings.Contains(string(sub), "app_one") {
		t.Fatal("the subscription export holds another application's events")
	}
}

// TestExportsCheckWhatTheAuditorPinned: a head and a seal recorded earlier
// are checked against an export as against the ledger: met by the export of
// the same ledger, full or scoped, and reported when not.
func TestExportsCheckWhatTheAuditorPinned(t *testing.T) {
	store, key, _ := sealedLedger(t)
	ctx := context.Background()
	head, _ := store.Head(ctx)
	first, _, _, err := audit.LastSeal(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	for _, scope := range []audit.Scope{{}, {Application: "app_one"}, {Subscription: "sub_app_two"}} {
		exp := exportOf(t, store, key, scope)
		check := func(e audit.Expect) audit.ExportReport {
			t.Helper()
			rep, err := audit.VerifyExportExpecting(bytes.NewReader(exp), pub(key), e)
			if err != nil {
				t.Fatalf("%+v: %v", scope, err)
			}
			return rep
		}
		if rep := check(audit.Expect{Head: head, SealHash: first.SealHash}); !rep.OK {
			t.Errorf("%+v: the ledger's own head and seal: %+v", scope, rep.Problem)
		}
		if rep := check(audit.Expect{Head: head + 1}); rep.OK || rep.Problem.Kind != audit.KindTruncated {
			t.Errorf("%+v: a head beyond the export's: %+v", scope, rep.Report)
		}
		other := strings.Repeat("ab", 32)
		if rep := check(audit.Expect{SealHash: other}); rep.OK || rep.Problem.Kind != audit.KindUnexpected {
			t.Errorf("%+v: a seal of another ledger: %+v", scope, rep.Report)
		}
	}
}

// TestExportOfAnUnknownScopeIsRefused: an application or a subscription the
// ledger never had is refused before anything is written; a subject nothing
// is about exports as empty, which is its answer.
func TestExportOfAnUnknownScopeIsRefused(t *testing.T) {
	store, key, _ := sealedLedger(t)
	for _, scope := range []audit.Scope{{Application: "app_three"}, {Subscription: "sub_app_three"}, {Application: "app_three", Subject: "user-1"}} {
		var buf bytes.Buffer
		if _, err := audit.Export(context.Background(), store, key, scope, &buf); !errors.Is(err, domain.ErrNotFound) || buf.Len() != 0 {
			t.Errorf("%+v: %v, %d bytes written", scope, err, buf.Len())
		}
	}
	rep, err := audit.VerifyExport(bytes.NewReader(exportOf(t, store, key, audit.Scope{Subject: "nobody"})), pub(key))
	if err != nil || !rep.OK || rep.Events != 0 {
		t.Fatalf("a subject nothing is about: %+v %v", rep, err)
	}
}

func TestTamperedExportIsReported(t *testing.T) {
	store, key, _ := sealedLedger(t)
	for _, scope := range []audit.Scope{{}, {Application: "app_one"}} {
		lines := strings.Split(string(exportOf(t, store, key, scope)), "\n")
		// Change one byte of one event's data (base64 in the export).
		var pos float64
		for i, l := range lines {
			if strings.Contains(l, `"type":"message.published"`) {
				var m map[string]any
				json.Unmarshal([]byte(l), &m)
				data := m["data"].(string)
				m["data"] = data[:10] + string(rune(data[10]^1)) + data[11:]
				b, _ := json.Marshal(m)
				lines[i], pos = string(b), m["position"].(float64)
				break
			}
		}
		rep, err := audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")), pub(key))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || rep.Problem.Kind != audit.KindChanged || rep.Problem.Position != domain.Position(pos) {
			t.Fatalf("scope %+v: tampered export: %+v", scope, rep.Problem)
		}
		// A forged seal: a signed field changed, the signature left as it was.
		lines = strings.Split(string(exportOf(t, store, key, scope)), "\n")
		for i, l := range lines {
			if strings.Contains(l, `"kind":"seal"`) {
				var m map[string]any
				json.Unmarshal([]byte(l), &m)
				s := m["seal"].(map[string]any)
				s["sealed_at"] = "2001-01-01T00:00:00Z"
				b, _ := json.Marshal(m)
				lines[i] = string(b)
				break
			}
		}
		rep, _ = audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")), pub(key))
		if rep.OK || rep.Problem.Kind != audit.KindSealForged {
			t.Fatalf("scope %+v: forged seal: %+v", scope, rep.Problem)
		}
		// A truncated export.
		full := string(exportOf(t, store, key, scope))
		cut := full[:strings.LastIndex(full, `{"kind":"footer"`)]
		if rep, _ := audit.VerifyExport(strings.NewReader(cut), pub(key)); rep.OK {
			t.Fatalf("scope %+v: a truncated export verified", scope)
		}
	}
}

func TestVerifyRangeStartsAtASignedCheckpoint(t *testing.T) {
	store, key, n := sealedLedger(t)
	evs := allEvents(t, store)
	mid := evs[len(evs)/2].Position
	rep, err := audit.VerifyRange(context.Background(), store, pub(key), mid, 0, nil)
	if err != nil || !rep.OK || rep.Events == 0 || rep.Events >= uint64(n) {
		t.Fatalf("range from %d: %+v %v", mid, rep, err)
	}
	// Tampering after the checkpoint is still found; before it, it is out of range.
	i := nth(evs, n-3)
	evs[i].Data = []byte(`{"changed":true}`)
	rep, _ = audit.VerifyRange(context.Background(), &tampered{EventStore: store, events: evs}, pub(key), mid, 0, nil)
	if rep.OK || rep.Problem.Position != evs[i].Position {
		t.Fatalf("tampering in range: %+v", rep.Problem)
	}
	rep, _ = audit.VerifyRange(context.Background(), &tampered{EventStore: store, events: evs}, pub(key), 0, evs[i].Position-1, nil)
	if !rep.OK {
		t.Fatalf("a range that ends before the change verifies: %+v", rep.Problem)
	}
}

// exportLines splits an export into its lines (no trailing empty line).
func exportLines(b []byte) []string {
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func lineInfo(l string) (kind string, pos domain.Position) {
	var m struct {
		Kind     string          `json:"kind"`
		Position domain.Position `json:"position"`
	}
	json.Unmarshal([]byte(l), &m)
	return m.Kind, m.Position
}

// TestEveryRemovalAndReorderingOfOneLineIsReported removes each line of a
// full, an application and a subscription export in turn, and swaps each
// pair of neighbouring lines: every change fails verification, a removed
// event is reported at its own position, and swapped events as reordered.
func TestEveryRemovalAndReorderingOfOneLineIsReported(t *testing.T) {
	store, key, _ := sealedLedger(t)
	for _, scope := range []audit.Scope{{}, {Application: "app_one"}, {Subscription: "sub_app_two"}, {From: 20, To: 40}, {Application: "app_two", From: 30}} {
		lines := exportLines(exportOf(t, store, key, scope))
		verify := func(ls []string) (audit.ExportReport, error) {
			return audit.VerifyExport(strings.NewReader(strings.Join(ls, "\n")+"\n"), pub(key))
		}
		if rep, err := verify(lines); err != nil || !rep.OK {
			t.Fatalf("scope %+v: untouched: %+v %v", scope, rep.Problem, err)
		}
		for i := range lines {
			cut := append(append([]string{}, lines[:i]...), lines[i+1:]...)
			rep, err := verify(cut)
			if err == nil && rep.OK {
				t.Fatalf("scope %+v: line %d removed (%.80s) and the export still verifies", scope, i+1, lines[i])
			}
			if kind, pos := lineInfo(lines[i]); kind == "event" {
				if err != nil || rep.Problem.Kind != audit.KindRemoved || rep.Problem.Position != pos {
					t.Fatalf("scope %+v: event at position %d removed, reported as %+v %v", scope, pos, rep.Problem, err)
				}
			}
		}
		for i := 0; i+1 < len(lines); i++ {
			if lines[i] == lines[i+1] {
				continue
			}
			sw := append([]string{}, lines...)
			sw[i], sw[i+1] = sw[i+1], sw[i]
			rep, err := verify(sw)
			if err == nil && rep.OK {
				t.Fatalf("scope %+v: lines %d and %d swapped and the export still verifies", scope, i+1, i+2)
			}
			ka, pa := lineInfo(lines[i])
			kb, _ := lineInfo(lines[i+1])
			if ka == "event" && kb == "event" && (err != nil || rep.Problem.Kind != audit.KindReordered || rep.Problem.Position != pa) {
				t.Fatalf("scope %+v: events %d and %d swapped, reported as %+v %v", scope, i+1, i+2, rep.Problem, err)
			}
		}
	}
}

// TestRemovalWithARewrittenFooterIsReported is the black-box report's attack:
// an event line removed and the footer's count lowered to match.
func TestRemovalWithARewrittenFooterIsReported(t *testing.T) {
	store, key, _ := sealedLedger(t)
	lines := exportLines(exportOf(t, store, key, audit.Scope{Subscription: "sub_app_two"}))
	var removed domain.Position
	for i, l := range lines {
		if kind, pos := lineInfo(l); kind == "event" && strings.Contains(l, "delivery.scheduled") && i+2 < len(lines) {
			removed = pos
			lines = append(lines[:i], lines[i+1:]...)
			break
		}
	}
	last := len(lines) - 1
	var f map[string]any
	json.Unmarshal([]byte(lines[last]), &f)
	f["events"] = f["events"].(float64) - 1
	b, _ := json.Marshal(f)
	lines[last] = string(b)
	rep, err := audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")), pub(key))
	if err != nil || rep.OK || rep.Problem.Kind != audit.KindRemoved || rep.Problem.Position != removed {
		t.Fatalf("removed at %d with the footer rewritten: %+v %v", removed, rep.Problem, err)
	}
	// The footer alone rewritten (an unsealed event's line can only be
	// bound by it): its signature fails.
	lines = exportLines(exportOf(t, store, key, audit.Scope{Application: "app_one"}))
	json.Unmarshal([]byte(lines[len(lines)-1]), &f)
	f["head"] = f["head"].(float64) + 1
	b, _ = json.Marshal(f)
	lines[len(lines)-1] = string(b)
	rep, _ = audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")), pub(key))
	if rep.OK || rep.Problem.Kind != audit.KindFooter {
		t.Fatalf("forged footer: %+v", rep.Problem)
	}
}

// TestUnsealedEventsOfAScopedExportAreBound: an event after the last seal
// has no seal to prove it; the signed digest of the lines does.
func TestUnsealedEventsOfAScopedExportAreBound(t *testing.T) {
	store, key, _ := sealedLedger(t)
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	if _, _, err := cmds.PublishNew(context.Background(), domain.PublishMessage{MessageID: ids.New(domain.PrefixMessage), ApplicationID: "app_one",
		EventType: "order.paid", Payload: []byte(`{"late":true}`)}, domain.Metadata{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	lines := exportLines(exportOf(t, store, key, audit.Scope{Application: "app_one"}))
	rep, err := audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")), pub(key))
	if err != nil || !rep.OK || rep.Unsealed != 1 {
		t.Fatalf("untouched: %+v %v", rep, err)
	}
	for i, l := range lines {
		if strings.Contains(l, `"seal":0,`) && strings.Contains(l, `"kind":"event"`) {
			var m map[string]any
			json.Unmarshal([]byte(l), &m)
			m["data"] = base64.StdEncoding.EncodeToString([]byte(`{"late":false}`))
			b, _ := json.Marshal(m)
			lines[i] = string(b)
		}
	}
	rep, _ = audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")), pub(key))
	if rep.OK || rep.Problem.Kind != audit.KindChanged {
		t.Fatalf("changed unsealed event: %+v", rep.Problem)
	}
}
