package domain

import (
	"encoding/base64"
	"strconv"
	"time"
)

// The fast encoders write the events appended for every delivery (a
// message's publication, its deliveries' schedules, attempt starts and
// acknowledgements) and their metadata byte for byte as json.Marshal does,
// without reflection: json.Marshal was 3-4% of the CPU of publishing
// (BenchmarkEncodeHotEvents). They write only the common form: strings of
// printable ASCII that json.Marshal writes as they are (no quote,
// backslash, or <, >, & that it escapes for HTML), times of years 0-9999
// at whole-minute offsets, a message sealed rather than in the clear.
// Anything else answers ok=false and json.Marshal encodes the event, so the
// two always agree (fastencode_test.go checks it on every form, and a fuzz
// target on any input).

// encodeFast appends ev as json.Marshal would; ok=false leaves it to
// json.Marshal.
func encodeFast(dst []byte, ev Event) ([]byte, bool) {
	if m, ok := ev.(MessagePublished); ok && m.Sealed != nil && cap(dst)-len(dst) < 512+base64.StdEncoding.EncodedLen(len(m.Sealed.Ciphertext)) {
		dst = append(make([]byte, 0, len(dst)+512+base64.StdEncoding.EncodedLen(len(m.Sealed.Ciphertext))), dst...)
	}
	w := jsonWriter{b: dst, ok: true}
	switch e := ev.(type) {
	case DeliveryScheduled:
		w.open("delivery_id", e.DeliveryID)
		w.str("message_id", e.MessageID)
		w.str("subscription_id", e.SubscriptionID)
		w.str("application_id", e.ApplicationID)
		w.str("event_type", e.EventType)
		w.uint("subscription_revision", e.SubscriptionRevision)
		w.str("matched_pattern", e.MatchedPattern)
		w.uint("message_position", uint64(e.MessagePosition))
		w.time("due_at", e.DueAt)
		w.omitEmpty("scheduled_by", e.ScheduledBy)
		if e.ReplayPosition != 0 {
			w.uint("replay_position", uint64(e.ReplayPosition))
		}
	case AttemptStarted:
		w.open("delivery_id", e.DeliveryID)
		w.int("attempt", int64(e.Attempt))
		w.str("worker", e.Worker)
		w.time("started_at", e.StartedAt)
		w.omitEmpty("node_id", e.NodeID)
		if e.Partition != nil {
			w.int("partition", int64(*e.Partition))
		}
		if e.Epoch != 0 {
			w.uint("epoch", e.Epoch)
		}
	case AttemptAcknowledged:
		if e.KeyIDs == nil { // json.Marshal writes null
			return dst, false
		}
		w.open("delivery_id", e.DeliveryID)
		w.int("attempt", int64(e.Attempt))
		w.int("status_code", int64(e.StatusCode))
		w.int("latency_us", e.LatencyUS)
		w.omitEmpty("response_excerpt", e.ResponseExcerpt)
		if e.ResponseExcerptSealed != nil {
			w.sealed("response_excerpt_sealed", e.ResponseExcerptSealed)
		}
		w.name("key_ids")
		w.b = append(w.b, '[')
		for i, k := range e.KeyIDs {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.quoted(k)
		}
		w.b = append(w.b, ']')
		w.time("acknowledged_at", e.AcknowledgedAt)
	case MessagePublished:
		// A payload in the clear is raw JSON, which json.Marshal compacts
		// and escapes: left to it.
		if len(e.Payload) > 0 || e.Sealed == nil {
			return dst, false
		}
		w.open("message_id", e.MessageID)
		w.str("application_id", e.ApplicationID)
		w.str("event_type", e.EventType)
		w.sealed("payload_sealed", e.Sealed)
		w.str("payload_hash", e.PayloadHash)
		w.omitEmpty("subject", e.Subject)
		w.omitEmpty("idempotency_key", e.IdempotencyKey)
		w.time("published_at", e.PublishedAt)
	default:
		return dst, false
	}
	w.b = append(w.b, '}')
	return w.b, w.ok
}

// encodeMetadataFast appends md as json.Marshal would; ok=false leaves it to
// json.Marshal.
func encodeMetadataFast(dst []byte, md Metadata) ([]byte, bool) {
	w := jsonWriter{b: dst, ok: true}
	w.b = append(w.b, `{"schema":`...)
	w.b = strconv.AppendInt(w.b, int64(md.Schema), 10)
	w.time("recorded_at", md.RecordedAt)
	w.str("actor", md.Actor)
	w.omitEmpty("correlation_id", md.CorrelationID)
	w.omitEmpty("causation_id", md.CausationID)
	w.b = append(w.b, '}')
	return w.b, w.ok
}

// jsonWriter appends an object's members; ok turns false for good at the
// first value it cannot write as json.Marshal does.
type jsonWriter struct {
	b  []byte
	ok bool
}

// open starts the object with its first member, a string.
func (w *jsonWriter) open(name, v string) {
	w.b = append(append(append(w.b, `{"`...), name...), `":`...)
	w.quoted(v)
}

// name starts a member after the first.
func (w *jsonWriter) name(n string) {
	w.b = append(append(append(w.b, `,"`...), n...), `":`...)
}

func (w *jsonWriter) str(name, v string) {
	w.name(name)
	w.quoted(v)
}

// omitEmpty writes a string member tagged omitempty: not at all when empty.
func (w *jsonWriter) omitEmpty(name, v string) {
	if v != "" {
		w.str(name, v)
	}
}

func (w *jsonWriter) quoted(v string) {
	for i := 0; i < len(v); i++ {
		if !asIs[v[i]] {
			w.ok = false
			return
		}
	}
	w.b = append(append(append(w.b, '"'), v...), '"')
}

// asIs marks the bytes json.Marshal writes inside a string as they are and
// the fast encoders take: printable ASCII but the quote, the backslash and
// the three it escapes for HTML.
var asIs = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func (w *jsonWriter) int(name string, v int64) {
	w.name(name)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *jsonWriter) uint(name string, v uint64) {
	w.name(name)
	w.b = strconv.AppendUint(w.b, v, 10)
}

// time writes t as time.Time's MarshalJSON does (RFC 3339 with the
// nanoseconds it has), which refuses years outside 0-9999 and offsets of a
// day or more: those, and offsets in seconds, go to json.Marshal.
func (w *jsonWriter) time(name string, t time.Time) {
	if y := t.Year(); y < 0 || y > 9999 {
		w.ok = false
		return
	}
	if _, off := t.Zone(); off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		w.ok = false
		return
	}
	w.name(name)
	w.b = append(t.AppendFormat(append(w.b, '"'), time.RFC3339Nano), '"')
}

// bytes writes b as base64, as json.Marshal does a []byte (nil is null:
// json.Marshal's).
func (w *jsonWriter) bytes(name string, b []byte) {
	if b == nil {
		w.ok = false
		return
	}
	w.name(name)
	w.b = append(base64.StdEncoding.AppendEncode(append(w.b, '"'), b), '"')
}

func (w *jsonWriter) sealed(name string, v *SealedValue) {
	w.name(name)
	w.b = append(w.b, `{"alg":`...)
	w.quoted(v.Alg)
	w.str("key_id", v.KeyID)
	w.bytes("nonce", v.Nonce)
	w.bytes("ciphertext", v.Ciphertext)
	w.b = append(w.b, '}')
}
