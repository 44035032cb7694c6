// Package memstore is an in-memory EventStore for unit tests. It passes the
// same conformance suite as the durable stores; it is not durable.
package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
)

// Store keeps every event in memory. Positions are 1, 2, 3, ...
type Store struct {
	mu      sync.RWMutex
	events  []domain.RecordedEvent // events[i].Position == i+1
	streams map[string][]int       // stream -> indexes into events
	closed  bool
	notify  storekit.Notifier
	now     func() time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{streams: map[string][]int{}, now: time.Now}
}

var (
	_ domain.EventStore    = (*Store)(nil)
	_ domain.MultiAppender = (*Store)(nil)
)

// Append implements domain.EventStore.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if err := domain.ValidateAppend(stream, events); err != nil {
		return domain.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return domain.AppendResult{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return domain.AppendResult{}, domain.ErrClosed
	}
	if err := s.checkLocked(stream, expected); err != nil {
		s.mu.Unlock()
		return domain.AppendResult{}, err
	}
	res := s.writeLocked(stream, events, s.now().UTC())
	s.mu.Unlock()
	s.notify.Broadcast()
	return res, nil
}

// checkLocked answers whether stream is at the expected revision.
func (s *Store) checkLocked(stream string, expected domain.ExpectedRevision) error {
	idx := s.streams[stream]
	last, exists := uint64(len(idx))-1, len(idx) > 0
	if !expected.Check(last, exists) {
		return &domain.WrongRevisionError{Stream: stream, Expected: expected, Actual: last, HasActual: exists}
	}
	return nil
}

// writeLocked appends events to stream (checked) and returns the last one's
// revision and position.
func (s *Store) writeLocked(stream string, events []domain.EventData, now time.Time) domain.AppendResult {
	idx := s.streams[stream]
	var res domain.AppendResult
	for _, e := range events {
		rec := domain.RecordedEvent{
			ID: e.ID, Stream: stream, Revision: uint64(len(idx)), Position: domain.Position(len(s.events) + 1),
			Type: e.Type, Data: clone(e.Data), Metadata: clone(e.Metadata), Created: now,
		}
		idx = append(idx, len(s.events))
		s.events = append(s.events, rec)
		res = domain.AppendResult{Revision: rec.Revision, Position: rec.Position}
	}
	s.streams[stream] = idx
	return res
}

// AppendMulti implements domain.MultiAppender: under the store's one lock,
// every part's expected revision is checked before any is written.
func (s *Store) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	if err := domain.ValidateAppendMulti(parts); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, domain.ErrClosed
	}
	for _, p := range parts {
		if err := s.checkLocked(p.Stream, p.Expected); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	now := s.now().UTC()
	res := make([]domain.AppendResult, len(parts))
	for i, p := range parts {
		res[i] = s.writeLocked(p.Stream, p.Events, now)
	}
	s.mu.Unlock()
	s.notify.Broadcast()
	return res, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// ReadStream implements domain.EventStore.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, dir domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if err := domain.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, domain.ErrClosed
	}
	idx := s.streams[stream]
	if len(idx) == 0 {
		return nil, domain.ErrStreamNotFound
	}
	var out []domain.RecordedEvent
	if dir == domain.Forward {
		for r := from; r < uint64(len(idx)) && len(out) < max; r++ {
			out = append(out, s.events[idx[r]])
		}
		return out, nil
	}
	start := from
	if start >= uint64(len(idx)) {
		start = uint64(len(idx)) - 1
	}
	for r := int64(start); r >= 0 && len(out) < max; r-- {
		out = append(out, s.events[idx[r]])
	}
	return out, nil
}

// ReadAll implements domain.EventStore.
func (s *Store) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, domain.ErrClosed
	}
	if from == 0 {
		from = 1
	}
	var out []domain.RecordedEvent
	for i := int(from) - 1; i < len(s.events) && len(out) < max; i++ {
		out = append(out, s.events[i])
	}
	return out, nil
}

// ReadAt implements domain.PositionReader.
func (s *Store) ReadAt(ctx context.Context, pos domain.Position) (domain.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return domain.RecordedEvent{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return domain.RecordedEvent{}, domain.ErrClosed
	}
	if pos == 0 || int(pos) > len(s.events) {
		return domain.RecordedEvent{}, fmt.Errorf("%w: no event at position %d", domain.ErrNotFound, pos)
	}
	return s.events[pos-1], nil
}

// SubscribeAll implements domain.EventStore.
func (s *Store) SubscribeAll(ctx context.Context, after domain.Position, handle func(domain.RecordedEvent) error) error {
	return storekit.CatchUp(ctx, after, s.ReadAll, &s.notify, handle)
}

// Head implements domain.EventStore.
func (s *Store) Head(ctx context.Context) (domain.Position, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, domain.ErrClosed
	}
	return domain.Position(len(s.events)), nil
}

// Close implements domain.EventStore.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.notify.Broadcast()
	return nil
}
