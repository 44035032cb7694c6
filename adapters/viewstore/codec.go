package viewstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Delivery records are the view store's hottest values (read at dispatch and
// at each of a delivery's events, written at each commit), so they have a
// compact binary encoding instead of JSON: about a tenth of the CPU. The
// field order is the format; TestCodecCoversEveryField fails when a field is
// added to the view and not here. Times are stored as UTC instants.

const deliveryCodecVersion = 1

var errShortRecord = errors.New("view store: delivery record truncated")

func appendDeliveryFields(b []byte, d *projections.DeliveryView) []byte {
	b = append(b, deliveryCodecVersion)
	for _, s := range []string{d.ID, d.MessageID, d.SubscriptionID, d.ApplicationID, d.EventType, string(d.Status), d.LastErrorClass, d.LastEventID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, u := range []uint64{d.SubscriptionRevision, uint64(d.MessagePosition), d.Version, uint64(d.ScheduledPosition), uint64(d.Position)} {
		b = binary.AppendUvarint(b, u)
	}
	for _, i := range []int{d.Attempts, d.OpenAttempt, d.Failures, d.LastStatusCode} {
		b = binary.AppendVarint(b, int64(i))
	}
	for _, t := range []time.Time{d.NextDueAt, d.ScheduledAt, d.FinishedAt, d.FirstFailureAt, d.UpdatedAt} {
		b = appendTime(b, t)
	}
	return b
}

// appendTime: 0 for the zero time, else 1 + seconds + nanoseconds (the zero
// time is outside what UnixNano can hold).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil || uint64(len(r.b)) < n {
		r.err = errShortRecord
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) time() time.Time {
	if r.err != nil || len(r.b) == 0 {
		r.err = errShortRecord
		return time.Time{}
	}
	flag := r.b[0]
	r.b = r.b[1:]
	if flag == 0 {
		return time.Time{}
	}
	sec := r.varint()
	nsec := r.uvarint()
	return time.Unix(sec, int64(nsec)).UTC()
}

func decodeDeliveryFields(b []byte) (*projections.DeliveryView, error) {
	if len(b) == 0 || b[0] != deliveryCodecVersion {
		return nil, errors.New("view store: unknown delivery record version")
	}
	r := &reader{b: b[1:]}
	d := &projections.DeliveryView{}
	d.ID, d.MessageID, d.SubscriptionID, d.ApplicationID, d.EventType = r.str(), r.str(), r.str(), r.str(), r.str()
	d.Status, d.LastErrorClass, d.LastEventID = domain.DeliveryStatus(r.str()), r.str(), r.str()
	d.SubscriptionRevision, d.MessagePosition, d.Version = r.uvarint(), domain.Position(r.uvarint()), r.uvarint()
	d.ScheduledPosition, d.Position = domain.Position(r.uvarint()), domain.Position(r.uvarint())
	d.Attempts, d.OpenAttempt, d.Failures, d.LastStatusCode = int(r.varint()), int(r.varint()), int(r.varint()), int(r.varint())
	d.NextDueAt, d.ScheduledAt, d.FinishedAt, d.FirstFailureAt, d.UpdatedAt = r.time(), r.time(), r.time(), r.time(), r.time()
	if r.err != nil {
		return nil, r.err
	}
	return d, nil
}

// Message records are written once per message and read by every listing
// page, so they are binary too (TestMessageCodecCoversEveryField).
const messageCodecVersion = 1

func encodeMessage(m *projections.MessageView) []byte {
	return appendMessage(make([]byte, 0, 128+40*len(m.Deliveries)), m)
}

func appendMessage(b []byte, m *projections.MessageView) []byte {
	b = append(b, messageCodecVersion)
	for _, s := range []string{m.ID, m.ApplicationID, m.EventType, m.PayloadHash, m.IdempotencyKey} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = appendTime(b, m.PublishedAt)
	b = binary.AppendUvarint(b, uint64(m.Position))
	b = binary.AppendUvarint(b, uint64(len(m.Deliveries)))
	for _, s := range m.Deliveries {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func decodeMessage(b []byte) (*projections.MessageView, error) {
	if len(b) == 0 || b[0] != messageCodecVersion {
		return nil, errors.New("view store: unknown message record version")
	}
	r := &reader{b: b[1:]}
	m := &projections.MessageView{}
	m.ID, m.ApplicationID, m.EventType, m.PayloadHash, m.IdempotencyKey = r.str(), r.str(), r.str(), r.str(), r.str()
	m.PublishedAt = r.time()
	m.Position = domain.Position(r.uvarint())
	if n := r.uvarint(); r.err == nil && n > 0 {
		if n > uint64(len(r.b)) { // each id takes at least its length byte
			return nil, errShortRecord
		}
		m.Deliveries = make([]string, n)
		for i := range m.Deliveries {
			m.Deliveries[i] = r.str()
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, errors.New("view store: message record has trailing bytes")
	}
	return m, nil
}

// A delivery's value: one byte (0 closed, 1 open, 2 open and attempting), its due time (8 bytes), then its
// fields (codec.go). The header lets a change find the open-index entry to
// replace without decoding the rest.
func encodeDelivery(d *projections.DeliveryView) ([]byte, error) {
	return appendDelivery(make([]byte, 0, 160), d), nil
}

func appendDelivery(out []byte, d *projections.DeliveryView) []byte {
	st := openStateOf(d)
	out = binary.BigEndian.AppendUint64(append(out, st.flag()), uint64(st.due))
	return appendDeliveryFields(out, d)
}

func decodeDeliveryHeader(b []byte) (openState, error) {
	if len(b) < 9 {
		return openState{}, errors.New("delivery record too short")
	}
	return openState{open: b[0] != 0, attempting: b[0] == 2, due: int64(binary.BigEndian.Uint64(b[1:9]))}, nil
}

func decodeDelivery(b []byte) (*projections.DeliveryView, error) {
	if len(b) < 9 {
		return nil, errors.New("delivery record too short")
	}
	return decodeDeliveryFields(b[9:])
}
