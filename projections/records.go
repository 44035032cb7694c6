package projections

import (
	"sort"

	"github.com/hookledger/hookledger/domain"
)

// Records holds the views that grow with the history: messages and
// deliveries. The fold reads and writes them through this port, so the same
// rules fold into memory (MemRecords: tests, point-in-time reads) or into the
// on-disk view store (adapters/viewstore).
//
// A record returned by Message or Delivery belongs to the caller until it
// puts it back: the fold changes a record and puts it; readers copy what they
// need. Walks and listings stop when fn returns false (or an error).
type Records interface {
	Message(id string) *MessageView
	Delivery(id string) *DeliveryView
	// AddMessage and AddDelivery record a new record and its index entries
	// (by application, subscription: fields that never change afterwards).
	// The fold adds records in position order.
	AddMessage(m *MessageView)
	AddDelivery(d *DeliveryView)
	// PutMessage and PutDelivery record a changed record.
	PutMessage(m *MessageView)
	PutDelivery(d *DeliveryView)

	// WalkMessages and WalkDeliveries visit every record in id order.
	WalkMessages(fn func(*MessageView) error) error
	WalkDeliveries(fn func(*DeliveryView) error) error

	// MessagesOfApp visits an application's messages newest first, from
	// the one published before position before (0: from the newest).
	MessagesOfApp(app string, before domain.Position, fn func(*MessageView) bool)
	// DeliveriesOfApp and DeliveriesOfSubscription visit deliveries newest
	// scheduled first, from the one scheduled before position before.
	DeliveriesOfApp(app string, before domain.Position, fn func(*DeliveryView) bool)
	DeliveriesOfSubscription(sub string, before domain.Position, fn func(*DeliveryView) bool)
	// Stat returns a subscription's stats bucket for a slot (nil: none yet);
	// PutStat records a new or changed one; StatsOf visits a
	// subscription's buckets from slot from to slot to, in slot order;
	// WalkStats visits every bucket by subscription, then slot.
	Stat(sub string, slot int64) *StatBucket
	PutStat(b *StatBucket)
	StatsOf(sub string, from, to int64, fn func(*StatBucket) bool)
	WalkStats(fn func(*StatBucket) error) error

	// OpenDeliveries visits the deliveries that may still be attempted
	// (pending, failed, attempting), in no particular order, at a cost in
	// the open deliveries rather than the history where the store can.
	OpenDeliveries(fn func(*DeliveryView) bool)
}

// MemRecords keeps the records in maps, with their indexes as slices in
// position order. Its size grows with the history folded: use it for tests,
// point-in-time folds and short ledgers.
type MemRecords struct {
	messages        map[string]*MessageView
	deliveries      map[string]*DeliveryView
	messagesByApp   map[string][]*MessageView
	deliveriesByApp map[string][]*DeliveryView
	deliveriesBySub map[string][]*DeliveryView
	stats           map[statKey]*StatBucket
}

type statKey struct {
	sub  string
	slot int64
}

// NewMemRecords returns empty in-memory records.
func NewMemRecords() *MemRecords {
	return &MemRecords{
		messages: map[string]*MessageView{}, deliveries: map[string]*DeliveryView{},
		messagesByApp: map[string][]*MessageView{}, deliveriesByApp: map[string][]*DeliveryView{}, deliveriesBySub: map[string][]*DeliveryView{},
		stats: map[statKey]*StatBucket{},
	}
}

// Message returns the message's record (nil if unknown).
func (m *MemRecords) Message(id string) *MessageView { return m.messages[id] }

// Delivery returns the delivery's record (nil if unknown).
func (m *MemRecords) Delivery(id string) *DeliveryView { return m.deliveries[id] }

// AddMessage stores a new message record and indexes it.
func (m *MemRecords) AddMessage(v *MessageView) {
	if _, ok := m.messages[v.ID]; ok {
		m.PutMessage(v)
		return
	}
	m.messages[v.ID] = v
	m.messagesByApp[v.ApplicationID] = insertByPosition(m.messagesByApp[v.ApplicationID], v, func(x *MessageView) domain.Position { return x.Position })
}

// PutMessage stores a changed message record.
func (m *MemRecords) PutMessage(v *MessageView) {
	if old, ok := m.messages[v.ID]; ok {
		*old = *v
		return
	}
	m.AddMessage(v)
}

// PutDelivery stores a changed delivery record.
func (m *MemRecords) PutDelivery(d *DeliveryView) {
	if old, ok := m.deliveries[d.ID]; ok {
		*old = *d
		return
	}
	m.AddDelivery(d)
}

// AddDelivery stores a new delivery record and indexes it.
func (m *MemRecords) AddDelivery(d *DeliveryView) {
	if _, ok := m.deliveries[d.ID]; ok {
		m.PutDelivery(d)
		return
	}
	m.deliveries[d.ID] = d
	pos := func(x *DeliveryView) domain.Position { return x.ScheduledPosition }
	m.deliveriesByApp[d.ApplicationID] = insertByPosition(m.deliveriesByApp[d.ApplicationID], d, pos)
	m.deliveriesBySub[d.SubscriptionID] = insertByPosition(m.deliveriesBySub[d.SubscriptionID], d, pos)
}

// insertByPosition appends (the usual case) or inserts in position order
// (records loaded from a snapshot arrive in id order).
func insertByPosition[T any](s []T, x T, pos func(T) domain.Position) []T {
	i := len(s)
	for i > 0 && pos(s[i-1]) > pos(x) {
		i--
	}
	if i == len(s) {
		return append(s, x)
	}
	s = append(s, x)
	copy(s[i+1:], s[i:])
	s[i] = x
	return s
}

// WalkMessages visits the messages in id order.
func (m *MemRecords) WalkMessages(fn func(*MessageView) error) error { return walk(m.messages, fn) }

// WalkDeliveries visits the deliveries in id order.
func (m *MemRecords) WalkDeliveries(fn func(*DeliveryView) error) error {
	return walk(m.deliveries, fn)
}

func walk[V any](m map[string]V, fn func(V) error) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(m[k]); err != nil {
			return err
		}
	}
	return nil
}

// MessagesOfApp visits an application's messages newest first.
func (m *MemRecords) MessagesOfApp(app string, before domain.Position, fn func(*MessageView) bool) {
	newestFirst(m.messagesByApp[app], before, func(x *MessageView) domain.Position { return x.Position }, fn)
}

// DeliveriesOfApp visits an application's deliveries newest first.
func (m *MemRecords) DeliveriesOfApp(app string, before domain.Position, fn func(*DeliveryView) bool) {
	newestFirst(m.deliveriesByApp[app], before, func(x *DeliveryView) domain.Position { return x.ScheduledPosition }, fn)
}

// DeliveriesOfSubscription visits a subscription's deliveries newest first.
func (m *MemRecords) DeliveriesOfSubscription(sub string, before domain.Position, fn func(*DeliveryView) bool) {
	newestFirst(m.deliveriesBySub[sub], before, func(x *DeliveryView) domain.Position { return x.ScheduledPosition }, fn)
}

func newestFirst[T any](s []T, before domain.Position, pos func(T) domain.Position, fn func(T) bool) {
	i := len(s)
	if before > 0 {
		i = sort.Search(len(s), func(i int) bool { return pos(s[i]) >= before })
	}
	for i--; i >= 0; i-- {
		if !fn(s[i]) {
			return
		}
	}
}

// Stat returns a stats bucket (nil if none).
func (m *MemRecords) Stat(sub string, slot int64) *StatBucket { return m.stats[statKey{sub, slot}] }

// PutStat stores a stats bucket.
func (m *MemRecords) PutStat(b *StatBucket) { m.stats[statKey{b.SubscriptionID, b.Slot}] = b }

// StatsOf visits a subscription's buckets in [from, to], in slot order.
func (m *MemRecords) StatsOf(sub string, from, to int64, fn func(*StatBucket) bool) {
	for _, b := range m.sortedStats() {
		if b.SubscriptionID == sub && b.Slot >= from && b.Slot <= to && !fn(b) {
			return
		}
	}
}

// WalkStats visits every bucket by subscription, then slot.
func (m *MemRecords) WalkStats(fn func(*StatBucket) error) error {
	for _, b := range m.sortedStats() {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (m *MemRecords) sortedStats() []*StatBucket {
	out := make([]*StatBucket, 0, len(m.stats))
	for _, b := range m.stats {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SubscriptionID != out[j].SubscriptionID {
			return out[i].SubscriptionID < out[j].SubscriptionID
		}
		return out[i].Slot < out[j].Slot
	})
	return out
}

// OpenDeliveries visits the open deliveries (walking them all).
func (m *MemRecords) OpenDeliveries(fn func(*DeliveryView) bool) {
	for _, d := range m.deliveries {
		if IsOpen(d.Status) && !fn(d) {
			return
		}
	}
}

// Len returns how many messages and deliveries are held.
func (m *MemRecords) Len() (messages, deliveries int) { return len(m.messages), len(m.deliveries) }
