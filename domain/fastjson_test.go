package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// genericDecode decodes data as typ the slow way only, as the fast decoders
// must agree with.
func genericDecode(typ string, data []byte, withBody bool) (Event, error) {
	if typ == TypeMessagePublished && !withBody {
		var head publishedWithoutBody
		err := unmarshalEvent(data, &head)
		return MessagePublished(head), err
	}
	return decoders[typ](data)
}

func fastCorpus(t testing.TB) (fast, slow [][2]string) {
	t0 := time.Date(2026, 12, 5, 4, 11, 22, 352630173, time.UTC)
	enc := func(ev Event) [2]string {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{ev.Type(), string(b)}
	}
	part := 7
	zero := 0
	sealed := &SealedValue{Alg: SealAlgorithm, KeyID: "app_1/d/20261205#1", Nonce: []byte("123456789012"), Ciphertext: []byte(strings.Repeat("c", 900))}
	fast = [][2]string{
		enc(DeliveryScheduled{DeliveryID: "dlv_1", MessageID: "msg_1", SubscriptionID: "sub_1", ApplicationID: "app_1", EventType: "order.paid", SubscriptionRevision: 3, MatchedPattern: "order.*", MessagePosition: 123456789, DueAt: t0}),
		enc(DeliveryScheduled{DeliveryID: "dlv_2", DueAt: t0.Truncate(time.Second), ScheduledBy: "replay", ReplayPosition: 99}),
		enc(DeliveryScheduled{DueAt: time.Date(2024, 2, 29, 23, 59, 59, 100, time.UTC)}),
		enc(DeliveryScheduled{}),
		enc(AttemptStarted{DeliveryID: "dlv_1", Attempt: 1, Worker: "delivery-worker", StartedAt: t0}),
		enc(AttemptStarted{DeliveryID: "dlv_1", Attempt: 12, Worker: "w", StartedAt: t0.Truncate(time.Millisecond), NodeID: "n1", Partition: &part, Epoch: 1 << 40}),
		enc(AttemptStarted{DeliveryID: "dlv_1", Partition: &zero}),
		enc(AttemptAcknowledged{DeliveryID: "dlv_1", Attempt: 1, StatusCode: 200, LatencyUS: 3230, KeyIDs: []string{"whk_1"}, AcknowledgedAt: t0}),
		enc(AttemptAcknowledged{DeliveryID: "dlv_1", Attempt: 2, StatusCode: 204, LatencyUS: 0, ResponseExcerpt: "ok", KeyIDs: []string{"whk_1", "whk_2"}, AcknowledgedAt: t0}),
		enc(AttemptAcknowledged{DeliveryID: "dlv_1", KeyIDs: []string{}}),
		enc(AttemptAcknowledged{DeliveryID: "dlv_1", LatencyUS: -5}),
		enc(MessagePublished{MessageID: "msg_1", ApplicationID: "app_1", EventType: "order.paid", Sealed: sealed, PayloadHash: "sha256:ab", PublishedAt: t0}),
		enc(MessagePublished{MessageID: "msg_2", ApplicationID: "app_1", EventType: "order.paid", Payload: json.RawMessage(`{"a":[1,{"b":"x\"}]"},null,true,-1.5e3],"c":"\\"}`), PayloadHash: "sha256:ab", Subject: "cus_1", IdempotencyKey: "k-1", PublishedAt: t0}),
		enc(MessagePublished{MessageID: "msg_3", Payload: json.RawMessage(`"just a string"`)}),
		enc(MessagePublished{MessageID: "msg_4", Payload: json.RawMessage(`12`)}),
		enc(MessagePublished{MessageID: "msg_5", Payload: json.RawMessage(`[]`), PublishedAt: t0}),
		// A body is skipped, not read: invalid UTF-8 in it is taken, as the
		// generic decoder takes it.
		{TypeMessagePublished, `{"message_id":"msg_1","payload":{"s":"` + "\xff\xfe" + `"}}`},
	}
	// What the fast decoders leave to the generic one.
	slow = [][2]string{
		enc(DeliveryScheduled{DeliveryID: "dlv_\"1\"", DueAt: t0}),
		enc(DeliveryScheduled{DeliveryID: "dlv_é", DueAt: t0}),
		enc(DeliveryScheduled{EventType: "a\nb"}),
		enc(DeliveryScheduled{DueAt: t0.In(time.FixedZone("x", 3600))}),
		enc(AttemptAcknowledged{DeliveryID: "dlv_1", ResponseExcerptSealed: sealed, KeyIDs: []string{"k"}}),
		enc(AttemptAcknowledged{DeliveryID: "dlv_1", ResponseExcerpt: `{"ok":true}`}),
		{TypeAttemptStarted, `{"delivery_id":"dlv_1","attempt":1,"attempt":2}`},
		{TypeAttemptStarted, `{"delivery_id":"dlv_1","added_later":1}`},
		{TypeAttemptStarted, `{"delivery_id":"dlv_1", "attempt":1}`},
		{TypeAttemptStarted, `{"delivery_id":"dlv_1""attempt":1}`},
		{TypeAttemptStarted, `{"attempt":1.0}`},
		{TypeAttemptStarted, `{"attempt":-0}`},
		{TypeAttemptStarted, `{"attempt":1e2}`},
		{TypeAttemptStarted, `{"epoch":12345678901234567890}`},
		{TypeAttemptStarted, `{"started_at":"2026-02-30T00:00:00Z"}`},
		{TypeAttemptStarted, `{"started_at":"2026-12-05T24:00:00Z"}`},
		{TypeAttemptStarted, `{"started_at":"2026-12-05T04:11:22.1234567891Z"}`},
		{TypeAttemptStarted, `{"started_at":"2026-12-05T04:11:22.Z"}`},
		{TypeAttemptStarted, `{"started_at":"2026-12-05 04:11:22Z"}`},
		{TypeAttemptStarted, `{"partition":null}`},
		{TypeAttemptAcknowledged, `{"key_ids":["a",1]}`},
		{TypeAttemptAcknowledged, `{"response_excerpt":null}`},
		{TypeMessagePublished, `{"message_id":"msg_1","payload":{"big":[1,2}}`},
		{TypeMessagePublished, `{"message_id":"msg_1","payload":{"big":[1,2]]}`},
		{TypeMessagePublished, `{"message_id":"msg_1","payload":"unterminated}`},
		{TypeMessagePublished, `{"payload":"a\qb"}`},
		{TypeMessagePublished, `{"payload":{"a":"\u12G4"}}`},
		{TypeMessagePublished, "{\"payload\":\"a\tb\"}"},
		{TypeMessagePublished, `{"payload":[01]}`},
		{TypeMessagePublished, `{"payload":[1.]}`},
		{TypeMessagePublished, `{"payload":[tru]}`},
		{TypeMessagePublished, `{"payload":{"a"}}`},
		{TypeMessagePublished, `{"payload":{"a":1,}}`},
		{TypeMessagePublished, `{"payload":[1,]}`},
		{TypeMessagePublished, `{"payload":{1:2}}`},
		{TypeMessagePublished, `{"payload":[{"a":1]}`},
		{TypeAttemptStarted, `{"attempt":01}`},
		{TypeDeliveryScheduled, `{"delivery_id":"dlv_1"} `},
		{TypeDeliveryScheduled, `{"delivery_id":"dlv_1"`},
		{TypeDeliveryScheduled, `[]`},
	}
	return fast, slow
}

// The fast decoders take the forms Encode writes, and decode them exactly as
// the generic decoder does; every other form they leave to it.
func TestFastDecodersAgreeWithTheGenericDecoder(t *testing.T) {
	fast, slow := fastCorpus(t)
	for _, c := range fast {
		got, ok := decodeFast(c[0], []byte(c[1]), false)
		if !ok {
			t.Errorf("%s %s: left to the generic decoder, want decoded fast", c[0], c[1])
			continue
		}
		want, err := genericDecode(c[0], []byte(c[1]), false)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s:\nfast    %#v\ngeneric %#v (%v)", c[0], c[1], got, want, err)
		}
	}
	for _, c := range slow {
		if got, ok := decodeFast(c[0], []byte(c[1]), false); ok {
			t.Errorf("%s %s: decoded fast as %#v, want left to the generic decoder", c[0], c[1], got)
		}
	}
	// With its body, a message sealed is decoded fast, one in the clear is
	// the generic decoder's.
	sealedFast := 0
	for _, c := range fast {
		if c[0] != TypeMessagePublished {
			continue
		}
		got, ok := decodeFast(c[0], []byte(c[1]), true)
		if ok != strings.Contains(c[1], `"payload_sealed"`) {
			t.Errorf("%s with its body: decoded fast %v", c[1][:min(len(c[1]), 80)], ok)
			continue
		}
		if !ok {
			continue
		}
		sealedFast++
		want, err := genericDecode(c[0], []byte(c[1]), true)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s with its body:\nfast    %#v\ngeneric %#v (%v)", c[1][:80], got, want, err)
		}
	}
	if sealedFast == 0 {
		t.Error("no sealed message in the corpus")
	}
	for _, c := range sealedSlow {
		if got, ok := decodeFast(TypeMessagePublished, []byte(c), true); ok {
			t.Errorf("%s: decoded fast as %#v, want left to the generic decoder", c, got)
		}
	}
}

// sealedSlow are sealed bodies the fast decoder leaves to the generic one.
var sealedSlow = []string{
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM","key_id":"k","nonce":"AAE=","ciphertext":"AAF="}}`, // padding bits set
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM","key_id":"k","nonce":"AAE","ciphertext":""}}`,      // no padding
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM","key_id":"k","nonce":"A\u0041E=","ciphertext":""}}`,
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM","nonce":"AAE=","nonce":"AAE="}}`,
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM","later":1}}`,
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM", "key_id":"k"}}`,
	`{"message_id":"m","payload_sealed":{"nonce":null}}`,
	`{"message_id":"m","payload_sealed":null}`,
	`{"message_id":"m","payload_sealed":"AAE="}`,
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM"}`,
	`{"message_id":"m","payload_sealed":{"alg":"A256GCM"},"payload":{"a":1}}`,
}

// Whatever the input, a fast decoder either leaves it to the generic decoder
// or decodes it as the generic decoder does.
func FuzzFastDecoders(f *testing.F) {
	types := []string{TypeDeliveryScheduled, TypeAttemptStarted, TypeAttemptAcknowledged, TypeMessagePublished}
	fast, slow := fastCorpus(f)
	for _, c := range append(fast, slow...) {
		f.Add(uint8(slices.Index(types, c[0])), []byte(c[1]))
	}
	for _, c := range sealedSlow {
		f.Add(uint8(slices.Index(types, TypeMessagePublished)), []byte(c))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		typ := types[int(which)%len(types)]
		for _, withBody := range []bool{false, true} {
			got, ok := decodeFast(typ, data, withBody)
			if !ok {
				continue
			}
			want, err := genericDecode(typ, data, withBody)
			if err != nil {
				t.Fatalf("%s %q: decoded fast as %#v, the generic decoder refuses it: %v", typ, data, got, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %q:\nfast    %#v\ngeneric %#v", typ, data, got, want)
			}
		}
	})
}

// printableASCII, eight bytes at a time, answers as a byte-by-byte check
// does, whichever byte sits wherever in a word.
func TestPrintableASCIIWordByWord(t *testing.T) {
	slow := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c >= 0x80 || c == '\\' {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 17; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[at] = byte(c)
				if at > 0 {
					b[at-1] = 0x20 // the lowest printable byte beside it
				}
				if got, want := printableASCII(b), slow(b); got != want {
					t.Fatalf("%s: %v, want %v", fmt.Sprintf("%q", b), got, want)
				}
			}
		}
	}
}

// noControlNorEscape answers as a byte-by-byte check does, bytes from 0x80
// beside the one tested included.
func TestNoControlNorEscapeWordByWord(t *testing.T) {
	slow := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c == '\\' {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 17; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				for _, fill := range []byte{'a', 0x80, 0xff, 0xa0} {
					b := bytes.Repeat([]byte{fill}, n)
					b[at] = byte(c)
					if got, want := noControlNorEscape(b), slow(b); got != want {
						t.Fatalf("%q: %v, want %v", b, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkDecodeHotEvents decodes the events of one delivered message (its
// body sealed, as by default) the way a rebuild does (DecodeEventWithoutBody),
// and the same events by reflection alone, for the comparison.
func BenchmarkDecodeHotEvents(b *testing.B) {
	fast, _ := fastCorpus(b)
	for _, i := range []int{0, 4, 7, 11} { // scheduled, started, acknowledged, published sealed
		typ, data := fast[i][0], []byte(fast[i][1])
		rec := RecordedEvent{Type: typ, Data: data, Metadata: []byte(`{"schema":1,"recorded_at":"2026-12-05T04:11:22.352630173Z","actor":"delivery-worker"}`)}
		b.Run(typ+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeEventWithoutBody(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(typ+"/reflection", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := genericDecode(typ, data, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// What the live fold decodes: a sealed message with its body.
	data := []byte(fast[11][1])
	rec := RecordedEvent{Type: TypeMessagePublished, Data: data, Metadata: []byte(`{"schema":1}`)}
	b.Run("message.published+body/fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEvent(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("message.published+body/reflection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := genericDecode(TypeMessagePublished, data, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
