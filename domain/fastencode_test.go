package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// encodeCorpus lists events in the forms the fast encoders write (fast) and
// in those they leave to json.Marshal (slow).
func encodeCorpus() (fast, slow []Event, fastMD, slowMD []Metadata) {
	t0 := time.Date(2026, 12, 5, 4, 11, 22, 352630173, time.UTC)
	part, zero := 7, 0
	sealed := &SealedValue{Alg: SealAlgorithm, KeyID: "app_1/d/20261205#1", Nonce: []byte("123456789012"), Ciphertext: []byte(strings.Repeat("c\x00\xff", 300))}
	fast = []Event{
		DeliveryScheduled{DeliveryID: "dlv_1", MessageID: "msg_1", SubscriptionID: "sub_1", ApplicationID: "app_1", EventType: "order.paid", SubscriptionRevision: 3, MatchedPattern: "order.*", MessagePosition: 123456789, DueAt: t0},
		DeliveryScheduled{DeliveryID: "dlv_2", DueAt: t0.Truncate(time.Second), ScheduledBy: "replay", ReplayPosition: 99},
		DeliveryScheduled{DueAt: t0.In(time.FixedZone("ist", 5*3600+1800))},
		DeliveryScheduled{DueAt: t0.In(time.FixedZone("west", -23*3600-59*60))},
		DeliveryScheduled{DeliveryID: "~ !#$%'()*+,-./:;=?@[]^_`{|}", SubscriptionRevision: 1<<64 - 1},
		DeliveryScheduled{},
		AttemptStarted{DeliveryID: "dlv_1", Attempt: 1, Worker: "delivery-worker", StartedAt: t0},
		AttemptStarted{DeliveryID: "dlv_1", Attempt: 12, Worker: "w", StartedAt: t0.Truncate(time.Millisecond), NodeID: "n1", Partition: &part, Epoch: 1 << 40},
		AttemptStarted{DeliveryID: "dlv_1", Attempt: -3, Partition: &zero},
		AttemptAcknowledged{DeliveryID: "dlv_1", Attempt: 1, StatusCode: 200, LatencyUS: 3230, KeyIDs: []string{"whk_1"}, AcknowledgedAt: t0},
		AttemptAcknowledged{DeliveryID: "dlv_1", Attempt: 2, StatusCode: 204, ResponseExcerpt: "ok", KeyIDs: []string{"whk_1", "whk_2"}, AcknowledgedAt: t0},
		AttemptAcknowledged{DeliveryID: "dlv_1", ResponseExcerptSealed: sealed, KeyIDs: []string{}, LatencyUS: -5},
		AttemptAcknowledged{ResponseExcerptSealed: &SealedValue{Nonce: []byte{}, Ciphertext: []byte{}}, KeyIDs: []string{""}},
		MessagePublished{MessageID: "msg_1", ApplicationID: "app_1", EventType: "order.paid", Sealed: sealed, PayloadHash: "sha256:ab", PublishedAt: t0},
		MessagePublished{MessageID: "msg_2", Sealed: sealed, Subject: "cus_1", IdempotencyKey: "k-1", PublishedAt: t0},
	}
	slow = []Event{
		DeliveryScheduled{DeliveryID: `dlv_"1"`, DueAt: t0},
		DeliveryScheduled{DeliveryID: `dlv\1`},
		DeliveryScheduled{DeliveryID: "dlv_é"},
		DeliveryScheduled{EventType: "a\nb"},
		DeliveryScheduled{EventType: "a\x7fb"},
		DeliveryScheduled{MatchedPattern: "<script>"},
		DeliveryScheduled{ScheduledBy: "a&b"},
		DeliveryScheduled{DueAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		DeliveryScheduled{DueAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		DeliveryScheduled{DueAt: t0.In(time.FixedZone("lmt", 3600+17))},
		DeliveryScheduled{DueAt: t0.In(time.FixedZone("far", 24*3600))},
		AttemptStarted{Worker: "w>"},
		AttemptStarted{NodeID: "n\u2028"},
		AttemptAcknowledged{DeliveryID: "dlv_1"}, // nil key ids: null
		AttemptAcknowledged{KeyIDs: []string{"a", "b\"c"}},
		AttemptAcknowledged{ResponseExcerpt: `{"ok":true}`, KeyIDs: []string{}},
		AttemptAcknowledged{ResponseExcerptSealed: &SealedValue{}, KeyIDs: []string{}}, // nil nonce: null
		MessagePublished{MessageID: "msg_3", Payload: json.RawMessage(`{"a": 1}`)},
		MessagePublished{MessageID: "msg_4"},
		MessagePublished{MessageID: "msg_5", Sealed: &SealedValue{Alg: "A256GCM", KeyID: "k&1", Nonce: []byte{1}, Ciphertext: []byte{2}}},
		AttemptFailed{DeliveryID: "dlv_1"},
		SubscriptionPaused{SubscriptionID: "sub_1"},
	}
	fastMD = []Metadata{
		{Schema: 1, RecordedAt: t0, Actor: "delivery-worker", CorrelationID: "msg_1", CausationID: "evt_1"},
		{Schema: 2, RecordedAt: t0.Truncate(time.Second), Actor: "key_1"},
		{},
	}
	slowMD = []Metadata{
		{Schema: 1, RecordedAt: t0, Actor: "José"},
		{RecordedAt: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{CausationID: "<req>"},
	}
	return fast, slow, fastMD, slowMD
}

// TestFastEncodersAgreeWithJSONMarshal: what the fast encoders write is
// json.Marshal's output byte for byte, they do write the common forms, and
// they leave the others (ok=false) whatever they had appended.
func TestFastEncodersAgreeWithJSONMarshal(t *testing.T) {
	fast, slow, fastMD, slowMD := encodeCorpus()
	check := func(what string, v any, got []byte, ok, wantOK bool) {
		t.Helper()
		want, err := json.Marshal(v)
		if ok != wantOK {
			t.Errorf("%s %+v: ok=%v, want %v (json.Marshal: %s, %v)", what, v, ok, wantOK, want, err)
			return
		}
		if ok && string(got) != string(want) {
			t.Errorf("%s:\n fast %s\n json %s", what, got, want)
		}
	}
	for _, ev := range fast {
		got, ok := encodeFast([]byte("prefix"), ev)
		if ok && !strings.HasPrefix(string(got), "prefix") {
			t.Fatalf("the fast encoder did not append: %s", got)
		}
		check(ev.Type(), ev, got[min(len(got), 6):], ok, true)
	}
	for _, ev := range slow {
		got, ok := encodeFast(nil, ev)
		check(ev.Type(), ev, got, ok, false)
	}
	for _, md := range fastMD {
		got, ok := encodeMetadataFast(nil, md)
		check("metadata", md, got, ok, true)
	}
	for _, md := range slowMD {
		got, ok := encodeMetadataFast(nil, md)
		check("metadata", md, got, ok, false)
	}
}

// TestEncodeWritesWhatJSONMarshalWrites: Encode, fast or not, gives the
// bytes json.Marshal gives, and its two values do not share what appending
// to one would overwrite.
func TestEncodeWritesWhatJSONMarshalWrites(t *testing.T) {
	fast, slow, _, _ := encodeCorpus()
	t0 := time.Date(2026, 12, 5, 4, 11, 22, 1, time.UTC)
	for _, ev := range append(fast, slow...) {
		md := Metadata{RecordedAt: t0, Actor: "test", CorrelationID: "msg_1"}
		d, err := Encode("evt_1", ev, md)
		if _, jerr := json.Marshal(ev); jerr != nil {
			if err == nil {
				t.Errorf("Encode(%+v) took what json.Marshal refuses (%v)", ev, jerr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		md.Schema = SchemaVersion
		wantData, _ := json.Marshal(ev)
		wantMeta, _ := json.Marshal(md)
		if string(d.Data) != string(wantData) || string(d.Metadata) != string(wantMeta) {
			t.Errorf("Encode(%T):\n data %s\n want %s\n meta %s\n want %s", ev, d.Data, wantData, d.Metadata, wantMeta)
		}
		_ = append(d.Data, "xxxxxxxxxxxxxxxx"...)
		if string(d.Metadata) != string(wantMeta) {
			t.Errorf("appending to the data overwrote the metadata: %s", d.Metadata)
		}
	}
}

// FuzzFastEncoders builds the hot events from arbitrary strings, numbers and
// times: whenever the fast encoder writes one, it writes json.Marshal's bytes.
func FuzzFastEncoders(f *testing.F) {
	f.Add("dlv_1", "order.paid", "whk_1", int64(1733371882352630173), int32(0), int64(42), []byte("nonce"))
	f.Add("a\"b", "é", "<", int64(-62135596800000000), int32(5*3600+17), int64(-1), []byte(nil))
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, nanos int64, offset int32, n int64, raw []byte) {
		at := time.Unix(0, nanos).In(time.FixedZone("z", int(offset)))
		if offset == 0 {
			at = at.UTC()
		}
		part := int(n)
		sealed := &SealedValue{Alg: s3, KeyID: s1, Nonce: raw, Ciphertext: []byte(s2)}
		evs := []Event{
			DeliveryScheduled{DeliveryID: s1, MessageID: s2, SubscriptionID: s3, ApplicationID: s1, EventType: s2, SubscriptionRevision: uint64(n), MatchedPattern: s3, MessagePosition: Position(n), DueAt: at, ScheduledBy: s3, ReplayPosition: Position(n)},
			AttemptStarted{DeliveryID: s1, Attempt: int(n), Worker: s2, StartedAt: at, NodeID: s3, Partition: &part, Epoch: uint64(n)},
			AttemptAcknowledged{DeliveryID: s1, Attempt: int(n), StatusCode: int(offset), LatencyUS: n, ResponseExcerpt: s2, KeyIDs: []string{s3, s1}, AcknowledgedAt: at},
			AttemptAcknowledged{DeliveryID: s1, ResponseExcerptSealed: sealed, KeyIDs: []string{}, AcknowledgedAt: at},
			MessagePublished{MessageID: s1, ApplicationID: s2, EventType: s3, Sealed: sealed, PayloadHash: s2, Subject: s3, IdempotencyKey: s1, PublishedAt: at},
		}
		for _, ev := range evs {
			if got, ok := encodeFast(nil, ev); ok {
				if want, err := json.Marshal(ev); err != nil || string(got) != string(want) {
					t.Fatalf("%T:\n fast %s\n json %s %v", ev, got, want, err)
				}
			}
		}
		md := Metadata{Schema: int(offset), RecordedAt: at, Actor: s1, CorrelationID: s2, CausationID: s3}
		if got, ok := encodeMetadataFast(nil, md); ok {
			if want, err := json.Marshal(md); err != nil || string(got) != string(want) {
				t.Fatalf("metadata:\n fast %s\n json %s %v", got, want, err)
			}
		}
	})
}

// BenchmarkEncodeHotEvents encodes the four events of a message delivered at
// its first attempt, with their metadata, by Encode and by json.Marshal.
func BenchmarkEncodeHotEvents(b *testing.B) {
	t0 := time.Date(2026, 12, 5, 4, 11, 22, 352630173, time.UTC)
	sealed := &SealedValue{Alg: SealAlgorithm, KeyID: "app_01kbmq1yqd6x7rs1xw7qz9m0xh/d/20261205#1", Nonce: make([]byte, 12), Ciphertext: make([]byte, 1040)}
	evs := []Event{
		MessagePublished{MessageID: "msg_01kbmq1yqd6x7rs1xw7qz9m0xh", ApplicationID: "app_bench", EventType: "order.paid", Sealed: sealed, PayloadHash: "sha256:4e480084188156a22fce8a302b5b05700f377e0a35551bc608f0be44bb6d3bbb", PublishedAt: t0},
		DeliveryScheduled{DeliveryID: "dlv_01kbmq1yqd6x7rs1xw7qz9m0xh", MessageID: "msg_01kbmq1yqd6x7rs1xw7qz9m0xh", SubscriptionID: "sub_01kbmq1yqd6x7rs1xw7qz9m0xh", ApplicationID: "app_bench", EventType: "order.paid", SubscriptionRevision: 0, MatchedPattern: "*", MessagePosition: 123456, DueAt: t0},
		AttemptStarted{DeliveryID: "dlv_01kbmq1yqd6x7rs1xw7qz9m0xh", Attempt: 1, Worker: "delivery-worker", StartedAt: t0},
		AttemptAcknowledged{DeliveryID: "dlv_01kbmq1yqd6x7rs1xw7qz9m0xh", Attempt: 1, StatusCode: 200, LatencyUS: 812, KeyIDs: []string{"whk_01kbmq1yqd6x7rs1xw7qz9m0xh"}, AcknowledgedAt: t0},
	}
	md := Metadata{Schema: 1, RecordedAt: t0, Actor: "delivery-worker", CorrelationID: "msg_01kbmq1yqd6x7rs1xw7qz9m0xh", CausationID: "0c8f2a9e-1b7d-4c3e-9a6f-5d2e8b1c4a7f"}
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, ev := range evs {
				if _, err := Encode("evt_1", ev, md); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, ev := range evs {
				if _, err := json.Marshal(ev); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(md); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
