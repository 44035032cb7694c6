package viewstore

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

// TestACommitsBatchIsInKeyOrder: every batch a commit writes lists its keys
// in ascending order (what makes Pebble's sort of a bulk load's batch one
// pass, see encode), whatever the commit cadence: records, configuration
// views, index entries of several applications and subscriptions, open,
// attempting and FIFO entries set and deleted, pipeline state.
func TestACommitsBatchIsInKeyOrder(t *testing.T) {
	recs := projectionstest.History()
	// The history defines no event type and ends with no attempt open.
	at := projectionstest.T0.Add(time.Hour)
	d1 := domain.DeliveryIDFor("msg_1", "sub_a")
	for _, e := range []struct {
		stream string
		ev     domain.Event
	}{
		{"eventtype-order.paid", domain.EventTypeDefined{Name: "order.paid", DefinedAt: at}},
		{"eventtype-invoice.sent", domain.EventTypeDefined{Name: "invoice.sent", DefinedAt: at}},
		{"delivery-" + d1, domain.AttemptStarted{DeliveryID: d1, Attempt: 2, Worker: "w", StartedAt: at}},
	} {
		d, err := domain.Encode(domain.DerivedEventID("encode-test", e.stream), e.ev, domain.Metadata{RecordedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, domain.RecordedEvent{ID: d.ID, Stream: e.stream, Position: domain.Position(len(recs) + 1), Type: d.Type, Data: d.Data, Metadata: d.Metadata, Created: at})
	}
	for _, every := range []int{1, 2, 3, 5, len(recs)} {
		for _, bulk := range []bool{false, true} {
			t.Run(fmt.Sprintf("every %d bulk %v", every, bulk), func(t *testing.T) {
				s, v := openEmpty(t, Options{Logger: zerolog.Nop(), Bulk: bulk})
				kinds := map[string]bool{}
				for i, r := range recs {
					if err := v.Apply(r); err != nil {
						t.Fatal(err)
					}
					if (i+1)%every != 0 && i+1 != len(recs) {
						continue
					}
					state := map[string][]byte{fmt.Sprintf("fan-%03d", i): []byte("{}"), fmt.Sprintf("fan-%03d", i-every): nil}
					write, err := s.Prepare(v, state)
					if err != nil {
						t.Fatal(err)
					}
					var last []byte
					var unordered error
					for rd := s.writing.b.Reader(); unordered == nil; {
						kind, k, _, ok, err := rd.Next()
						if !ok || err != nil {
							unordered = err
							break
						}
						if last != nil && bytes.Compare(last, k) >= 0 {
							unordered = fmt.Errorf("commit at %d: key %q (%v) after %q", v.Checkpoint, k, kind, last)
						}
						last = append(last[:0], k...)
						kinds[kindOf(k)+" "+kind.String()] = true
					}
					// Written before the test may stop: Close waits for it.
					if err := write(); err != nil {
						t.Fatal(err)
					}
					if unordered != nil {
						t.Fatal(unordered)
					}
				}
				// The history must reach every kind of entry, or the test
				// would not check their order.
				for _, want := range []string{"_ SET", "a SET", "d SET", "f SET", "f DEL", "k SET", "m SET", "p SET", "q SET", "s SET", "t SET", "w SET", "xa SET", "xm SET", "xs SET", "z SET"} {
					if !kinds[want] {
						t.Errorf("no %s entry was written: %v", want, kinds)
					}
				}
				if every < len(recs) { // deletions need a later commit
					for _, want := range []string{"p DEL", "q DEL", "w DEL"} {
						if !kinds[want] {
							t.Errorf("no %s entry was written: %v", want, kinds)
						}
					}
				}
			})
		}
	}
}

func kindOf(k []byte) string {
	if strings.HasPrefix(string(k), "x") {
		return string(k[:2])
	}
	return string(k[:1])
}

// openEmpty opens a new store in a temporary directory, closed when the
// test ends, and loads its (empty) views.
func openEmpty(t *testing.T, opts Options) (*Store, *projections.Views) {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	v, _, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}
