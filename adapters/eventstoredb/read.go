package eventstoredb

// Reads: a stream, the log from a position, and its head.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/hookledger/hookledger/domain"
)

// convert maps a client event to the domain's, stripping the prefix.
func (s *Store) convert(e *kurrentdb.RecordedEvent) domain.RecordedEvent {
	pos := e.Position.Commit
	if pos == math.MaxUint64 { // older servers give no $all position on stream reads
		pos = 0
	} else {
		s.remember(pos)
	}
	return domain.RecordedEvent{
		ID: e.EventID.String(), Stream: strings.TrimPrefix(e.StreamID, s.opts.Prefix), Revision: e.EventNumber,
		Position: domain.Position(pos), Type: e.EventType, Data: e.Data, Metadata: e.UserMetadata, Created: e.CreatedDate,
	}
}

func (s *Store) ours(e *kurrentdb.RecordedEvent) bool {
	return e != nil && strings.HasPrefix(e.StreamID, s.opts.Prefix) && !strings.HasPrefix(e.EventType, "$")
}

// recvSafe is ReadStream.Recv without its panic: the client panics
// ("unreachable code") on a read message it does not know, which a newer
// server may send; that must fail one read, not kill the process.
func recvSafe(rs *kurrentdb.ReadStream) (ev *kurrentdb.ResolvedEvent, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, err = nil, fmt.Errorf("eventstoredb: the client met a read message it does not know (%v): is the server newer than the client?", r)
		}
	}()
	return rs.Recv()
}

// readEach runs a read and calls fn for every event until the read ends.
func (s *Store) readEach(ctx context.Context, what string, open func(context.Context, *kurrentdb.Client) (*kurrentdb.ReadStream, error), fn func(*kurrentdb.RecordedEvent)) error {
	return s.call(ctx, what, func(ctx context.Context, c *kurrentdb.Client) error {
		ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout)
		defer cancel()
		rs, err := open(ctx, c)
		if err != nil {
			return err
		}
		defer rs.Close()
		var got []*kurrentdb.RecordedEvent
		for {
			ev, err := recvSafe(rs)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if ev.Event != nil {
				got = append(got, ev.Event)
			}
		}
		// Handed over only once the read completed, so a retried read does
		// not repeat events.
		for _, e := range got {
			fn(e)
		}
		return nil
	})
}

// ReadStream reads the prefixed stream.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, dir domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if err := domain.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	if s.isClosed() {
		return nil, domain.ErrClosed
	}
	opts := kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: kurrentdb.Revision(from)}
	if dir == domain.Backward {
		opts.Direction = kurrentdb.Backwards
		if from == domain.RevisionEnd {
			opts.From = kurrentdb.End{}
		}
	}
	var out []domain.RecordedEvent
	err := s.readEach(ctx, "read stream", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
		return c.ReadStream(ctx, s.opts.Prefix+stream, opts, uint64(max))
	}, func(e *kurrentdb.RecordedEvent) { out = append(out, s.convert(e)) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadAll returns up to max of hookledger's events with position >= from.
// The protocol has no filter on reads, so other streams are skipped here.
func (s *Store) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	if s.isClosed() {
		return nil, domain.ErrClosed
	}
	var start kurrentdb.AllPosition = kurrentdb.Start{}
	skipBefore := uint64(from)
	// A real server refuses to read from a position that is not an event's.
	// Callers pass an event's position or one past it (paging, or resuming
	// after a seal or a checkpoint), so when from-1 is not known to be an
	// event, it is tried first and from second.
	var fallback kurrentdb.AllPosition
	if from > 0 {
		p := uint64(from)
		start = kurrentdb.Position{Commit: p - 1, Prepare: p - 1}
		if !s.isKnown(p - 1) {
			fallback = kurrentdb.Position{Commit: p, Prepare: p}
		}
	}
	chunk := uint64(min(4096, 2*max+16))
	var out []domain.RecordedEvent
	for len(out) < max {
		var n uint64
		var last uint64
		err := s.readEach(ctx, "read $all", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
			return c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Forwards, From: start}, chunk)
		}, func(e *kurrentdb.RecordedEvent) {
			n++
			last = e.Position.Commit
			if e.Position.Commit < skipBefore || len(out) >= max || !s.ours(e) {
				return
			}
			out = append(out, s.convert(e))
		})
		if err != nil && fallback != nil && !errors.Is(err, domain.ErrUnavailable) && !errors.Is(err, domain.ErrClosed) && ctx.Err() == nil {
			start, fallback = fallback, nil
			continue
		}
		if err != nil {
			return nil, err
		}
		fallback = nil
		if n < chunk {
			break
		}
		// Continue after the last event read: inclusive reads start at it.
		start, skipBefore = kurrentdb.Position{Commit: last, Prepare: last}, last+1
	}
	return out, nil
}

// Head returns the position of hookledger's last event (0 if none), reading
// $all backward from the end.
func (s *Store) Head(ctx context.Context) (domain.Position, error) {
	if s.isClosed() {
		return 0, domain.ErrClosed
	}
	var start kurrentdb.AllPosition = kurrentdb.End{}
	const chunk = 256
	for {
		var n uint64
		var found, oldest uint64
		err := s.readEach(ctx, "read $all backward", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
			return c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: start}, chunk)
		}, func(e *kurrentdb.RecordedEvent) {
			n++
			oldest = e.Position.Commit
			if found == 0 && s.ours(e) {
				found = e.Position.Commit
			}
		})
		if err != nil {
			return 0, err
		}
		if found > 0 {
			s.remember(found)
			return domain.Position(found), nil
		}
		if n < chunk {
			return 0, nil
		}
		start = kurrentdb.Position{Commit: oldest, Prepare: oldest} // backward reads start before it
	}
}
