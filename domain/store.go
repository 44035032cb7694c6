package domain

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// Position is an event's place in the total order of the whole ledger ($all).
// Positions increase strictly with commit order; they may be sparse (the
// EventStoreDB adapter uses log offsets), so never assume consecutive numbers.
// Position 0 is "before the first event".
type Position uint64

// AllStream names the total order of the ledger in reads and logs. It is not a
// stream that can be appended to.
const AllStream = "$all"

// RevisionEnd, as the start of a backward stream read, means "from the last event".
const RevisionEnd = math.MaxUint64

// ExpectedRevision is the optimistic-concurrency condition of an append.
type ExpectedRevision struct {
	kind expectKind
	rev  uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

// The expected-revision conditions.
var (
	// Any appends whatever the stream's state.
	Any = ExpectedRevision{kind: expectAny}
	// NoStream appends only if the stream has no events yet.
	NoStream = ExpectedRevision{kind: expectNoStream}
	// StreamExists appends only if the stream has at least one event.
	StreamExists = ExpectedRevision{kind: expectExists}
)

// Exact appends only if the stream's last event has revision rev.
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, rev: rev} }

// IsAny, IsNoStream, IsStreamExists report the condition's kind; Revision
// returns (rev, true) for Exact conditions.
func (e ExpectedRevision) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedRevision) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectExists }
func (e ExpectedRevision) Revision() (uint64, bool) {
	return e.rev, e.kind == expectExact
}

// Check reports whether the condition holds for a stream whose last revision
// is last (exists false when the stream has no events).
func (e ExpectedRevision) Check(last uint64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectExists:
		return exists
	case expectExact:
		return exists && last == e.rev
	default:
		return true
	}
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("revision %d", e.rev)
	default:
		return "any"
	}
}

// EventData is an event proposed for appending. ID is unique per event (a UUID
// string: EventStoreDB requires one). Data and Metadata are opaque bytes to the
// store (JSON in hookledger).
type EventData struct {
	ID       string
	Type     string
	Data     []byte
	Metadata []byte
}

// RecordedEvent is an event as stored, with its place in its stream and in $all.
type RecordedEvent struct {
	ID       string
	Stream   string
	Revision uint64
	Position Position
	Type     string
	Data     []byte
	Metadata []byte
	// Created is when the store committed the event (store clock, UTC).
	Created time.Time
}

// AppendResult describes a successful append: the revision and position of
// the last event written.
type AppendResult struct {
	Revision uint64
	Position Position
}

// Direction of a stream read.
type Direction uint8

const (
	Forward Direction = iota
	Backward
)

// Limits every store enforces, so that a ledger written on one store can be
// copied to another.
const (
	// MaxEventSize bounds data+metadata of one event.
	MaxEventSize = 1<<20 + 64<<10
	// MaxStreamNameLen bounds a stream name, in bytes.
	MaxStreamNameLen = 512
)

// EventStore is the one shared port: an append-only log of streams with a total
// order. Every adapter runs the conformance suite in adapters/storetest.
//
// Guarantees every implementation gives:
//   - Append is atomic (all events or none) and, on success, durable.
//   - Revisions in a stream start at 0 and are consecutive; positions increase
//     strictly in commit order across all streams.
//   - Readers and subscribers never see an event that is not yet durable, and
//     never see a later position before an earlier one.
type EventStore interface {
	// Append writes events to the end of stream if expected holds; otherwise it
	// returns a *WrongRevisionError. Invalid input returns ErrInvalidArgument or
	// ErrEventTooLarge and writes nothing. The store may keep the events'
	// Data and Metadata and hand them to readers (pebblestore's tail does):
	// the caller must not modify them once Append is called, and readers
	// must not modify what they are given.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)
	// ReadStream returns up to max events of stream starting at revision from
	// (inclusive), forward or backward (from RevisionEnd = the last event).
	// A stream with no events returns ErrStreamNotFound.
	ReadStream(ctx context.Context, stream string, from uint64, dir Direction, max int) ([]RecordedEvent, error)
	// ReadAll returns up to max events of $all with position >= from, in order.
	ReadAll(ctx context.Context, from Position, max int) ([]RecordedEvent, error)
	// SubscribeAll calls handle for every event with position > after, in
	// order: first the history, then live events as they are committed, with no
	// gap and no duplicate. It returns when ctx ends (ctx.Err()) or handle
	// returns an error (that error).
	SubscribeAll(ctx context.Context, after Position, handle func(RecordedEvent) error) error
	// Head returns the position of the last committed event (0 if none).
	Head(ctx context.Context) (Position, error)
	// Close releases the store; later calls return ErrClosed.
	Close() error
}

// StreamAppend is one stream's part of a multi-stream append.
type StreamAppend struct {
	Stream   string
	Expected ExpectedRevision
	Events   []EventData
}

// MultiAppender is an event store that also appends to several streams in
// one atomic write: a message's deliveries scheduled at once, in one trip
// through the store instead of one per stream. It is optional: callers find
// it by a type assertion and append stream by stream on a store without it
// (EventStoreDB's multi-stream append takes only string-valued metadata, so
// that adapter does not offer it, see docs/eventstoredb.md), or when the
// call answers an error matching errors.ErrUnsupported (a wrapper around
// such a store), having written nothing.
type MultiAppender interface {
	// AppendMulti appends every part, or none of them: when a part's
	// expected revision does not hold it returns a *WrongRevisionError
	// naming that part's stream and writes nothing. The parts' events take
	// consecutive positions in the order given, and the results are the
	// parts' own, in the same order. Invalid input (no part, a stream twice,
	// any part ValidateAppend refuses) returns ErrInvalidArgument or
	// ErrEventTooLarge and writes nothing. The events' bytes are kept as
	// Append's may be.
	AppendMulti(ctx context.Context, parts ...StreamAppend) ([]AppendResult, error)
}

// PositionReader is an event store that reads one event by its position
// directly: the embedded store finds it with one lookup, where reading its
// stream takes two (the stream's index, then the event). It is optional:
// callers find it by a type assertion and read the stream otherwise
// (EventStoreDB reads $all from a position a page at a time, no cheaper
// than the stream), or when the call answers an error matching
// errors.ErrUnsupported (a wrapper around such a store).
type PositionReader interface {
	// ReadAt returns the event at position pos. A position no event holds
	// (0, or past the head) answers an error matching ErrNotFound.
	ReadAt(ctx context.Context, pos Position) (RecordedEvent, error)
}

// PageReader is an event store that reads $all into memory the caller hands
// back, page after page: a rebuild reads the whole ledger once, and a fresh
// page of records for every read was half of all it allocated. It is
// optional: callers find it by a type assertion and call ReadAll otherwise,
// or when the call answers an error matching errors.ErrUnsupported (a
// wrapper around a store without it).
type PageReader interface {
	// ReadAllInto does what ReadAll does into page's memory, and returns
	// page.Events: the events and their Data and Metadata are valid until
	// the next call with the same page, which overwrites them (their
	// strings are the caller's to keep).
	ReadAllInto(ctx context.Context, from Position, max int, page *Page) ([]RecordedEvent, error)
}

// Page is the memory a PageReader reads into; the zero value is ready. One
// page serves one reader at a time.
type Page struct {
	// Events are those of the last read.
	Events []RecordedEvent
	// WithoutBodies lets the reader leave each message.published's body
	// (its payload or payload_sealed member) out of the event's Data, for
	// a caller that never uses one: a fold, which decodes with
	// DecodeEventWithoutBody and gets the same events either way. The
	// bodies are most of a ledger's bytes; left in the store's memory,
	// they are neither copied nor kept in the page (a rebuild's pages are
	// a quarter of its live heap, and on a fresh process every byte of
	// heap is a page fault). A reader may ignore it: Data is then whole.
	// The store checks its records as it always does, bodies included.
	WithoutBodies bool
	// chunks hold the records' bytes, filled in order and refilled after
	// Reset: chunks of a fixed size, not one buffer grown by doubling,
	// which copied every page over and over while it grew.
	chunks [][]byte
	next   int // the chunk being filled
}

// pageChunk is the size of a page's chunks; a value over a quarter of it
// is copied on its own (an event is at most MaxEventSize).
const pageChunk = 256 << 10

// Reset empties the page for the next read, keeping its memory.
func (p *Page) Reset() {
	clear(p.Events) // no reference to the last read's strings outlives it
	p.Events = p.Events[:0]
	for i := range p.chunks {
		p.chunks[i] = p.chunks[i][:0]
	}
	p.next = 0
}

// Copy copies b into the page's memory and returns the copy, capped so that
// an append to it cannot run into the next one.
func (p *Page) Copy(b []byte) []byte { return p.copy2(b, nil) }

// CopyData copies the Data of an event of type typ into the page as Copy
// does, without the message's body if the page is WithoutBodies.
func (p *Page) CopyData(typ string, data []byte) []byte {
	if p.WithoutBodies && typ == TypeMessagePublished {
		if head, tail, ok := cutBody(data); ok {
			return p.copy2(head, tail)
		}
	}
	return p.Copy(data)
}

// copy2 copies a and b, one after the other, as one value.
func (p *Page) copy2(a, b []byte) []byte {
	n := len(a) + len(b)
	if n > pageChunk/4 {
		return append(append(make([]byte, 0, n), a...), b...)
	}
	for ; ; p.next++ {
		if p.next == len(p.chunks) {
			p.chunks = append(p.chunks, make([]byte, 0, pageChunk))
		}
		if c := p.chunks[p.next]; cap(c)-len(c) >= n {
			p.chunks[p.next] = append(append(c, a...), b...)
			return p.chunks[p.next][len(c) : len(c)+n : len(c)+n]
		}
	}
}

// ValidateAppendMulti checks a multi-stream append's arguments the same way
// on every store.
func ValidateAppendMulti(parts []StreamAppend) error {
	if len(parts) == 0 {
		return invalid("parts", "a multi-stream append needs at least one part")
	}
	for i, p := range parts {
		if err := ValidateAppend(p.Stream, p.Events); err != nil {
			return fmt.Errorf("part %d (%s): %w", i, p.Stream, err)
		}
	}
	// A few parts or events (the common write: one or two deliveries) are
	// compared pair by pair, without allocating the maps.
	if len(parts) <= 8 {
		for i, p := range parts {
			for _, q := range parts[:i] {
				if q.Stream == p.Stream {
					return invalid("parts", "stream %q appears in two parts of one append", p.Stream)
				}
			}
		}
	} else {
		streams := make(map[string]struct{}, len(parts))
		for _, p := range parts {
			if _, dup := streams[p.Stream]; dup {
				return invalid("parts", "stream %q appears in two parts of one append", p.Stream)
			}
			streams[p.Stream] = struct{}{}
		}
	}
	n := 0
	for _, p := range parts {
		n += len(p.Events)
	}
	if n <= 8 {
		var seen [8]string
		k := 0
		for _, p := range parts {
			for _, e := range p.Events {
				if slices.Contains(seen[:k], e.ID) {
					return invalid("parts", "event id %q appears twice in one append", e.ID)
				}
				seen[k] = e.ID
				k++
			}
		}
		return nil
	}
	ids := make(map[string]struct{}, n)
	for _, p := range parts {
		for _, e := range p.Events {
			if _, dup := ids[e.ID]; dup {
				return invalid("parts", "event id %q appears twice in one append", e.ID)
			}
			ids[e.ID] = struct{}{}
		}
	}
	return nil
}

// ValidateAppend checks an append's arguments the same way on every store.
func ValidateAppend(stream string, events []EventData) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	if len(events) == 0 {
		return invalid("events", "an append needs at least one event")
	}
	seen := make(map[string]struct{}, len(events))
	for i, e := range events {
		if e.ID == "" {
			return invalid("events", "event %d has no id", i)
		}
		if _, dup := seen[e.ID]; dup {
			return invalid("events", "event id %q appears twice in one append", e.ID)
		}
		seen[e.ID] = struct{}{}
		if e.Type == "" {
			return invalid("events", "event %d has no type", i)
		}
		if len(e.Type) > 256 {
			return invalid("events", "event %d type is longer than 256 bytes", i)
		}
		if size := len(e.Data) + len(e.Metadata); size > MaxEventSize {
			return fmt.Errorf("%w: event %d is %d bytes, the limit is %d", ErrEventTooLarge, i, size, MaxEventSize)
		}
	}
	return nil
}

// ValidateStreamName rejects names no store can hold faithfully.
func ValidateStreamName(stream string) error {
	switch {
	case stream == "":
		return invalid("stream", "empty stream name")
	case len(stream) > MaxStreamNameLen:
		return invalid("stream", "longer than %d bytes", MaxStreamNameLen)
	case stream[0] == '$':
		return invalid("stream", "names starting with '$' are reserved for the store")
	}
	for i := 0; i < len(stream); i++ {
		if stream[i] < 0x20 || stream[i] == 0x7f {
			return invalid("stream", "control characters are not allowed")
		}
	}
	if !utf8.ValidString(stream) {
		return invalid("stream", "not valid UTF-8")
	}
	return nil
}
