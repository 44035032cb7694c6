package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/hookledger/hookledger/domain"
)

// SnapshotFormat versions the snapshot encoding. A snapshot of another format
// is refused.
const SnapshotFormat = 1

// Snapshot encodes the views deterministically: the golden files and the
// rebuild digest compare these bytes.
func (v *Views) Snapshot() ([]byte, error) {
	var buf bytes.Buffer
	if err := v.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteSnapshot streams the views to w record by record (fields in order,
// map keys and records sorted, a final newline), so that a large view is
// never held twice in memory.
func (v *Views) WriteSnapshot(w io.Writer) error {
	sw := &snapWriter{w: w}
	sw.printf(`{"format":%d,"checkpoint":%d,"events":%d`, v.Format, v.Checkpoint, v.Events)
	writeMap(sw, "applications", v.Applications)
	writeMap(sw, "subscriptions", v.Subscriptions)
	sw.printf(`,"messages":{`)
	first := true
	sw.fail(v.records.WalkMessages(func(m *MessageView) error { sw.entry(&first, m.ID, m); return sw.err }))
	sw.printf(`},"deliveries":{`)
	first = true
	sw.fail(v.records.WalkDeliveries(func(d *DeliveryView) error { sw.entry(&first, d.ID, d); return sw.err }))
	sw.printf(`}`)
	writeMap(sw, "keys", v.Keys)
	writeMap(sw, "event_types", v.EventTypes)
	sw.printf(`,"stats":[`)
	first = true
	sw.fail(v.records.WalkStats(func(b *StatBucket) error {
		if !first {
			sw.write([]byte(","))
		}
		first = false
		raw, err := json.Marshal(b)
		sw.fail(err)
		sw.write(raw)
		return sw.err
	}))
	sw.printf("]}\n")
	if sw.err != nil {
		return fmt.Errorf("encode views: %w", sw.err)
	}
	return nil
}

type snapWriter struct {
	w   io.Writer
	err error
}

func (s *snapWriter) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *snapWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

func (s *snapWriter) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *snapWriter) entry(first *bool, k string, val any) {
	kb, err := json.Marshal(k)
	s.fail(err)
	vb, err := json.Marshal(val)
	s.fail(err)
	if !*first {
		s.write([]byte(","))
	}
	*first = false
	s.write(kb)
	s.write([]byte(":"))
	s.write(vb)
}

func writeMap[V any](s *snapWriter, name string, m map[string]V) {
	s.printf(`,%q:`, name)
	if m == nil {
		s.write([]byte("null"))
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.write([]byte("{"))
	first := true
	for _, k := range keys {
		if s.err != nil {
			return
		}
		s.entry(&first, k, m[k])
	}
	s.write([]byte("}"))
}

// snapshotDoc is the decoded form of a snapshot.
type snapshotDoc struct {
	Format        int                            `json:"format"`
	Checkpoint    domain.Position                `json:"checkpoint"`
	Events        uint64                         `json:"events"`
	Applications  map[string]domain.Application  `json:"applications"`
	Subscriptions map[string]*SubscriptionView   `json:"subscriptions"`
	Messages      map[string]*MessageView        `json:"messages"`
	Deliveries    map[string]*DeliveryView       `json:"deliveries"`
	Keys          map[string]*domain.APIKey      `json:"keys"`
	EventTypes    map[string]domain.EventTypeDef `json:"event_types"`
	Stats         []*StatBucket                  `json:"stats"`
}

// LoadSnapshot decodes a snapshot into views held in memory.
func LoadSnapshot(b []byte) (*Views, error) {
	var d snapshotDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode views snapshot: %w", err)
	}
	if d.Format != SnapshotFormat {
		return nil, fmt.Errorf("views snapshot format %d, this build reads %d", d.Format, SnapshotFormat)
	}
	if d.Applications == nil || d.Subscriptions == nil || d.Messages == nil || d.Deliveries == nil || d.Keys == nil {
		return nil, fmt.Errorf("views snapshot is incomplete")
	}
	recs := NewMemRecords()
	for _, m := range d.Messages {
		recs.AddMessage(m)
	}
	for _, x := range d.Deliveries {
		recs.AddDelivery(x)
	}
	for _, b := range d.Stats {
		recs.PutStat(b)
	}
	v := NewOver(recs)
	v.Checkpoint, v.Events = d.Checkpoint, d.Events
	v.Applications, v.Subscriptions, v.Keys = d.Applications, d.Subscriptions, d.Keys
	if d.EventTypes != nil {
		v.EventTypes = d.EventTypes
	}
	v.Restore()
	return v, nil
}

// Restore rebuilds the derived indexes of configuration views set from a
// store (Applications, Subscriptions, Keys, EventTypes), and marks nothing
// changed.
func (v *Views) Restore() {
	for name, et := range v.EventTypes {
		et.Exists = true
		v.EventTypes[name] = et
	}
	v.resetIndexes()
	for id, k := range v.Keys {
		v.keysByHash[k.Hash] = id
	}
	subs := make([]*SubscriptionView, 0, len(v.Subscriptions))
	for _, s := range v.Subscriptions {
		subs = append(subs, s)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].CreatedPosition < subs[j].CreatedPosition })
	for _, s := range subs {
		v.subsByApp[s.ApplicationID] = append(v.subsByApp[s.ApplicationID], s.ID)
	}
	v.changed = newChanged()
}
