package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// bounds is the part of the ledger a bounded export covers: the events at
// positions in [from, to] and recorded in [since, until). A zero field
// leaves its side open.
type bounds struct {
	from, to     domain.Position
	since, until time.Time
}

// Bounded says whether the scope limits the export to a part of the ledger
// (a period, or the events after an earlier export's head).
func (s Scope) Bounded() bool {
	return s.From != 0 || s.To != 0 || s.Since != "" || s.Until != ""
}

// CheckBounds refuses bounds that are not RFC 3339 times or that select
// nothing by construction (to before from, until not after since), with a
// *domain.ValidationError naming the field.
func (s Scope) CheckBounds() error {
	_, err := s.bounds()
	return err
}

func (s Scope) bounds() (bounds, error) {
	b := bounds{from: s.From, to: s.To}
	var err error
	if s.Since != "" {
		if b.since, err = time.Parse(time.RFC3339Nano, s.Since); err != nil {
			return b, &domain.ValidationError{Field: "since", Reason: "must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z"}
		}
	}
	if s.Until != "" {
		if b.until, err = time.Parse(time.RFC3339Nano, s.Until); err != nil {
			return b, &domain.ValidationError{Field: "until", Reason: "must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z"}
		}
	}
	if b.to != 0 && b.to < b.from {
		return b, &domain.ValidationError{Field: "to", Reason: fmt.Sprintf("position %d is before from (%d)", b.to, b.from)}
	}
	if !b.since.IsZero() && !b.until.IsZero() && !b.until.After(b.since) {
		return b, &domain.ValidationError{Field: "until", Reason: "must be after since"}
	}
	return b, nil
}

// BoundTime reads a since or until bound given by a person and writes it as
// the scope records it (RFC 3339 in UTC), so that an export's header shows
// one form whatever the zone it was asked in.
func BoundTime(field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "", &domain.ValidationError{Field: field, Reason: "must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z"}
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

func (b bounds) in(pos domain.Position, created time.Time) bool {
	return pos >= b.from && (b.to == 0 || pos <= b.to) &&
		(b.since.IsZero() || !created.Before(b.since)) && (b.until.IsZero() || created.Before(b.until))
}

// end is the last position an export within the bounds reads. A time bound
// does not shorten the read: positions are in commit order, the recording
// times only nearly so (a clock may step back).
func (b bounds) end(head domain.Position) domain.Position {
	if b.to != 0 && b.to < head {
		return b.to
	}
	return head
}

// seqRange finds the sequence numbers (the sealer's count of the ledger's
// events, the audit stream left out) of the first and the last event within
// the bounds, whatever their scope: they say which seals a bounded export
// holds. ok is false when no event is within them.
func seqRange(ctx context.Context, store domain.EventStore, end domain.Position, b bounds) (first, last uint64, ok bool, err error) {
	var seq uint64
	err = forEachUpTo(ctx, store, end, func(rec domain.RecordedEvent) error {
		if rec.Stream == domain.AuditStream {
			return nil
		}
		seq++
		if b.in(rec.Position, rec.Created) {
			if !ok {
				first, ok = seq, true
			}
			last = seq
		}
		return nil
	})
	return first, last, ok, err
}

// sealsWithin keeps the seals that cover an event of [first, last]: the
// seals a bounded export's events are proved by, and nothing of the rest of
// the ledger (each seal holds a digest of every event it covers).
func sealsWithin(seals []exportSeal, first, last uint64, ok bool) []exportSeal {
	if !ok {
		return nil
	}
	var out []exportSeal
	for _, s := range seals {
		if s.Seal.ToSeq >= first && s.Seal.FromSeq <= last {
			out = append(out, s)
		}
	}
	return out
}

// checkBounds reports an event line outside the bounds the signed scope
// gives: it was not exported.
func (ev *exportVerifier) checkBounds(e exportEvent) *Problem {
	if ev.bounds.in(e.Position, e.Created) {
		return nil
	}
	return &Problem{Kind: KindInserted, Position: e.Position, Seq: e.Seq,
		Detail: fmt.Sprintf("the event at position %d (recorded %s) is outside the export's bounds (%s)", e.Position, e.Created.UTC().Format(time.RFC3339Nano), ev.header.Scope)}
}

// String describes the scope for people: what is in it, and its bounds.
func (s Scope) String() string {
	var parts []string
	switch {
	case s.Subject != "" && s.Application != "":
		parts = append(parts, "subject "+s.Subject+" in application "+s.Application)
	case s.Subject != "":
		parts = append(parts, "subject "+s.Subject)
	case s.Application != "":
		parts = append(parts, "application "+s.Application)
	case s.Subscription != "":
		parts = append(parts, "subscription "+s.Subscription)
	default:
		parts = append(parts, "the whole ledger")
	}
	if s.From != 0 || s.To != 0 {
		to := "the head"
		if s.To != 0 {
			to = fmt.Sprint(s.To)
		}
		parts = append(parts, fmt.Sprintf("positions %d to %s", max(s.From, 1), to))
	}
	if s.Since != "" {
		parts = append(parts, "recorded at or after "+s.Since)
	}
	if s.Until != "" {
		parts = append(parts, "recorded before "+s.Until)
	}
	return strings.Join(parts, ", ")
}
