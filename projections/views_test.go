package projections_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
	"github.com/hookledger/hookledger/projections/projectionstest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var t0 = projectionstest.T0

func history() []domain.RecordedEvent { return projectionstest.History() }

func fold(t *testing.T, recs []domain.RecordedEvent) *projections.Views {
	t.Helper()
	v := projections.New()
	for _, r := range recs {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func snapshot(t *testing.T, v *projections.Views) []byte {
	t.Helper()
	b, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenViews(t *testing.T) {
	got := snapshot(t, fold(t, history()))
	golden := filepath.Join("testdata", "views.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./projections -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("views differ from %s (run with -update if the change is intended)\n got: %s", golden, got)
	}
}

func TestRebuildIsByteIdentical(t *testing.T) {
	a := snapshot(t, fold(t, history()))
	b := snapshot(t, fold(t, history()))
	if !bytes.Equal(a, b) {
		t.Fatal("folding the same events twice gave different snapshots")
	}
}

func TestSnapshotPlusTailEqualsFullFold(t *testing.T) {
	recs := history()
	full := snapshot(t, fold(t, recs))
	for cut := 0; cut <= len(recs); cut += 7 {
		v, err := projections.LoadSnapshot(snapshot(t, fold(t, recs[:cut])))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs { // replays from 0: events at or before the checkpoint are ignored
			if err := v.Apply(r); err != nil {
				t.Fatal(err)
			}
		}
		if got := snapshot(t, v); !bytes.Equal(got, full) {
			t.Fatalf("snapshot at %d + tail differs from the full fold", cut)
		}
		if cut == len(recs) && v.KeyByHash(domain.HashAPIKey("k1")) == nil {
			t.Fatal("key index not rebuilt from the snapshot")
		}
		if count(v.Records().DeliveriesOfApp, "app_1") != 3 || len(v.SubscriptionsOf("app_1")) != 2 || count(v.Records().MessagesOfApp, "app_2") != 1 {
			t.Fatalf("indexes not rebuilt from the snapshot at %d", cut)
		}
	}
}

func TestStateAtEachPoint(t *testing.T) {
	recs := history()
	d1 := domain.DeliveryIDFor("msg_1", "sub_a")
	d3 := domain.DeliveryIDFor("msg_2", "sub_a")
	cases := []struct {
		upTo  int
		check func(v *projections.Views) string
	}{
		{5, func(v *projections.Views) string {
			if len(v.Subscriptions) != 3 || v.Subscriptions["sub_a"].Status != domain.StatusActive {
				return "three active subscriptions expected"
			}
			return ""
		}},
		{11, func(v *projections.Views) string {
			d := v.Delivery(d1)
			if d.Status != domain.DeliveryStatusFailed || !d.NextDueAt.Equal(t0.Add(3*time.Minute)) || v.Subscriptions["sub_a"].FailingSince.IsZero() {
				return fmt.Sprintf("d1 failed, retry due at +3m, sub_a failing: %+v", d.Delivery)
			}
			return ""
		}},
		{14, func(v *projections.Views) string {
			if v.Subscriptions["sub_a"].Status != domain.StatusPaused {
				return "sub_a paused"
			}
			return ""
		}},
		{15, func(v *projections.Views) string {
			if len(v.Subscriptions["sub_b"].ValidKeys(t0.Add(6*time.Minute))) != 2 {
				return "sub_b signs with two keys during the rotation"
			}
			return ""
		}},
		{18, func(v *projections.Views) string {
			if v.Subscriptions["sub_a"].Status != domain.StatusActive || !v.Subscriptions["sub_a"].FailingSince.IsZero() {
				return "sub_a resumed with a fresh failure window"
			}
			return ""
		}},
		{21, func(v *projections.Views) string {
			if d := v.Delivery(d3); d.Status != domain.DeliveryStatusPending || d.OpenAttempt != 0 || d.Attempts != 1 {
				return fmt.Sprintf("d3 pending again after an unknown outcome: %+v", d.Delivery)
			}
			return ""
		}},
		{len(recs), func(v *projections.Views) string {
			p := v.Pending()
			if len(p) != 2 || p[0].DeliveryID != d3 || p[1].DeliveryID != d1 || p[1].NextAttempt != 2 {
				return fmt.Sprintf("pending: %+v", p)
			}
			if v.Subscriptions["sub_b"].Status != domain.StatusDeleted || v.Subscriptions["sub_c"].DisabledReason != domain.DisabledGone {
				return "sub_b deleted, sub_c disabled (gone)"
			}
			if k := v.KeyByHash(domain.HashAPIKey("k1")); k == nil || !k.Revoked || k.ApplicationID != "app_1" {
				return fmt.Sprintf("key_1 revoked and found by hash: %+v", k)
			}
			if v.Subscriptions["sub_a"].Open != 2 || v.Subscriptions["sub_b"].Open != 0 || v.Subscriptions["sub_c"].Open != 0 {
				return fmt.Sprintf("open counts: sub_a %d (2 pending), sub_b %d, sub_c %d", v.Subscriptions["sub_a"].Open, v.Subscriptions["sub_b"].Open, v.Subscriptions["sub_c"].Open)
			}
			var a, b projections.StatBucket
			v.Records().StatsOf("sub_a", 0, 1<<40, func(x *projections.StatBucket) bool {
				a.Failed += x.Failed
				a.Unknown += x.Unknown
				a.Acknowledged += x.Acknowledged
				return true
			})
			v.Records().StatsOf("sub_b", 0, 1<<40, func(x *projections.StatBucket) bool {
				b.Acknowledged += x.Acknowledged
				b.Latency = x.Latency
				return true
			})
			if a.Failed != 1 || a.Unknown != 1 || a.Acknowledged != 0 || b.Acknowledged != 1 || projections.Quantile(b.Latency, 0.5) != 5 {
				return fmt.Sprintf("stats: sub_a %+v, sub_b %+v", a, b)
			}
			if m := v.Message("msg_1"); len(m.Deliveries) != 2 || m.Position != 6 {
				return fmt.Sprintf("msg_1 index: %+v", m)
			}
			return ""
		}},
	}
	for _, c := range cases {
		if msg := c.check(fold(t, recs[:c.upTo])); msg != "" {
			t.Errorf("as of position %d: %s", c.upTo, msg)
		}
	}
}

func TestUnknownEventTypeIsAnError(t *testing.T) {
	v := projections.New()
	if err := v.Apply(domain.RecordedEvent{Position: 1, Type: "from.the.future", Data: []byte(`{}`)}); err == nil {
		t.Fatal("an unknown event type must not be folded silently")
	}
	if v.Checkpoint != 0 {
		t.Fatal("the checkpoint must not move past an event that was not folded")
	}
}

func TestLoadSnapshotRejectsOtherFormats(t *testing.T) {
	if _, err := projections.LoadSnapshot([]byte(`{"format":99}`)); err == nil {
		t.Fatal("format 99 accepted")
	}
	if _, err := projections.LoadSnapshot([]byte(`{"format":1}`)); err == nil {
		t.Fatal("incomplete snapshot accepted")
	}
}

// TestSnapshotRoundTrips: the streamed snapshot is valid JSON and loads
// back to the same bytes (so a rebuild's digest compares like with like).
func TestSnapshotRoundTrips(t *testing.T) {
	v := fold(t, history())
	got := snapshot(t, v)
	if !json.Valid(got) {
		t.Fatalf("snapshot is not JSON: %s", got)
	}
	again, err := projections.LoadSnapshot(got)
	if err != nil {
		t.Fatal(err)
	}
	if b := snapshot(t, again); !bytes.Equal(b, got) {
		t.Fatalf("snapshot does not round-trip:\n%s\n%s", got, b)
	}
	if m, d := v.Records().(*projections.MemRecords).Len(); m == 0 || d == 0 {
		t.Fatal("the history folds to nothing: the comparison proves nothing")
	}
}

// TestListingsNewestFirstWithCursor: the record indexes list newest first
// and resume strictly before a cursor position.
func TestListingsNewestFirstWithCursor(t *testing.T) {
	v := fold(t, history())
	var all []domain.Position
	v.Records().DeliveriesOfApp("app_1", 0, func(d *projections.DeliveryView) bool { all = append(all, d.ScheduledPosition); return true })
	if len(all) != 3 || all[0] <= all[1] || all[1] <= all[2] {
		t.Fatalf("deliveries of app_1 newest first: %v", all)
	}
	var rest []domain.Position
	v.Records().DeliveriesOfApp("app_1", all[0], func(d *projections.DeliveryView) bool { rest = append(rest, d.ScheduledPosition); return true })
	if len(rest) != 2 || rest[0] != all[1] {
		t.Fatalf("after cursor %d: %v", all[0], rest)
	}
	n := 0
	v.Records().DeliveriesOfSubscription("sub_a", 0, func(*projections.DeliveryView) bool { n++; return false })
	if n != 1 {
		t.Fatal("a listing must stop when fn returns false")
	}
}

func count[T any](list func(string, domain.Position, func(T) bool), key string) int {
	n := 0
	list(key, 0, func(T) bool { n++; return true })
	return n
}
