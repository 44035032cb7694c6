package domain

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A message.published's Data without its body decodes, without body, to
// the event its whole Data decodes to: for every form the corpus holds, the
// body cut wherever cutBody finds one, and kept whole (and the decoding's
// error with it) wherever it does not.
func TestCutBodyLeavesTheEventAsDecodedWithoutBody(t *testing.T) {
	fast, slow := fastCorpus(t)
	t0 := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	sealed := &SealedValue{Alg: SealAlgorithm, KeyID: "app_1/d/20261206#1", Nonce: []byte("123456789012"), Ciphertext: bytes.Repeat([]byte("c"), 1500)}
	var encoded [][2]string
	for _, ev := range []MessagePublished{
		{MessageID: "msg_e1", ApplicationID: "app_1", EventType: "order.paid", Sealed: sealed, PayloadHash: "sha256:ab", Subject: "cus_1", PublishedAt: t0},
		{MessageID: "msg_e2", ApplicationID: "app_1", EventType: "order.paid", Payload: json.RawMessage(`{"payload":"not the member","n":[1,{"payload_sealed":{}}]}`), PayloadHash: "sha256:cd", IdempotencyKey: "k", PublishedAt: t0},
	} {
		ed, err := Encode("evt_1", ev, Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, [2]string{TypeMessagePublished, string(ed.Data)})
	}
	cut := 0
	for _, c := range append(append(encoded, fast...), slow...) {
		if c[0] != TypeMessagePublished {
			continue
		}
		data := []byte(c[1])
		want, wantErr := DecodeEventWithoutBody(RecordedEvent{Type: c[0], Data: data})
		head, tail, ok := cutBody(data)
		if !ok {
			continue
		}
		cut++
		without := append(append([]byte(nil), head...), tail...)
		got, err := DecodeEventWithoutBody(RecordedEvent{Type: c[0], Data: without})
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s\ncut to %s\ndecodes to %#v, %v; want %#v, %v", data, without, got, err, want, wantErr)
		}
		whole, err := DecodeEvent(RecordedEvent{Type: c[0], Data: without})
		if err != nil {
			t.Errorf("%s: %v", without, err)
		} else if p := whole.(MessagePublished); p.Payload != nil || p.Sealed != nil {
			t.Errorf("%s keeps a body: %#v", without, p)
		}
		if len(without) >= len(data) {
			t.Errorf("%s: nothing cut", data)
		}
	}
	// Every body as Encode writes it is cut: the sealed and the clear ones
	// encoded above, and those of the corpus.
	if cut < len(encoded)+5 {
		t.Errorf("cut %d bodies, want at least %d", cut, len(encoded)+5)
	}
}

// What cutBody leaves whole: no object it reads, no body, a body first.
func TestCutBodyKeepsWhatItCannotCut(t *testing.T) {
	for _, data := range []string{
		`{"message_id":"msg_1","payload_hash":"sha256:ab"}`,
		`{"payload":{"a":1},"message_id":"msg_1"}`,
		`{"message_id":"msg_1", "payload":{"a":1}}`,
		`{"message_id":"msg_1","payload":{"a":1}`,
		`{"message_id":"msg_1","payload":{"a":[1,2}}`,
		`[]`,
		``,
	} {
		if head, tail, ok := cutBody([]byte(data)); ok {
			t.Errorf("%s cut to %s + %s", data, head, tail)
		}
	}
}

// A page WithoutBodies copies a message.published's Data without its body,
// any other event's Data whole; a page without the flag copies every Data
// whole. Each copy is the page's own memory.
func TestPageCopyDataLeavesBodiesOutWhenAsked(t *testing.T) {
	published := []byte(`{"message_id":"msg_1","event_type":"order.paid","payload":{"big":"` + strings.Repeat("x", 2000) + `"},"payload_hash":"sha256:ab"}`)
	scheduled := []byte(`{"delivery_id":"dlv_1","payload":"a member of that name in another type"}`)
	for _, c := range []struct {
		without bool
		typ     string
		data    []byte
		want    string
	}{
		{true, TypeMessagePublished, published, `{"message_id":"msg_1","event_type":"order.paid","payload_hash":"sha256:ab"}`},
		{true, TypeDeliveryScheduled, scheduled, string(scheduled)},
		{false, TypeMessagePublished, published, string(published)},
	} {
		p := Page{WithoutBodies: c.without}
		src := append([]byte(nil), c.data...)
		got := p.CopyData(c.typ, src)
		if string(got) != c.want {
			t.Errorf("WithoutBodies %v, %s: copied %.120s, want %.120s", c.without, c.typ, got, c.want)
		}
		clear(src)
		if string(got) != c.want {
			t.Errorf("WithoutBodies %v, %s: the copy shares the source's memory", c.without, c.typ)
		}
		if cap(got) != len(got) {
			t.Errorf("the copy's capacity %d runs past it (%d)", cap(got), len(got))
		}
	}
}
