package domain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Commands executes commands against the ledger: it folds an aggregate from
// its stream, decides, and appends the resulting events at the revision it
// read (optimistic concurrency; a lost race is retried on fresh state). It is
// the one way state changes, for the HTTP API and the delivery pipeline alike.
type Commands struct {
	Store EventStore
	// Now is the clock; NewEventID draws a UUID for each ledger event.
	Now        func() time.Time
	NewEventID func() string
	// Cipher, when set, encrypts every published payload before it is
	// appended, under the data key ErasureScope chooses (DataKeyID).
	Cipher       PayloadCipher
	ErasureScope ErasureScope
}

// sealPayloads encrypts the payloads of the MessagePublished events (when a
// cipher is set): the ledger then holds only their ciphertext.
func (c *Commands) sealPayloads(ctx context.Context, events []Event) error {
	if c.Cipher == nil {
		return nil
	}
	for i, ev := range events {
		m, ok := ev.(MessagePublished)
		if !ok || m.Sealed != nil {
			continue
		}
		sealed, err := c.Cipher.Seal(ctx, DataKeyID(c.ErasureScope, m.ApplicationID, m.Subject, m.MessageID, m.PublishedAt), MessageAAD(m.MessageID), m.Payload)
		if err != nil {
			return fmt.Errorf("encrypt the payload: %w", err)
		}
		m.Sealed, m.Payload = sealed, nil
		events[i] = m
	}
	return nil
}

// maxCommandRetries bounds retries after a lost optimistic-concurrency race.
// A command loses a race only to another command on its stream that won, so
// with N commands on one stream at once none loses more than N-1 times: up
// to maxCommandRetries+1 at once all succeed. With 8, a tenth or more of 20
// concurrent updates of one subscription were answered 409.
const maxCommandRetries = 64

// Outcome is the result of a command: the events appended (none when the
// command changed nothing) and where the last one landed.
type Outcome struct {
	Events []Event
	Result AppendResult
	// Revision of the aggregate's stream after the command (or before, when
	// nothing was appended); Existed is false if the stream had no events.
	Revision uint64
	Existed  bool
}

// execute runs load-decide-append for one stream.
func execute[S any](ctx context.Context, c *Commands, stream string, evolve func(S, Event) S,
	decide func(S, time.Time, *Metadata) ([]Event, error), md Metadata) (S, Outcome, error) {
	for try := 0; ; try++ {
		state, rev, exists, err := Load(ctx, c.Store, stream, evolve)
		if err != nil {
			return state, Outcome{}, err
		}
		now := c.Now().UTC()
		events, err := decide(state, now, &md)
		if err != nil || len(events) == 0 {
			return state, Outcome{Revision: rev, Existed: exists}, err
		}
		expected := NoStream
		if exists {
			expected = Exact(rev)
		}
		md.RecordedAt = now
		res, _, err := c.append(ctx, stream, expected, events, md)
		if errors.Is(err, ErrWrongRevision) && try < maxCommandRetries {
			continue
		}
		if err != nil {
			return state, Outcome{}, err
		}
		for _, e := range events {
			state = evolve(state, e)
		}
		return state, Outcome{Events: events, Result: res, Revision: res.Revision, Existed: true}, nil
	}
}

// append encodes events with metadata md and appends them; it returns the
// ledger ids given to the events.
func (c *Commands) append(ctx context.Context, stream string, expected ExpectedRevision, events []Event, md Metadata) (AppendResult, []string, error) {
	data := make([]EventData, len(events))
	ids := make([]string, len(events))
	for i, e := range events {
		d, err := Encode(c.NewEventID(), e, md)
		if err != nil {
			return AppendResult{}, nil, err
		}
		data[i], ids[i] = d, d.ID
	}
	res, err := c.Store.Append(ctx, stream, expected, data...)
	return res, ids, err
}

// AppendDecided appends events already decided on a known state at revision
// (exists false: the stream must not exist yet). It is for callers that keep
// aggregate state in a projection (the delivery process) and so skip the read.
func (c *Commands) AppendDecided(ctx context.Context, stream string, rev uint64, exists bool, events []Event, md Metadata) (AppendResult, []string, error) {
	expected := NoStream
	if exists {
		expected = Exact(rev)
	}
	if md.RecordedAt.IsZero() {
		md.RecordedAt = c.Now().UTC()
	}
	return c.append(ctx, stream, expected, events, md)
}

// DecidedAppend is one stream's events for AppendDecidedMulti, decided on
// its state at revision (exists false: the stream must not exist yet), with
// their metadata.
type DecidedAppend struct {
	Stream   string
	Revision uint64
	Exists   bool
	Events   []Event
	Metadata Metadata
	// Each, when set, is every event's own metadata (one per event), in
	// place of Metadata: events that different actors decided go in one
	// write (a delivery scheduled by the fan-out and its attempt started
	// by a worker) each saying who decided it.
	Each []Metadata
	// IDs, when set, are the events' ids (one per event), drawn by the
	// caller with NewEventID, so that a later event's causation can name an
	// earlier one of the same write; otherwise they are drawn here.
	IDs []string
}

// AppendDecidedPart appends one stream's decided events, each with its own
// metadata and id where the part says so (the write of AppendDecidedMulti,
// for one stream on any store).
func (c *Commands) AppendDecidedPart(ctx context.Context, p DecidedAppend) (AppendResult, []string, error) {
	out, ids, err := c.encodePart(p, c.Now().UTC())
	if err != nil {
		return AppendResult{}, nil, fmt.Errorf("%s: %w", p.Stream, err)
	}
	res, err := c.Store.Append(ctx, out.Stream, out.Expected, out.Events...)
	return res, ids, err
}

// AppendDecidedMulti appends several streams' decided events in one atomic
// write; it returns the results and the event ids part by part. On a store
// that is no MultiAppender it returns an error matching
// errors.ErrUnsupported, having written nothing.
func (c *Commands) AppendDecidedMulti(ctx context.Context, parts []DecidedAppend) ([]AppendResult, [][]string, error) {
	multi, ok := c.Store.(MultiAppender)
	if !ok {
		return nil, nil, fmt.Errorf("%w: the store has no multi-stream append", errors.ErrUnsupported)
	}
	now := c.Now().UTC()
	out := make([]StreamAppend, len(parts))
	ids := make([][]string, len(parts))
	for i, p := range parts {
		var err error
		if out[i], ids[i], err = c.encodePart(p, now); err != nil {
			return nil, nil, fmt.Errorf("part %d (%s): %w", i, p.Stream, err)
		}
	}
	res, err := multi.AppendMulti(ctx, out...)
	return res, ids, err
}

// encodePart encodes a part's events with their metadata (recorded at now
// where it says no time) and ids.
func (c *Commands) encodePart(p DecidedAppend, now time.Time) (StreamAppend, []string, error) {
	if (p.Each != nil && len(p.Each) != len(p.Events)) || (p.IDs != nil && len(p.IDs) != len(p.Events)) {
		return StreamAppend{}, nil, invalid("parts", "%d events with %d metadata and %d ids", len(p.Events), len(p.Each), len(p.IDs))
	}
	out := StreamAppend{Stream: p.Stream, Expected: NoStream, Events: make([]EventData, len(p.Events))}
	if p.Exists {
		out.Expected = Exact(p.Revision)
	}
	ids := make([]string, len(p.Events))
	for j, e := range p.Events {
		md := p.Metadata
		if p.Each != nil {
			md = p.Each[j]
		}
		if md.RecordedAt.IsZero() {
			md.RecordedAt = now
		}
		id := ""
		if p.IDs != nil {
			id = p.IDs[j]
		} else {
			id = c.NewEventID()
		}
		d, err := Encode(id, e, md)
		if err != nil {
			return StreamAppend{}, nil, err
		}
		out.Events[j], ids[j] = d, d.ID
	}
	return out, ids, nil
}

// Load folds a stream into state; exists is false when the stream has no events.
func Load[S any](ctx context.Context, store EventStore, stream string, evolve func(S, Event) S) (S, uint64, bool, error) {
	var state S
	var rev uint64
	exists := false
	for from := uint64(0); ; {
		page, err := store.ReadStream(ctx, stream, from, Forward, 256)
		if errors.Is(err, ErrStreamNotFound) {
			return state, 0, false, nil
		}
		if err != nil {
			return state, 0, false, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, rec := range page {
			ev, err := DecodeEvent(rec)
			if err != nil {
				return state, 0, false, err
			}
			state = evolve(state, ev)
			rev, exists = rec.Revision, true
		}
		if len(page) < 256 {
			return state, rev, exists, nil
		}
		from = rev + 1
	}
}
