package viewstore

// A commit's batch, written in key order.

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/projections"
)

// encode adds to b everything a commit writes (see Commit), in ascending key
// order, kind by kind as the keys sort: _meta, a, d, f, k, m, p, q, s, t, w,
// xa, xm, xs, z.
//
// The order is for speed. A bulk load's batch, in order, is written as
// tables directly (ingest.go); out of order, Pebble would sort it first,
// which took 7% of a rebuild's CPU. Most of the order is free: the index
// entries of new messages and deliveries are made in position order, so
// only the records' ids (and the few p and q entries) need sorting, and
// sorting ids is cheaper than sorting encoded keys. A memtable's inserts,
// for a serving store's small batches, are also cheaper in key order.
func (s *Store) encode(b *pebble.Batch, v *projections.Views, changed projections.Changed, state map[string][]byte) (err error) {
	put := func(k []byte, val any) {
		if err != nil {
			return
		}
		var raw []byte
		if raw, err = json.Marshal(val); err == nil {
			err = b.Set(k, raw, nil)
		}
	}
	// One key and one value buffer serve every record: Pebble copies both
	// into the batch, and a commit of tens of thousands of records would
	// otherwise allocate each.
	var kb, vb []byte
	set := func(k, val []byte) {
		if err == nil {
			err = b.Set(k, val, nil)
		}
	}
	del := func(k []byte) {
		if err == nil {
			err = b.Delete(k, nil)
		}
	}
	put(metaKey, meta{Format: Format, Checkpoint: v.Checkpoint, Events: v.Events})
	for _, id := range sortedKeys(changed.Applications) {
		put(key('a', id), v.Applications[id])
	}
	// A delivery's record is written here, its p, q and w entries later in
	// their kinds' places.
	var fifo, due, attempting sideKeys
	for _, id := range sortedKeys(s.dels) {
		if err != nil {
			break
		}
		c := s.dels[id]
		now := openStateOf(c.d)
		// An attempt's start changes the entry's value, not its key (the
		// same due time): the set below replaces it.
		if c.base.open && c.base != now && !(now.open && now.due == c.base.due) {
			due.del(appendOpenKey(due.next(), c.d.SubscriptionID, c.base.due, id))
		}
		if now.open && c.base != now {
			due.set(appendOpenKey(due.next(), c.d.SubscriptionID, now.due, id), int(now.flag()))
		}
		if c.base.attempting != now.attempting {
			if k := appendKey(attempting.next(), 'w', id); now.attempting {
				attempting.set(k, noValue)
			} else {
				attempting.del(k)
			}
		}
		if c.base.open != now.open {
			if k := appendOrderKey(fifo.next(), c.d.SubscriptionID, c.d.MessagePosition, id); now.open {
				fifo.set(k, noValue)
			} else {
				fifo.del(k)
			}
		}
		kb, vb = appendKey(kb[:0], 'd', id), appendDelivery(vb[:0], c.d)
		set(kb, vb)
	}
	for _, k := range sortedKeys(state) {
		if val := state[k]; val == nil {
			del(key('f', k))
		} else {
			set(key('f', k), val)
		}
	}
	for _, id := range sortedKeys(changed.Keys) {
		put(key('k', id), v.Keys[id])
	}
	for _, id := range sortedKeys(s.msgs) {
		kb, vb = appendKey(kb[:0], 'm', id), appendMessage(vb[:0], s.msgs[id])
		set(kb, vb)
	}
	if err == nil {
		err = fifo.writeSorted(b)
	}
	if err == nil {
		err = due.writeSorted(b)
	}
	for _, id := range sortedKeys(changed.Subscriptions) {
		put(key('s', id), v.Subscriptions[id])
	}
	for _, name := range sortedKeys(changed.EventTypes) {
		put(key('t', name), v.EventTypes[name])
	}
	if err == nil {
		err = attempting.write(b) // made in id order
	}
	inGroups(s.newDels, func(d *projections.DeliveryView) string { return d.ApplicationID }, func(d *projections.DeliveryView) {
		set(appendIndexKey(kb[:0], "xa", d.ApplicationID, d.ScheduledPosition), append(vb[:0], d.ID...))
	})
	inGroups(s.newMsgs, func(m *projections.MessageView) string { return m.ApplicationID }, func(m *projections.MessageView) {
		set(appendIndexKey(kb[:0], "xm", m.ApplicationID, m.Position), append(vb[:0], m.ID...))
	})
	inGroups(s.newDels, func(d *projections.DeliveryView) string { return d.SubscriptionID }, func(d *projections.DeliveryView) {
		set(appendIndexKey(kb[:0], "xs", d.SubscriptionID, d.ScheduledPosition), append(vb[:0], d.ID...))
	})
	for _, k := range sortedKeys(s.stats) {
		put([]byte(k), s.stats[k])
	}
	return err
}

// noValue marks a set of an empty value in sideKeys (a value is one byte).
const noValue = -1

// sideKeys collects index entries that are made out of their kind's order,
// to be written once the kinds before them are: their keys in one buffer.
type sideKeys struct {
	buf  []byte
	ents []sideKey
	from int // where the key being made starts in buf
}

type sideKey struct {
	start, end int
	val        int // the value's one byte, noValue for none, or deleteKey
}

// deleteKey marks a deletion in sideKeys.
const deleteKey = -2

// next returns the buffer to append the next key to.
func (k *sideKeys) next() []byte {
	k.from = len(k.buf)
	return k.buf
}

func (k *sideKeys) set(key []byte, val int) {
	k.buf = key
	k.ents = append(k.ents, sideKey{start: k.from, end: len(key), val: val})
}

func (k *sideKeys) del(key []byte) { k.set(key, deleteKey) }

func (k *sideKeys) writeSorted(b *pebble.Batch) error {
	slices.SortFunc(k.ents, func(x, y sideKey) int { return bytes.Compare(k.buf[x.start:x.end], k.buf[y.start:y.end]) })
	return k.write(b)
}

func (k *sideKeys) write(b *pebble.Batch) error {
	for _, e := range k.ents {
		var err error
		switch key := k.buf[e.start:e.end]; e.val {
		case deleteKey:
			err = b.Delete(key, nil)
		case noValue:
			err = b.Set(key, nil, nil)
		default:
			err = b.Set(key, []byte{byte(e.val)}, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// inGroups calls fn for each item, grouped by group(item), the groups in
// ascending order, each group's items in their order in items.
func inGroups[T any](items []T, group func(T) string, fn func(T)) {
	if len(items) == 0 {
		return
	}
	// A commit's new records usually belong to one application, and often
	// to one subscription.
	first, one := group(items[0]), true
	for _, it := range items[1:] {
		if group(it) != first {
			one = false
			break
		}
	}
	if one {
		for _, it := range items {
			fn(it)
		}
		return
	}
	byGroup := map[string][]int{}
	for i, it := range items {
		g := group(it)
		byGroup[g] = append(byGroup[g], i)
	}
	for _, g := range sortedKeys(byGroup) {
		for _, i := range byGroup[g] {
			fn(items[i])
		}
	}
}
