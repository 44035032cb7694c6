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
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
const secretB = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

type entry struct {
	stream string
	ev     domain.Event
}

// history is a scripted ledger: two applications, subscriptions created,
// paused, rotated, disabled and deleted, messages, deliveries with retries,
// an unknown outcome, a redelivery and a cancellation.
func history() []domain.RecordedEvent {
	d1 := domain.DeliveryIDFor("msg_1", "sub_a")
	d2 := domain.DeliveryIDFor("msg_1", "sub_b")
	d3 := domain.DeliveryIDFor("msg_2", "sub_a")
	d4 := domain.DeliveryIDFor("msg_3", "sub_c")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	sched := func(msg, sub, app string, pos domain.Position, rev uint64, m int) domain.DeliveryScheduled {
		return domain.DeliveryScheduled{DeliveryID: domain.DeliveryIDFor(msg, sub), MessageID: msg, SubscriptionID: sub, ApplicationID: app, EventType: "order.paid", SubscriptionRevision: rev, MatchedPattern: "order.*", MessagePosition: pos, DueAt: at(m)}
	}
	es := []entry{
		{"application-app_1", domain.ApplicationCreated{ApplicationID: "app_1", Name: "Shop", CreatedAt: at(0)}},
		{"application-app_2", domain.ApplicationCreated{ApplicationID: "app_2", Name: "Other", CreatedAt: at(0)}},
		{"subscription-sub_a", domain.SubscriptionCreated{SubscriptionID: "sub_a", ApplicationID: "app_1", URL: "https://a.example/h", EventTypes: domain.Filters{"order.*"}, Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: at(1)}, CreatedAt: at(1)}},
		{"subscription-sub_b", domain.SubscriptionCreated{SubscriptionID: "sub_b", ApplicationID: "app_1", URL: "https://b.example/h", EventTypes: domain.Filters{"*"}, Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretB), Secret: secretB, CreatedAt: at(1)}, CreatedAt: at(1)}},
		{"subscription-sub_c", domain.SubscriptionCreated{SubscriptionID: "sub_c", ApplicationID: "app_2", URL: "https://c.example/h", EventTypes: domain.Filters{"order.paid"}, Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: at(1)}, CreatedAt: at(1)}},
		{"message-msg_1", domain.MessagePublished{MessageID: "msg_1", ApplicationID: "app_1", EventType: "order.paid", Payload: []byte(`{"o":1}`), PayloadHash: domain.PayloadHash([]byte(`{"o":1}`)), PublishedAt: at(2)}},
		{"delivery-" + d1, sched("msg_1", "sub_a", "app_1", 6, 0, 2)},
		{"delivery-" + d2, sched("msg_1", "sub_b", "app_1", 6, 0, 2)},
		{"delivery-" + d1, domain.AttemptStarted{DeliveryID: d1, Attempt: 1, Worker: "w", StartedAt: at(2)}},
		{"delivery-" + d1, domain.AttemptFailed{DeliveryID: d1, Attempt: 1, StatusCode: 500, ErrorClass: domain.ErrorClassHTTPStatus, FailedAt: at(2)}},
		{"delivery-" + d1, domain.RetryScheduled{DeliveryID: d1, NextAttempt: 2, DueAt: at(3), DelayMS: 60000, Reason: "http_status"}},
		{"delivery-" + d2, domain.AttemptStarted{DeliveryID: d2, Attempt: 1, Worker: "w", StartedAt: at(2)}},
		{"delivery-" + d2, domain.AttemptAcknowledged{DeliveryID: d2, Attempt: 1, StatusCode: 200, KeyIDs: []string{domain.KeyIDForSecret(secretB)}, AcknowledgedAt: at(2)}},
		{"subscription-sub_a", domain.SubscriptionPaused{SubscriptionID: "sub_a", PausedAt: at(4)}},
		{"subscription-sub_b", domain.SubscriptionSecretRotated{SubscriptionID: "sub_b", Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: at(5)}, PreviousKeyID: domain.KeyIDForSecret(secretB), PreviousExpiresAt: at(65)}},
		{"message-msg_2", domain.MessagePublished{MessageID: "msg_2", ApplicationID: "app_1", EventType: "order.paid", Payload: []byte(`{"o":2}`), PayloadHash: domain.PayloadHash([]byte(`{"o":2}`)), PublishedAt: at(6)}},
		{"delivery-" + d3, sched("msg_2", "sub_a", "app_1", 16, 1, 6)},
		{"subscription-sub_a", domain.SubscriptionResumed{SubscriptionID: "sub_a", ResumedAt: at(7)}},
		{"delivery-" + d3, domain.AttemptStarted{DeliveryID: d3, Attempt: 1, Worker: "w", StartedAt: at(7)}},
		{"delivery-" + d3, domain.AttemptOutcomeUnknown{DeliveryID: d3, Attempt: 1, Reason: "restart", ClosedAt: at(8)}},
		{"delivery-" + d3, domain.RetryScheduled{DeliveryID: d3, NextAttempt: 2, DueAt: at(8), Reason: "outcome_unknown"}},
		{"message-msg_3", domain.MessagePublished{MessageID: "msg_3", ApplicationID: "app_2", EventType: "order.paid", Payload: []byte(`{"o":3}`), PayloadHash: domain.PayloadHash([]byte(`{"o":3}`)), PublishedAt: at(9)}},
		{"delivery-" + d4, sched("msg_3", "sub_c", "app_2", 22, 0, 9)},
		{"delivery-" + d4, domain.AttemptStarted{DeliveryID: d4, Attempt: 1, Worker: "w", StartedAt: at(9)}},
		{"delivery-" + d4, domain.AttemptFailed{DeliveryID: d4, Attempt: 1, StatusCode: 410, ErrorClass: domain.ErrorClassGone, FailedAt: at(9)}},
		{"delivery-" + d4, domain.RetryScheduled{DeliveryID: d4, NextAttempt: 2, DueAt: at(10), Reason: "gone"}},
		{"subscription-sub_c", domain.SubscriptionDisabled{SubscriptionID: "sub_c", Reason: domain.DisabledGone, DisabledAt: at(9)}},
		{"delivery-" + d1, domain.RedeliveryRequested{DeliveryID: d1, By: "key_1", Reason: "fixed", DueAt: at(11)}},
		{"delivery-" + d4, domain.DeliveryCancelled{DeliveryID: d4, Reason: "operator", CancelledAt: at(12)}},
		{"subscription-sub_b", domain.SubscriptionDeleted{SubscriptionID: "sub_b", DeletedAt: at(13)}},
		{"apikey-key_1", domain.APIKeyCreated{KeyID: "key_1", Role: domain.RoleApplication, ApplicationID: "app_1", Hash: domain.HashAPIKey("k1"), CreatedAt: at(14)}},
		{"apikey-key_1", domain.APIKeyRevoked{KeyID: "key_1", RevokedAt: at(15)}},
	}
	revs := map[string]uint64{}
	out := make([]domain.RecordedEvent, len(es))
	for i, e := range es {
		d, err := domain.Encode(domain.DerivedEventID("h", fmt.Sprint(i)), e.ev, domain.Metadata{RecordedAt: at(i), Actor: "test"})
		if err != nil {
			panic(err)
		}
		out[i] = domain.RecordedEvent{ID: d.ID, Stream: e.stream, Revision: revs[e.stream], Position: domain.Position(i + 1), Type: d.Type, Data: d.Data, Metadata: d.Metadata, Created: at(i)}
		revs[e.stream]++
	}
	return out
}

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
		if len(v.DeliveryIDsOfApp("app_1")) != 3 || len(v.SubscriptionsOf("app_1")) != 2 || len(v.MessageIDsOfApp("app_2")) != 1 {
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
			d := v.Deliveries[d1]
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
			if d := v.Deliveries[d3]; d.Status != domain.DeliveryStatusPending || d.OpenAttempt != 0 || d.Attempts != 1 {
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
			if m := v.Messages["msg_1"]; len(m.Deliveries) != 2 || m.Position != 6 {
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

// TestStreamedSnapshotIsTheJSONEncoding: WriteSnapshot streams entry by
// entry; the bytes must be exactly encoding/json's for the whole value.
func TestStreamedSnapshotIsTheJSONEncoding(t *testing.T) {
	v := fold(t, history())
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(v); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := v.WriteSnapshot(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("streamed snapshot differs from encoding/json:\n%s\n%s", got.Bytes(), want.Bytes())
	}
	if len(v.Deliveries) == 0 || len(v.Messages) == 0 {
		t.Fatal("the history folds to nothing: the comparison proves nothing")
	}
}
