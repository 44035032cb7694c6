package pebblestore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/domain"
)

// The committer is three goroutines, one stage each, in a line: commitLoop
// decides, writeLoop applies, syncLoop waits for the sync and answers. Each
// turn takes every append waiting when commitLoop starts it, decides them in
// arrival order against the state left by the turns before, and builds their
// batch. writeLoop applies the turns to Pebble in the same order, which
// writes them to the log without waiting for its sync. syncLoop waits for
// each turn's sync in that order, and only then answers its appends and
// moves the head, so nothing is acknowledged or readable through the head
// before it is durable.
//
// Why three: with one goroutine the writer sat idle during every fsync, and
// the work of the next turn (looking up the heads of new streams, encoding
// the records) waited behind it. With two (decide, then apply and sync), the
// next turn was decided during a sync but reached the log only once the
// goroutine that waited for the sync had been scheduled again. On two busy
// cores that took longer than the sync itself, and the disk sat idle while
// every append waited (a ledger with no fsync at all delivered 21% more). Now
// a turn is in the log while the one before it syncs, and Pebble's log
// writer syncs it as soon as that sync returns (docs/benchmarks.md: +13-15%
// deliveries per second, -7% CPU per delivery).
//
// A turn is decided on the heads the turns before it left, durable or not.
// That is safe because a failed sync stops the store: syncLoop answers the
// failed turn and every turn behind it with the error, applied or not, so
// nothing after the failure is acknowledged, and writeLoop applies nothing
// once the store has stopped. A turn applied behind a sync that failed is in
// the log after the failed one: after a restart the log may hold either or
// both, in order and with no gap, and neither was acknowledged
// (TestNothingIsAcknowledgedAfterAFailedSync).

// turn is one decided batch on its way to disk.
type turn struct {
	b       *pebble.Batch // nil when nothing is to be written
	reqs    []*appendReq  // every request of the turn, answered once it is written
	written []*appendReq  // those whose events are in b
	first   domain.Position
	last    domain.Position
	created int64
	err     error // every append's, when the store had stopped before the turn (b is nil then)

	// Set by writeLoop: whether b was given to Pebble and was applied (then
	// syncLoop waits for its sync before closing it), why not, and when.
	tried, applied bool
	applyErr       error
	start          time.Time
}

func (s *Store) commitLoop() {
	written := make(chan struct{})
	go func() { defer close(written); s.writeLoop() }()
	defer func() {
		close(s.turns)
		<-written
		close(s.stopped)
	}()
	batch := make([]*appendReq, 0, 256)
	for {
		var first *appendReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			s.drainClosed()
			return
		}
		batch = append(batch[:0], first)
		n := first.eventCount()
	gather:
		for n < s.maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += r.eventCount()
			default:
				break gather
			}
		}
		s.turns <- s.commit(batch)
	}
}

func (s *Store) drainClosed() {
	for {
		select {
		case r := <-s.reqs:
			r.err = domain.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

type streamHead struct {
	rev    uint64
	exists bool
}

// commit decides reqs and builds their batch; writeLoop writes it.
func (s *Store) commit(reqs []*appendReq) *turn {
	t := &turn{reqs: append([]*appendReq(nil), reqs...)}
	if errp := s.failed.Load(); errp != nil {
		t.err = *errp
		return t
	}
	size := 0
	for _, r := range reqs {
		for _, p := range r.parts {
			for i := range p.events {
				size += recordSize(p.stream, &p.events[i]) + 2*len(p.stream) + 64
			}
		}
	}
	b := s.db.NewBatchWithSize(size)
	heads := make(map[string]streamHead, len(reqs))
	pos := s.next
	t.first = pos + 1
	t.created = s.now().UnixNano()
	var rec, key []byte
	var found []streamHead // the heads of a request's parts, checked before any is written
	stored, lookupErr := s.storedHeads(reqs)
	for _, r := range reqs {
		if r.ctx.Err() != nil {
			r.err = r.ctx.Err()
			continue
		}
		found = found[:0]
		for _, p := range r.parts {
			h, ok := heads[p.stream]
			if !ok {
				h, ok = s.heads[p.stream]
			}
			if !ok {
				if h, ok = stored[p.stream]; !ok {
					r.err = lookupErr
					break
				}
			}
			if !p.expected.Check(h.rev, h.exists) {
				r.err = &domain.WrongRevisionError{Stream: p.stream, Expected: p.expected, Actual: h.rev, HasActual: h.exists}
				break
			}
			found = append(found, h)
		}
		if r.err != nil {
			continue // no part written: a multi-stream append is all or nothing
		}
		for j := range r.parts {
			p, h := &r.parts[j], found[j]
			rev := h.rev + 1
			if !h.exists {
				rev = 0
			}
			for i := range p.events {
				pos++
				rec = appendRecord(rec[:0], pos, rev, t.created, p.stream, &p.events[i])
				b.Set(eventKey(pos), rec, nil)
				key = appendStreamKey(key[:0], p.stream, rev)
				var pv [8]byte
				binary.BigEndian.PutUint64(pv[:], uint64(pos))
				b.Set(key, pv[:], nil)
				p.res = domain.AppendResult{Revision: rev, Position: pos}
				rev++
			}
			heads[p.stream] = streamHead{rev: rev - 1, exists: true}
		}
		t.written = append(t.written, r)
	}
	if len(t.written) == 0 {
		b.Close()
		return t
	}
	for stream, h := range heads {
		s.fresh.wrote(stream)
		var rv [8]byte
		binary.BigEndian.PutUint64(rv[:], h.rev)
		key = appendHeadKey(key[:0], stream) // Set copies it
		b.Set(key, rv[:], nil)
	}
	t.b, t.last, s.next = b, pos, pos
	// The next turn is decided on these heads before they are durable: if
	// this turn fails, that one is never acknowledged. The cache is only the
	// committer's; it may be emptied here because the turn before this one
	// is in Pebble by the time the next is decided (commitLoop hands a turn
	// over only once writeLoop has applied the one before, and an applied
	// batch is visible to reads before its sync), so the only heads Pebble
	// does not have yet are the ones put in just below.
	if s.heads == nil || len(s.heads)+len(heads) > s.headCacheMax {
		s.heads = make(map[string]streamHead, len(heads))
	}
	for stream, h := range heads {
		s.heads[stream] = h
	}
	return t
}

// writeLoop applies the turns to Pebble in the order they were decided and
// hands each to syncLoop. It hands a turn over only once syncLoop has taken
// the one before, so at most one turn is applied and waiting behind the sync
// in progress. Once the store has stopped it applies nothing: the turn goes
// to syncLoop to be refused.
func (s *Store) writeLoop() {
	synced := make(chan *turn)
	done := make(chan struct{})
	go func() { defer close(done); s.syncLoop(synced) }()
	defer func() {
		close(synced)
		<-done
	}()
	for t := range s.turns {
		if t.b != nil {
			if errp := s.failed.Load(); errp != nil {
				t.applyErr = *errp // decided before the store stopped
			} else {
				t.start, t.tried = time.Now(), true
				t.applyErr = applyBatch(s.db, t.b)
				t.applied = t.applyErr == nil
			}
		}
		synced <- t
	}
}

// syncLoop waits for each turn's sync, in order, then makes it readable and
// answers its appends. After a failed apply or sync, it answers every later
// turn with the same error, even one whose own sync succeeded.
func (s *Store) syncLoop(turns <-chan *turn) {
	for t := range turns {
		if t.b != nil {
			err := t.applyErr
			if t.applied {
				err = t.b.SyncWait()
				if errp := s.failed.Load(); err == nil && errp != nil {
					err = *errp // a turn before this one failed
				}
				if err == nil {
					if s.opts.OnCommit != nil {
						s.opts.OnCommit(int(t.last-t.first)+1, time.Since(t.start))
					}
					s.tail.add(tailEventsOf(t.written, t.created)) // before the head moves: a reader of the head finds it
					s.head.Store(uint64(t.last))
					s.mark.Advance(uint64(t.last))
					s.notify.Broadcast()
				}
				t.b.Close()
			} else if !t.tried {
				t.b.Close() // never given to Pebble
			}
			// A batch whose apply failed is left to Pebble, which may still
			// hold it in its commit queue.
			if err != nil {
				err = s.fail(err)
				for _, r := range t.written {
					r.err = err
					for j := range r.parts {
						r.parts[j].res = domain.AppendResult{}
					}
				}
			}
		}
		for _, r := range t.reqs {
			if r.err == nil && t.err != nil {
				r.err = t.err // the store had stopped before the turn was decided
			}
			close(r.done)
		}
	}
}

// fail stops the store on its first failed write and returns the
// error the appends get. A failed sync leaves the on-disk state unknown:
// every later append is refused rather than risk acknowledging on top of a
// hole.
func (s *Store) fail(err error) error {
	if errp := s.failed.Load(); errp != nil {
		return *errp
	}
	err = fmt.Errorf("%w: embedded store: commit failed, appends are refused until a restart: %w", domain.ErrUnavailable, err)
	if !s.failed.CompareAndSwap(nil, &err) {
		return *s.failed.Load()
	}
	s.log.Error().Err(err).Msg("commit failed")
	return err
}

// storedHeads reads from Pebble the heads of the streams reqs append to that
// the head cache does not hold: those of new streams (every message and
// delivery starts one) and of streams not appended to lately. Only the
// committer calls it, and the committer is the only writer, so the answers
// are current (the heads of the turn decided and not yet written are in the
// cache).
//
// The heads are read together, in key order, through one iterator: a Pebble
// Get per stream builds an iterator over every memtable and table each time,
// and cost four times the CPU per head (BenchmarkStoredHeads). Most new
// streams are not read at all: fresh knows they have no head. A stream
// missing from the answer could not be read, and err says why.
func (s *Store) storedHeads(reqs []*appendReq) (map[string]streamHead, error) {
	var streams []string
	for _, r := range reqs {
		for i := range r.parts {
			if _, ok := s.heads[r.parts[i].stream]; !ok {
				streams = append(streams, r.parts[i].stream)
			}
		}
	}
	if len(streams) == 0 {
		return nil, nil
	}
	slices.Sort(streams)
	streams = slices.Compact(streams)
	heads := make(map[string]streamHead, len(streams))
	var it *pebble.Iterator
	iter := func() (*pebble.Iterator, error) {
		if it != nil {
			return it, nil
		}
		var err error
		it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixHead}, UpperBound: []byte{prefixHead + 1}})
		return it, translate(err, 0)
	}
	defer func() {
		if it != nil {
			it.Close()
		}
	}()
	var k []byte
	for _, stream := range streams {
		if isNew, err := s.fresh.isNew(iter, stream); err != nil {
			return heads, err
		} else if isNew {
			heads[stream] = streamHead{}
			continue
		}
		lookup, err := iter()
		if err != nil {
			return heads, err
		}
		k = appendHeadKey(k[:0], stream)
		// The default comparer's prefix of a key is the whole key: the
		// tables' bloom filters answer most misses.
		if !lookup.SeekPrefixGE(k) || !bytes.Equal(lookup.Key(), k) {
			if err := lookup.Error(); err != nil {
				return heads, translate(err, 0)
			}
			heads[stream] = streamHead{}
			continue
		}
		v, err := lookup.ValueAndErr()
		if err != nil {
			return heads, translate(err, 0)
		}
		if len(v) != 8 {
			return heads, &domain.CorruptError{Detail: "stream head of " + stream + " is malformed"}
		}
		heads[stream] = streamHead{rev: binary.BigEndian.Uint64(v), exists: true}
	}
	return heads, nil
}
