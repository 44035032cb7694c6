package pebblestore

// Reads: $all in order, one event at its position, a stream, and the live
// subscription that serves recent events from the tail in memory.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
)

// reading runs fn with the database guaranteed open.
func (s *Store) reading(fn func() error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed.Load() {
		return domain.ErrClosed
	}
	return fn()
}

// ReadAll implements domain.EventStore.
func (s *Store) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	head, err := s.readableHead(ctx, from)
	if err != nil || head == 0 {
		return nil, err
	}
	max = limitTo(max, from, head)
	out := make([]domain.RecordedEvent, 0, max)
	arena := newArena(max)
	return s.readAll(from, head, max, out, func(_ string, b []byte) []byte { return arena.copy(b) })
}

// ReadAllInto implements domain.PageReader: ReadAll into page's memory.
func (s *Store) ReadAllInto(ctx context.Context, from domain.Position, max int, page *domain.Page) ([]domain.RecordedEvent, error) {
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	page.Reset()
	head, err := s.readableHead(ctx, from)
	if err != nil || head == 0 {
		return page.Events, err
	}
	page.Events, err = s.readAll(from, head, limitTo(max, from, head), page.Events, page.CopyData)
	return page.Events, err
}

// readableHead returns the head a read of $all from from stops at, 0 when
// from is past it (nothing to read).
func (s *Store) readableHead(ctx context.Context, from domain.Position) (domain.Position, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	head := domain.Position(s.head.Load())
	if max(from, 1) > head {
		if s.closed.Load() {
			return 0, domain.ErrClosed
		}
		return 0, nil
	}
	return head, nil
}

// limitTo bounds a read of limit events from from by the head.
func limitTo(limit int, from, head domain.Position) int {
	if n := uint64(head-max(from, 1)) + 1; n < uint64(limit) {
		return int(n)
	}
	return limit
}

// readAll appends to out the events from from up to head, at most limit,
// each event's Data and Metadata copied out of Pebble's memory by copyData
// (given the event's type, "" for Metadata), which may leave a body out
// (domain.Page.CopyData); the record is checked whole before.
func (s *Store) readAll(from, head domain.Position, limit int, out []domain.RecordedEvent, copyData func(typ string, b []byte) []byte) ([]domain.RecordedEvent, error) {
	from = max(from, 1)
	err := s.reading(func() error {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: eventKey(from), UpperBound: eventKey(head + 1)})
		if err != nil {
			return translate(err, from)
		}
		defer it.Close()
		types := &interner{m: map[string]string{}}
		for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
			pos := domain.Position(binary.BigEndian.Uint64(it.Key()[1:]))
			v, err := it.ValueAndErr()
			if err != nil {
				return translate(err, pos)
			}
			ev, err := decodeRecord(v, pos, types) // Data and Metadata alias v until copied
			if err != nil {
				return err
			}
			if ev.Metadata != nil {
				ev.Metadata = copyData("", ev.Metadata)
			}
			if ev.Data != nil {
				ev.Data = copyData(ev.Type, ev.Data)
			}
			out = append(out, ev)
		}
		return translate(it.Error(), from)
	})
	return out, s.noteCorrupt(err)
}

// ReadAt implements domain.PositionReader: one point read of the event's
// key, nothing past the head.
func (s *Store) ReadAt(ctx context.Context, pos domain.Position) (domain.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return domain.RecordedEvent{}, err
	}
	if pos == 0 || uint64(pos) > s.head.Load() {
		if s.closed.Load() {
			return domain.RecordedEvent{}, domain.ErrClosed
		}
		return domain.RecordedEvent{}, fmt.Errorf("%w: no event at position %d", domain.ErrNotFound, pos)
	}
	var ev domain.RecordedEvent
	err := s.reading(func() error {
		v, closer, err := s.db.Get(eventKey(pos))
		if errors.Is(err, pebble.ErrNotFound) {
			return &domain.CorruptError{Position: pos, Detail: "no record at a position below the head"}
		}
		if err != nil {
			return translate(err, pos)
		}
		defer closer.Close()
		ev, err = decodeRecord(append([]byte(nil), v...), pos, nil)
		return err
	})
	return ev, s.noteCorrupt(err)
}

// ReadStream implements domain.EventStore.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, dir domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if err := domain.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	head := domain.Position(s.head.Load())
	var out []domain.RecordedEvent
	err := s.reading(func() error {
		lower, upper := streamBounds(stream)
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return translate(err, 0)
		}
		defer it.Close()
		var positions []domain.Position
		collect := func(ok bool, step func() bool) error {
			for ; ok && len(positions) < max; ok = step() {
				v, err := it.ValueAndErr()
				if err != nil {
					return translate(err, 0)
				}
				if len(v) != 8 {
					return &domain.CorruptError{Detail: "stream index entry of " + stream + " is malformed"}
				}
				if p := domain.Position(binary.BigEndian.Uint64(v)); p <= head {
					positions = append(positions, p)
				}
			}
			return it.Error()
		}
		if dir == domain.Forward {
			if err := collect(it.SeekGE(appendStreamKey(nil, stream, from)), it.Next); err != nil {
				return err
			}
		} else {
			var ok bool
			if from == domain.RevisionEnd {
				ok = it.Last()
			} else {
				ok = it.SeekLT(append(appendStreamKey(nil, stream, from), 0))
			}
			if err := collect(ok, it.Prev); err != nil {
				return err
			}
		}
		if len(positions) == 0 {
			// Empty result: a missing stream is an error, a read past the end is not.
			if !it.First() {
				if err := it.Error(); err != nil {
					return translate(err, 0)
				}
				return domain.ErrStreamNotFound
			}
			if v := it.Value(); len(v) == 8 && domain.Position(binary.BigEndian.Uint64(v)) > head {
				return domain.ErrStreamNotFound
			}
			return nil
		}
		types := &interner{m: map[string]string{}}
		out = make([]domain.RecordedEvent, 0, len(positions))
		for _, p := range positions {
			v, closer, err := s.db.Get(eventKey(p))
			if err != nil {
				if errors.Is(err, pebble.ErrNotFound) {
					return &domain.CorruptError{Position: p, Detail: "indexed event is missing"}
				}
				return translate(err, p)
			}
			ev, err := decodeRecord(append([]byte(nil), v...), p, types)
			closer.Close()
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, s.noteCorrupt(err)
}

// SubscribeAll implements domain.EventStore.
func (s *Store) SubscribeAll(ctx context.Context, after domain.Position, handle func(domain.RecordedEvent) error) error {
	if s.closed.Load() {
		return domain.ErrClosed
	}
	// One page for the subscription, refilled from the tail: a page per
	// read was 2.5% of the bytes a delivery allocates (the fold and the
	// sealer each read every event).
	var page []domain.RecordedEvent
	read := func(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
		evs, err := s.readLive(ctx, page, from, max)
		if len(evs) > 0 {
			page = evs // nothing past its length: tail.read cleared it, or it is new
		}
		return evs, err
	}
	return storekit.CatchUp(ctx, after, read, &s.notify, handle)
}

// readLive is ReadAll for subscribers: the events still in the tail come
// from memory, as committed by this process, in page when it has room.
// ReadAll itself always reads the tables, so that a verify or an export
// checks what is on disk.
func (s *Store) readLive(ctx context.Context, page []domain.RecordedEvent, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if head := domain.Position(s.head.Load()); from >= 1 && from <= head && max > 0 {
		if evs, ok := s.tail.read(page, from, min(max, int(head-from)+1)); ok {
			if s.closed.Load() {
				return nil, domain.ErrClosed
			}
			return evs, nil
		}
	}
	return s.ReadAll(ctx, from, max)
}

// Head implements domain.EventStore.
func (s *Store) Head(ctx context.Context) (domain.Position, error) {
	if s.closed.Load() {
		return 0, domain.ErrClosed
	}
	return domain.Position(s.head.Load()), nil
}
