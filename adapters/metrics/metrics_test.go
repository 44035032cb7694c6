package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookledger/hookledger/adapters/memstore"
	"github.com/hookledger/hookledger/adapters/metrics"
	"github.com/hookledger/hookledger/domain"
)

func TestInstrumentedStoreCountsAppends(t *testing.T) {
	m := metrics.New()
	store := memstore.New()
	defer store.Close()
	s := m.InstrumentStore(store)
	ctx := context.Background()
	ev := func(id byte) domain.EventData {
		return domain.EventData{ID: domain.FormatUUID([]byte{id, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}), Type: "t", Data: []byte(`{}`)}
	}
	if _, err := s.Append(ctx, "a", domain.NoStream, ev(1), ev(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "a", domain.NoStream, ev(3)); !errors.Is(err, domain.ErrWrongRevision) {
		t.Fatalf("a second no-stream append: %v", err)
	}
	got, err := testutil.GatherAndCount(m.Registry(), "hookledger_ledger_appends_total", "hookledger_ledger_append_errors_total", "hookledger_ledger_events_appended_total")
	if err != nil || got != 3 {
		t.Fatalf("%d series, %v", got, err)
	}
	for name, want := range map[string]float64{"hookledger_ledger_appends_total": 2, "hookledger_ledger_append_errors_total": 1, "hookledger_ledger_events_appended_total": 2} {
		mf, _ := m.Registry().Gather()
		for _, f := range mf {
			if f.GetName() == name && f.Metric[0].GetCounter().GetValue() != want {
				t.Errorf("%s = %v, want %v", name, f.Metric[0].GetCounter().GetValue(), want)
			}
		}
	}
}

// A multi-stream append passes through and counts as one append of all its
// events; over a store without it the wrapper says so and writes nothing.
func TestInstrumentedStoreMultiStreamAppend(t *testing.T) {
	m := metrics.New()
	store := memstore.New()
	defer store.Close()
	s := m.InstrumentStore(store).(domain.MultiAppender)
	ev := func(id byte) domain.EventData {
		return domain.EventData{ID: domain.FormatUUID([]byte{id, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}), Type: "t", Data: []byte(`{}`)}
	}
	res, err := s.AppendMulti(context.Background(),
		domain.StreamAppend{Stream: "a", Expected: domain.NoStream, Events: []domain.EventData{ev(1), ev(2)}},
		domain.StreamAppend{Stream: "b", Expected: domain.NoStream, Events: []domain.EventData{ev(3)}})
	if err != nil || len(res) != 2 || res[1].Position != 3 {
		t.Fatalf("%v %v", res, err)
	}
	mf, _ := m.Registry().Gather()
	for _, f := range mf {
		want := map[string]float64{"hookledger_ledger_appends_total": 1, "hookledger_ledger_events_appended_total": 3}[f.GetName()]
		if want != 0 && f.Metric[0].GetCounter().GetValue() != want {
			t.Errorf("%s = %v, want %v", f.GetName(), f.Metric[0].GetCounter().GetValue(), want)
		}
	}
	plain := m.InstrumentStore(onlyAppends{store}).(domain.MultiAppender)
	if _, err := plain.AppendMulti(context.Background(), domain.StreamAppend{Stream: "c", Expected: domain.Any, Events: []domain.EventData{ev(4)}}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("over a store without multi-stream appends: %v, want errors.ErrUnsupported", err)
	}
	if h, _ := store.Head(context.Background()); h != 3 {
		t.Fatalf("head %d after the refused multi-stream append, want 3", h)
	}
}

// onlyAppends hides the store's multi-stream append and read by position.
type onlyAppends struct{ domain.EventStore }

// A read by position passes through; over a store without it the wrapper
// says so.
func TestInstrumentedStoreReadAt(t *testing.T) {
	m := metrics.New()
	store := memstore.New()
	defer store.Close()
	res, err := store.Append(context.Background(), "a", domain.NoStream,
		domain.EventData{ID: domain.FormatUUID([]byte{9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}), Type: "t", Data: []byte(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.InstrumentStore(store).(domain.PositionReader).ReadAt(context.Background(), res.Position)
	if err != nil || got.Stream != "a" || string(got.Data) != `{"a":1}` {
		t.Fatalf("ReadAt through the wrapper: %+v %v", got, err)
	}
	if _, err := m.InstrumentStore(onlyAppends{store}).(domain.PositionReader).ReadAt(context.Background(), res.Position); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("over a store without reads by position: %v, want errors.ErrUnsupported", err)
	}
}

func TestAttemptOutcomesAndState(t *testing.T) {
	m := metrics.New()
	m.AttemptFinished("", 20*time.Millisecond)
	m.AttemptFinished(domain.ErrorClassTimeout, time.Second)
	m.AttemptFinished(domain.ErrorClassTimeout, time.Second)
	m.Watch(metrics.State{
		Backlog: func() metrics.Backlog {
			return metrics.Backlog{Pending: 4, Parked: 2, OldestPending: time.Now().Add(-time.Minute), OldestParked: time.Now().Add(-time.Hour)}
		},
		Disabled: func() map[string]int { return map[string]int{domain.DisabledGone: 3} },
		Node:     func() metrics.Node { return metrics.Node{Total: 64, Partitions: 21, Members: 3, Sealer: true} },
		Starts:   func() (int64, int64) { return 10, 7 },
	})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range mfs {
		for _, mt := range f.Metric {
			key := f.GetName()
			for _, l := range mt.Label {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case mt.Counter != nil:
				values[key] = mt.Counter.GetValue()
			case mt.Gauge != nil:
				values[key] = mt.Gauge.GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"hookledger_delivery_attempts_total{outcome=acknowledged}": 1,
		"hookledger_delivery_attempts_total{outcome=timeout}":      2,
		"hookledger_deliveries_pending":                            4,
		"hookledger_deliveries_parked":                             2,
		"hookledger_subscriptions_disabled{reason=gone}":           3,
		"hookledger_subscriptions_disabled{reason=failing}":        0,
		"hookledger_cluster_partitions":                            64,
		"hookledger_cluster_partitions_held":                       21,
		"hookledger_cluster_members":                               3,
		"hookledger_cluster_sealer":                                1,
		"hookledger_attempts_started_total{by=schedule}":           7,
		"hookledger_attempts_started_total{by=dispatch}":           3,
	} {
		if got, ok := values[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if age := values["hookledger_deliveries_oldest_pending_age_seconds"]; age < 59 || age > 120 {
		t.Errorf("oldest pending age %v, want about 60 s", age)
	}
	if age := values["hookledger_deliveries_oldest_parked_age_seconds"]; age < 3599 || age > 3660 {
		t.Errorf("oldest parked age %v, want about 3600 s", age)
	}
}
