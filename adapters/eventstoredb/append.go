package eventstoredb

// Appends: expected revisions, and the positions an append is known by.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/hookledger/hookledger/domain"
)

func (s *Store) remember(p uint64) {
	s.knownMu.Lock()
	if len(s.known) > 1<<16 {
		s.known = map[uint64]struct{}{}
	}
	s.known[p] = struct{}{}
	s.knownMu.Unlock()
}

func (s *Store) isKnown(p uint64) bool {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	_, ok := s.known[p]
	return ok
}

func expected(e domain.ExpectedRevision) kurrentdb.StreamState {
	switch {
	case e.IsNoStream():
		return kurrentdb.NoStream{}
	case e.IsStreamExists():
		return kurrentdb.StreamExists{}
	}
	if rev, ok := e.Revision(); ok {
		return kurrentdb.Revision(rev)
	}
	return kurrentdb.Any{}
}

// Append writes events to the prefixed stream.
func (s *Store) Append(ctx context.Context, stream string, exp domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if err := domain.ValidateAppend(stream, events); err != nil {
		return domain.AppendResult{}, err
	}
	if err := domain.ValidateStreamName(s.opts.Prefix + stream); err != nil {
		return domain.AppendResult{}, err
	}
	size := 0
	data := make([]kurrentdb.EventData, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return domain.AppendResult{}, &domain.ValidationError{Field: "events", Reason: fmt.Sprintf("event %d id %q is not a UUID (EventStoreDB requires one)", i, e.ID)}
		}
		// Counted as servers since 24.10.5 count an append.
		size += len(e.Data) + len(e.Metadata) + 2*len(e.Type)
		data[i] = kurrentdb.EventData{EventID: id, EventType: e.Type, ContentType: kurrentdb.ContentTypeBinary, Data: e.Data, Metadata: e.Metadata}
	}
	if size > s.opts.MaxAppendSize {
		return domain.AppendResult{}, fmt.Errorf("%w: the append is %d bytes, over the EventStoreDB server's maximum append size of %d (raise the server's MaxAppendSize and --esdb-max-append-size together)",
			domain.ErrEventTooLarge, size, s.opts.MaxAppendSize)
	}
	if s.isClosed() {
		return domain.AppendResult{}, domain.ErrClosed
	}
	var res *kurrentdb.WriteResult
	deadline := time.Now().Add(s.opts.RetryFor)
	var err error
	for {
		err = s.call(ctx, "append", func(ctx context.Context, c *kurrentdb.Client) error {
			var err error
			res, err = c.AppendToStream(ctx, s.opts.Prefix+stream, kurrentdb.AppendToStreamOptions{StreamState: expected(exp)}, data...)
			return err
		})
		// A server deadline on a write says nothing about whether it was
		// committed (it may have timed out waiting for replication). The
		// same events, with the same ids, are sent again: the server answers
		// an idempotent success if they were written, or writes them now.
		// Never report as failed a write that may have succeeded.
		if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		s.log.Debug().Err(err).Str("stream", stream).Msg("append deadline exceeded; retrying with the same event ids")
	}
	if code, ok := esdbCode(err); ok && code == kurrentdb.ErrorCodeWrongExpectedVersion {
		return domain.AppendResult{}, s.wrongRevision(ctx, stream, exp, err)
	}
	if err != nil {
		return domain.AppendResult{}, err
	}
	pos := res.CommitPosition
	if pos == 0 || pos == math.MaxUint64 {
		// An idempotent success may carry no position: find the last event
		// of this append in the stream.
		if pos, err = s.positionOf(ctx, stream, res.NextExpectedVersion, events[len(events)-1].ID); err != nil {
			return domain.AppendResult{}, err
		}
	}
	s.remember(pos)
	return domain.AppendResult{Revision: res.NextExpectedVersion, Position: domain.Position(pos)}, nil
}

// positionOf reads the position of the event id at revision rev of stream.
func (s *Store) positionOf(ctx context.Context, stream string, rev uint64, id string) (uint64, error) {
	recs, err := s.ReadStream(ctx, stream, rev, domain.Forward, 1)
	if err != nil {
		return 0, fmt.Errorf("eventstoredb: the append succeeded without a position, and reading it failed: %w", err)
	}
	if len(recs) != 1 || recs[0].ID != id || recs[0].Position == 0 {
		return 0, fmt.Errorf("eventstoredb: the append succeeded without a position, and revision %d of %s is not its event", rev, stream)
	}
	return uint64(recs[0].Position), nil
}

// wrongRevision builds the domain error; the client only says the current
// revision in its message, so it is read from there (or from the stream).
func (s *Store) wrongRevision(ctx context.Context, stream string, exp domain.ExpectedRevision, err error) error {
	wre := &domain.WrongRevisionError{Stream: stream, Expected: exp}
	if m := gotRevision.FindStringSubmatch(err.Error()); m != nil {
		if m[1] == "no_stream" {
			return wre
		}
		if n, perr := strconv.ParseUint(m[1], 10, 64); perr == nil {
			wre.Actual, wre.HasActual = n, true
			return wre
		}
	}
	if last, rerr := s.ReadStream(ctx, stream, domain.RevisionEnd, domain.Backward, 1); rerr == nil && len(last) == 1 {
		wre.Actual, wre.HasActual = last[0].Revision, true
	}
	return wre
}
