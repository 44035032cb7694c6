package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors. Adapters translate their backends' errors into these, and the
// HTTP adapter maps them (in one place) to problem+json codes.
var (
	// ErrInvalidArgument: the input is malformed; nothing was written.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the aggregate does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a create command found the aggregate already there.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the command contradicts the aggregate's state (e.g. resume an
	// active subscription, the same idempotency key with another payload).
	ErrConflict = errors.New("conflict")
	// ErrWrongRevision: an append's expected revision did not hold (optimistic
	// concurrency). Retrying the command on fresh state may succeed.
	ErrWrongRevision = errors.New("wrong expected revision")
	// ErrStreamNotFound: a read of a stream that has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrEventTooLarge: an event is over the store's size limit; nothing was written.
	ErrEventTooLarge = errors.New("event too large")
	// ErrCorrupt: stored data failed its checksum; it is reported, never served.
	ErrCorrupt = errors.New("corrupt record")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrUnavailable: the store cannot be reached now (a remote store's
	// server is down or leaderless); the call may succeed if retried later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrUnknownEventType: the codec met an event type it does not know.
	ErrUnknownEventType = errors.New("unknown event type")
	// ErrPreconditionFailed: the caller made a command conditional on the
	// aggregate's revision (HTTP If-Match) and the aggregate has moved on.
	// Unlike ErrWrongRevision it is not retried: the caller decided on a
	// state that is no longer there.
	ErrPreconditionFailed = errors.New("precondition failed")
)

// ValidationError says which field of an input is wrong and why. It matches
// ErrInvalidArgument with errors.Is.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Is makes a ValidationError match ErrInvalidArgument.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidArgument }

// invalid is a short constructor for ValidationError.
func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// WrongRevisionError is returned by an append whose expected revision did not
// hold. It matches ErrWrongRevision with errors.Is.
type WrongRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's last revision; HasActual is false when the stream
	// does not exist.
	Actual    uint64
	HasActual bool
}

func (e *WrongRevisionError) Error() string {
	actual := "no stream"
	if e.HasActual {
		actual = fmt.Sprintf("revision %d", e.Actual)
	}
	return fmt.Sprintf("append to %q: expected %s, stream is at %s", e.Stream, e.Expected, actual)
}

// Is makes a WrongRevisionError match ErrWrongRevision.
func (e *WrongRevisionError) Is(target error) bool { return target == ErrWrongRevision }

// PreconditionError is a conditional command refused because the aggregate
// is not at any of the revisions the caller gave. It matches
// ErrPreconditionFailed.
type PreconditionError struct {
	Aggregate, ID string
	// Revision is the aggregate's revision when the command was refused.
	Revision uint64
}

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("%s %s is at revision %d, not the one the request was made on: read it again and decide on what it is now", e.Aggregate, e.ID, e.Revision)
}

// Is makes a PreconditionError match ErrPreconditionFailed.
func (e *PreconditionError) Is(target error) bool { return target == ErrPreconditionFailed }

// CorruptError reports where a checksum failed.
type CorruptError struct {
	Position Position
	Detail   string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt record at position %d: %s", e.Position, e.Detail)
}

// Is makes a CorruptError match ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// StateError is a command refused because of the aggregate's state. It matches
// ErrConflict.
type StateError struct {
	Aggregate string
	ID        string
	State     string
	Command   string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("%s %s is %s: cannot %s", e.Aggregate, e.ID, e.State, e.Command)
}

// Is makes a StateError match ErrConflict.
func (e *StateError) Is(target error) bool { return target == ErrConflict }

// TruncatedError: the store ends below a position that a durable record
// outside it says was acknowledged (the store's head mark, the views'
// checkpoint). Events were lost to a storage fault or removed; the ledger
// must not be served or verified as if it were whole. It matches ErrCorrupt.
type TruncatedError struct {
	// Head is the store's last position; Known the position recorded by Source.
	Head, Known Position
	Source      string
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("ledger truncated: the store ends at position %d but %s records position %d: "+
		"acknowledged events are missing (storage fault or tampering); restore the data directory from a backup",
		e.Head, e.Source, e.Known)
}

// Is makes a TruncatedError match ErrCorrupt.
func (e *TruncatedError) Is(target error) bool { return target == ErrCorrupt }
