package audit_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/domain"
)

// exported lists the positions of an export's event lines.
func exported(t *testing.T, export []byte) []domain.Position {
	t.Helper()
	var out []domain.Position
	for _, l := range exportLines(export) {
		if kind, pos := lineInfo(l); kind == "event" {
			out = append(out, pos)
		}
	}
	return out
}

// TestBoundedExportsHoldTheirPartOfTheLedger: an export bounded by positions
// or by recording times holds exactly the events of its scope within the
// bounds, only the seals that cover them, and verifies offline; exports of
// consecutive ranges together hold the whole ledger.
func TestBoundedExportsHoldTheirPartOfTheLedger(t *testing.T) {
	store, key, n := sealedLedger(t)
	evs := allEvents(t, store)
	var data []domain.RecordedEvent // the events the seals cover, in order
	for _, e := range evs {
		if e.Stream != domain.AuditStream {
			data = append(data, e)
		}
	}
	if len(data) != n {
		t.Fatalf("%d events, want %d", len(data), n)
	}
	within := func(scope audit.Scope, keep func(domain.RecordedEvent) bool) []domain.Position {
		var want []domain.Position
		for _, e := range data {
			if keep(e) {
				want = append(want, e.Position)
			}
		}
		return want
	}
	from, to := data[20].Position, data[33].Position
	full := exportOf(t, store, key, audit.Scope{})
	fullSeals := strings.Count(string(full), `"kind":"seal"`)

	t.Run("positions", func(t *testing.T) {
		scope := audit.Scope{From: from, To: to}
		exp := exportOf(t, store, key, scope)
		rep, err := audit.VerifyExport(bytes.NewReader(exp), pub(key))
		if err != nil || !rep.OK || rep.Events != 14 || rep.Sealed != 14 || rep.Scope != scope {
			t.Fatalf("report %+v %v", rep, err)
		}
		want := within(scope, func(e domain.RecordedEvent) bool { return e.Position >= from && e.Position <= to })
		if got := exported(t, exp); !equal(got, want) {
			t.Fatalf("exported %v, want %v", got, want)
		}
		// Seals of 7 events: events 21 to 34 are covered by seals #3 to #5.
		if seals := strings.Count(string(exp), `"kind":"seal"`); seals != 3 || seals >= fullSeals {
			t.Fatalf("%d seals in the bounded export (%d in the full one), want the 3 that cover it", seals, fullSeals)
		}
	})

	t.Run("an application's, from a position after its streams began", func(t *testing.T) {
		scope := audit.Scope{Application: "app_two", From: from}
		exp := exportOf(t, store, key, scope)
		rep, err := audit.VerifyExport(bytes.NewReader(exp), pub(key))
		if err != nil || !rep.OK {
			t.Fatalf("report %+v %v", rep, err)
		}
		// app_two's streams begin at the 27th event, after from: all of
		// them; and no event of app_one, whose events end before.
		want := within(scope, func(e domain.RecordedEvent) bool {
			return e.Position >= from && strings.Contains(string(e.Data), "app_two")
		})
		if got := exported(t, exp); !equal(got, want) || len(want) != 26 {
			t.Fatalf("exported %v, want %v (26 events)", got, want)
		}
		// The same from a position inside app_two's events: its stream
		// application-app_two began before the bounds and is still known.
		mid := data[40].Position
		exp = exportOf(t, store, key, audit.Scope{Application: "app_two", From: mid})
		if got := exported(t, exp); len(got) != len(data)-40 || got[0] != mid {
			t.Fatalf("from position %d: exported %v", mid, got)
		}
	})

	t.Run("times", func(t *testing.T) {
		since := data[10].Created
		until := data[30].Created
		if !since.Before(until) {
			t.Skip("the events were recorded in the same instant")
		}
		scope := audit.Scope{Since: since.Format(time.RFC3339Nano), Until: until.Format(time.RFC3339Nano)}
		exp := exportOf(t, store, key, scope)
		rep, err := audit.VerifyExport(bytes.NewReader(exp), pub(key))
		if err != nil || !rep.OK {
			t.Fatalf("report %+v %v", rep, err)
		}
		want := within(scope, func(e domain.RecordedEvent) bool { return !e.Created.Before(since) && e.Created.Before(until) })
		if got := exported(t, exp); !equal(got, want) || len(want) == 0 {
			t.Fatalf("exported %v, want %v", got, want)
		}
	})

	t.Run("consecutive ranges hold the whole ledger", func(t *testing.T) {
		a := exportOf(t, store, key, audit.Scope{To: from - 1})
		b := exportOf(t, store, key, audit.Scope{From: from})
		for _, exp := range [][]byte{a, b} {
			if rep, err := audit.VerifyExport(bytes.NewReader(exp), pub(key)); err != nil || !rep.OK {
				t.Fatalf("report %+v %v", rep, err)
			}
		}
		if got, want := append(exported(t, a), exported(t, b)...), exported(t, full); !equal(got, want) {
			t.Fatalf("the two ranges hold %v, the full export %v", got, want)
		}
	})

	t.Run("bounds with no event", func(t *testing.T) {
		exp := exportOf(t, store, key, audit.Scope{Since: "2001-01-01T00:00:00Z", Until: "2001-01-02T00:00:00Z"})
		rep, err := audit.VerifyExport(bytes.NewReader(exp), pub(key))
		if err != nil || !rep.OK || rep.Events != 0 || strings.Contains(string(exp), `"kind":"seal"`) {
			t.Fatalf("report %+v %v", rep, err)
		}
	})
}

// TestBoundedExportsRefuseBoundsThatSelectNothing: bounds that cannot hold
// an event, or are not times, are refused before anything is written.
func TestBoundedExportsRefuseBoundsThatSelectNothing(t *testing.T) {
	store, key, _ := sealedLedger(t)
	for _, c := range []struct {
		scope audit.Scope
		field string
	}{
		{audit.Scope{From: 20, To: 10}, "to"},
		{audit.Scope{Since: "2026-01-02T00:00:00Z", Until: "2026-01-02T00:00:00Z"}, "until"},
		{audit.Scope{Since: "yesterday"}, "since"},
		{audit.Scope{Until: "2026-13-01T00:00:00Z"}, "until"},
	} {
		var buf bytes.Buffer
		_, err := audit.Export(context.Background(), store, key, c.scope, &buf)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || buf.Len() != 0 {
			t.Errorf("%+v: %v (%d bytes written), want a validation error on %s", c.scope, err, buf.Len(), c.field)
		}
	}
}

// TestTamperedBoundedExportIsReported: a bounded export is bound by its
// signed scope like any other: a line removed or brought in from outside
// the bounds, a seal left out, or bounds widened in the header are found.
func TestTamperedBoundedExportIsReported(t *testing.T) {
	store, key, _ := sealedLedger(t)
	evs := allEvents(t, store)
	from, to := evs[nth(evs, 20)].Position, evs[nth(evs, 33)].Position
	scope := audit.Scope{From: from, To: to}
	lines := exportLines(exportOf(t, store, key, scope))
	read := func(ls []string) (audit.ExportReport, error) {
		return audit.VerifyExport(strings.NewReader(strings.Join(ls, "\n")+"\n"), pub(key))
	}
	verify := func(ls []string) audit.ExportReport {
		t.Helper()
		rep, err := read(ls)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := verify(lines); !rep.OK {
		t.Fatalf("untouched: %+v", rep.Problem)
	}
	// Every line removed, one at a time (without its header, the file is
	// not read as an export at all).
	for i := range lines {
		cut := append(append([]string{}, lines[:i]...), lines[i+1:]...)
		if rep, err := read(cut); err == nil && rep.OK {
			t.Fatalf("line %d removed (%.80s) and the export still verifies", i+1, lines[i])
		}
	}
	// An event from before the bounds, put in front of the first event.
	fullLines := exportLines(exportOf(t, store, key, audit.Scope{}))
	var before string
	for _, l := range fullLines {
		if kind, pos := lineInfo(l); kind == "event" && pos == from-1 {
			before = l
		}
	}
	first := -1
	for i, l := range lines {
		if kind, _ := lineInfo(l); kind == "event" && first < 0 {
			first = i
		}
	}
	in := append(append(append([]string{}, lines[:first]...), before), lines[first:]...)
	if rep := verify(in); rep.OK || rep.Problem.Kind != audit.KindInserted {
		t.Fatalf("an event from outside the bounds brought in: %+v", rep.Problem)
	}
	// The header's bounds widened: the signed footer disagrees.
	wide := append([]string{}, lines...)
	wide[0] = strings.Replace(wide[0], `"from":`, `"from":1,"was":`, 1)
	if rep := verify(wide); rep.OK || rep.Problem.Kind != audit.KindFooter {
		t.Fatalf("the header's bounds changed: %+v", rep.Problem)
	}
}

func equal(a, b []domain.Position) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPeriodicExportsFollowEachOther: an export taken --from the head of the
// one before follows it; one that starts later (a gap), of another scope,
// or not bounded at all does not.
func TestPeriodicExportsFollowEachOther(t *testing.T) {
	store, key, _ := sealedLedger(t)
	verify := func(scope audit.Scope) audit.ExportReport {
		t.Helper()
		rep, err := audit.VerifyExport(bytes.NewReader(exportOf(t, store, key, scope)), pub(key))
		if err != nil || !rep.OK {
			t.Fatalf("%+v: %+v %v", scope, rep, err)
		}
		return rep
	}
	first := verify(audit.Scope{To: 30})
	if first.Ends() != 30 || first.LastSeal == nil {
		t.Fatalf("the first export ends at %d, last seal %+v", first.Ends(), first.LastSeal)
	}
	second := verify(audit.Scope{From: 31})
	if p := audit.Follows(first, second); p != nil {
		t.Fatalf("--from 31 after --to 30: %+v", p)
	}
	upToHead := verify(audit.Scope{})
	for name, c := range map[string]struct{ prev, next audit.ExportReport }{
		"a gap":             {first, verify(audit.Scope{From: 33})},
		"an overlap":        {first, verify(audit.Scope{From: 20})},
		"another scope":     {first, verify(audit.Scope{Application: "app_two", From: 31})},
		"not bounded":       {first, upToHead},
		"the order swapped": {second, first},
	} {
		if p := audit.Follows(c.prev, c.next); p == nil || p.Kind != audit.KindNotFollowing {
			t.Errorf("%s: %+v", name, p)
		}
	}
	// From the head an unbounded export was taken at.
	head, _ := store.Head(context.Background())
	after := verify(audit.Scope{From: head + 1})
	if p := audit.Follows(upToHead, after); p != nil {
		t.Fatalf("--from the head + 1 after a full export: %+v", p)
	}
}
