package viewstore

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

var _ projections.Records = (*Store)(nil)

// Message returns a message record: the uncommitted change, else the disk's
// (nil if unknown, or unreadable: logged).
func (s *Store) Message(id string) *projections.MessageView {
	if m, ok := s.msgs[id]; ok {
		return m
	}
	if m, ok := s.cleanMsgs[id]; ok {
		return m
	}
	return s.diskMessage(id)
}

func (s *Store) diskMessage(id string) *projections.MessageView {
	b, closer, err := s.get(key('m', id))
	if err != nil {
		s.readFailed(id, err)
		return nil
	}
	defer closer.Close()
	m, err := decodeMessage(b)
	if err != nil {
		s.readFailed(id, err)
		return nil
	}
	return m
}

// getJSON reads and decodes one JSON value (nil if absent or unreadable:
// logged).
func getJSON[T any](s *Store, k []byte, what string) *T {
	b, closer, err := s.db.Get(k)
	if err != nil {
		s.readFailed(what, err)
		return nil
	}
	defer closer.Close()
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		s.readFailed(what, err)
		return nil
	}
	return v
}

// Delivery returns a delivery record: the uncommitted change, else the
// disk's.
func (s *Store) Delivery(id string) *projections.DeliveryView {
	if c, ok := s.dels[id]; ok {
		return c.d
	}
	if c, ok := s.cleanDels[id]; ok {
		return c.d
	}
	return s.diskDelivery(id)
}

func (s *Store) diskDelivery(id string) *projections.DeliveryView {
	b, closer, err := s.get(key('d', id))
	if err != nil {
		s.readFailed(id, err)
		return nil
	}
	defer closer.Close()
	d, err := decodeDelivery(b)
	if err != nil {
		s.readFailed(id, err)
		return nil
	}
	return d
}

func (s *Store) readFailed(id string, err error) {
	if !errors.Is(err, pebble.ErrNotFound) {
		s.log.Error().Err(err).Str("id", id).Msg("view store read failed")
	}
}

// AddMessage records a new message.
func (s *Store) AddMessage(m *projections.MessageView) {
	s.msgs[m.ID] = m
	s.newMsgs = append(s.newMsgs, m)
}

// PutMessage records a changed message.
func (s *Store) PutMessage(m *projections.MessageView) { s.msgs[m.ID] = m }

// AddDelivery records a new delivery.
func (s *Store) AddDelivery(d *projections.DeliveryView) {
	s.dels[d.ID] = &changedDelivery{d: d}
	s.newDels = append(s.newDels, d)
}

// PutDelivery records a changed delivery, remembering its open-index entry
// on disk the first time it changes in a batch.
func (s *Store) PutDelivery(d *projections.DeliveryView) {
	if c, ok := s.dels[d.ID]; ok {
		c.d = d
		return
	}
	c := &changedDelivery{d: d}
	if cl, ok := s.cleanDels[d.ID]; ok {
		c.base = cl.st
	} else if b, closer, err := s.get(key('d', d.ID)); err == nil {
		c.base, err = decodeDeliveryHeader(b)
		closer.Close()
		if err != nil {
			s.readFailed(d.ID, err)
		}
	} else {
		s.readFailed(d.ID, err)
	}
	s.dels[d.ID] = c
}

// WalkMessages visits every message in id order.
func (s *Store) WalkMessages(fn func(*projections.MessageView) error) error {
	return walkMerged(s, 'm', sortedKeys(s.msgs), func(id string) *projections.MessageView { return s.msgs[id] },
		decodeMessage, fn)
}

// WalkDeliveries visits every delivery in id order.
func (s *Store) WalkDeliveries(fn func(*projections.DeliveryView) error) error {
	return walkMerged(s, 'd', sortedKeys(s.dels), func(id string) *projections.DeliveryView { return s.dels[id].d }, decodeDelivery, fn)
}

// walkMerged merges the disk's records of a kind with the uncommitted ones
// (which win), both in id order.
func walkMerged[T any](s *Store, kind byte, pending []string, pendingRec func(string) T, decode func([]byte) (T, error), fn func(T) error) error {
	it, err := s.newIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		id := string(it.Key()[1:])
		for i < len(pending) && pending[i] < id {
			if err := fn(pendingRec(pending[i])); err != nil {
				return err
			}
			i++
		}
		if i < len(pending) && pending[i] == id {
			if err := fn(pendingRec(pending[i])); err != nil {
				return err
			}
			i++
			continue
		}
		rec, err := decode(it.Value())
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	for ; i < len(pending); i++ {
		if err := fn(pendingRec(pending[i])); err != nil {
			return err
		}
	}
	return nil
}

// MessagesOfApp visits an application's messages newest first.
func (s *Store) MessagesOfApp(app string, before domain.Position, fn func(*projections.MessageView) bool) {
	for i := len(s.newMsgs) - 1; i >= 0; i-- {
		m := s.newMsgs[i]
		if m.ApplicationID != app || (before > 0 && m.Position >= before) {
			continue
		}
		if !fn(m) {
			return
		}
	}
	s.scanIndex("xm", app, before, func(id string) bool {
		if m := s.Message(id); m != nil {
			return fn(m)
		}
		return true
	})
}

// DeliveriesOfApp visits an application's deliveries newest first.
func (s *Store) DeliveriesOfApp(app string, before domain.Position, fn func(*projections.DeliveryView) bool) {
	s.deliveriesBy("xa", app, func(d *projections.DeliveryView) bool { return d.ApplicationID == app }, before, fn)
}

// DeliveriesOfSubscription visits a subscription's deliveries newest first.
func (s *Store) DeliveriesOfSubscription(sub string, before domain.Position, fn func(*projections.DeliveryView) bool) {
	s.deliveriesBy("xs", sub, func(d *projections.DeliveryView) bool { return d.SubscriptionID == sub }, before, fn)
}

func (s *Store) deliveriesBy(prefix, id string, in func(*projections.DeliveryView) bool, before domain.Position, fn func(*projections.DeliveryView) bool) {
	// Records added since the last commit come after everything on disk.
	for i := len(s.newDels) - 1; i >= 0; i-- {
		d := s.newDels[i]
		if !in(d) || (before > 0 && d.ScheduledPosition >= before) {
			continue
		}
		if !fn(s.dels[d.ID].d) {
			return
		}
	}
	s.scanIndex(prefix, id, before, func(did string) bool {
		if d := s.Delivery(did); d != nil {
			return fn(d)
		}
		return true
	})
}

// scanIndex visits an index's ids newest first, before position before.
func (s *Store) scanIndex(prefix, id string, before domain.Position, fn func(id string) bool) {
	lo := indexKey(prefix, id, 0)
	hi := indexKey(prefix, id, before)
	if before == 0 {
		hi = indexKey(prefix, id, ^domain.Position(0))
		hi = append(hi, 0) // past the largest position
	}
	it, err := s.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		s.log.Error().Err(err).Msg("view store index scan failed")
		return
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		if !fn(string(it.Value())) {
			return
		}
	}
	if err := it.Error(); err != nil {
		s.log.Error().Err(err).Msg("view store index scan failed")
	}
}

// OpenDeliveries visits the open deliveries: the uncommitted ones, then the
// open index on disk (what it costs depends on the open deliveries only).
func (s *Store) OpenDeliveries(fn func(*projections.DeliveryView) bool) {
	for _, c := range s.dels {
		if projections.IsOpen(c.d.Status) && !fn(c.d) {
			return
		}
	}
	s.eachOpenKey(nil, func(_ string, id string) bool {
		if _, changed := s.dels[id]; changed {
			return true
		}
		if d := s.diskDelivery(id); d != nil {
			return fn(d)
		}
		return true
	})
}

// Stat returns a subscription's stats bucket for a slot (nil: none).
func (s *Store) Stat(sub string, slot int64) *projections.StatBucket {
	k := statKey(sub, slot)
	if b, ok := s.stats[k]; ok {
		return b
	}
	if b, ok := s.cleanStats[k]; ok {
		return b
	}
	return getJSON[projections.StatBucket](s, []byte(k), sub)
}

// PutStat records a new or changed stats bucket.
func (s *Store) PutStat(b *projections.StatBucket) { s.stats[statKey(b.SubscriptionID, b.Slot)] = b }

// StatsOf visits a subscription's buckets in [from, to] in slot order.
func (s *Store) StatsOf(sub string, from, to int64, fn func(*projections.StatBucket) bool) {
	byKey := map[string]*projections.StatBucket{}
	lo, hi := statKey(sub, from), statKey(sub, to)+"\x00"
	it, err := s.newIter(&pebble.IterOptions{LowerBound: []byte(lo), UpperBound: []byte(hi)})
	if err != nil {
		s.log.Error().Err(err).Msg("view store stats scan failed")
		return
	}
	for ok := it.First(); ok; ok = it.Next() {
		b := &projections.StatBucket{}
		if err := json.Unmarshal(it.Value(), b); err == nil {
			byKey[string(it.Key())] = b
		}
	}
	it.Close()
	for k, b := range s.stats {
		if k >= lo && k < hi {
			byKey[k] = b
		}
	}
	for _, k := range sortedKeys(byKey) {
		if !fn(byKey[k]) {
			return
		}
	}
}

// WalkStats visits every bucket by subscription, then slot.
func (s *Store) WalkStats(fn func(*projections.StatBucket) error) error {
	pending := sortedKeys(s.stats)
	for i := range pending {
		pending[i] = pending[i][1:] // walkMerged compares ids without the kind byte
	}
	return walkMerged(s, 'z', pending, func(id string) *projections.StatBucket { return s.stats["z"+id] },
		func(b []byte) (*projections.StatBucket, error) {
			x := &projections.StatBucket{}
			return x, json.Unmarshal(b, x)
		}, fn)
}

// OpenDue visits the committed open deliveries of sub in due order, from
// the entry (due, id) on (inclusive), with whether an attempt is in flight.
// Changes not yet committed are not seen: commit first.
func (s *Store) OpenDue(sub string, due time.Time, id string, fn func(due time.Time, id string, attempting bool) bool) {
	lo := openKey(sub, due.UnixNano(), id)
	if due.IsZero() && id == "" {
		lo = append(append([]byte{'q'}, sub...), 0)
	}
	hi := append(append([]byte{'q'}, sub...), 1)
	it, err := s.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		s.log.Error().Err(err).Msg("view store open-index scan failed")
		return
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		_, d, did, ok := decodeOpenKey(it.Key())
		if !ok {
			continue
		}
		if !fn(d, did, len(it.Value()) > 0 && it.Value()[0] == 2) {
			return
		}
	}
}

// OpenInOrder visits the committed open deliveries of sub in publish order
// (message position, then id), from the entry (pos, id) on (inclusive).
// Changes not yet committed are not seen: commit first.
func (s *Store) OpenInOrder(sub string, pos domain.Position, id string, fn func(pos domain.Position, id string) bool) {
	it, err := s.newIter(&pebble.IterOptions{
		LowerBound: orderKey(sub, pos, id),
		UpperBound: append(append([]byte{'p'}, sub...), 1),
	})
	if err != nil {
		s.log.Error().Err(err).Msg("view store order-index scan failed")
		return
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		p, did, ok := decodeOrderKey(it.Key())
		if !ok {
			continue
		}
		if !fn(p, did) {
			return
		}
	}
	if err := it.Error(); err != nil {
		s.log.Error().Err(err).Msg("view store order-index scan failed")
	}
}

// Attempting visits the committed deliveries with an attempt started and no
// outcome (what a crash leaves to close): its cost is the attempts in flight
// at the last commit, not the open deliveries.
func (s *Store) Attempting(fn func(id string) bool) {
	it, err := s.newIter(&pebble.IterOptions{LowerBound: []byte{'w'}, UpperBound: []byte{'w' + 1}})
	if err != nil {
		s.log.Error().Err(err).Msg("view store attempting-index scan failed")
		return
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(string(it.Key()[1:])) {
			return
		}
	}
	if err := it.Error(); err != nil {
		s.log.Error().Err(err).Msg("view store attempting-index scan failed")
	}
}

// eachOpenKey visits the committed open index, of one subscription (sub
// non-nil) or all, by subscription then due time.
func (s *Store) eachOpenKey(sub *string, fn func(sub, id string) bool) {
	lo, hi := []byte{'q'}, []byte{'q' + 1}
	if sub != nil {
		lo = append(append([]byte{'q'}, *sub...), 0)
		hi = append(append([]byte{'q'}, *sub...), 1)
	}
	it, err := s.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		s.log.Error().Err(err).Msg("view store open-index scan failed")
		return
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		sb, _, id, ok := decodeOpenKey(it.Key())
		if !ok {
			continue
		}
		if !fn(sb, id) {
			return
		}
	}
}
