package erasure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Keys is what an erasure needs of the key store.
type Keys interface {
	// Keys lists the live data keys whose id starts with prefix.
	Keys(prefix string) ([]string, error)
	// Destroy destroys keys for ever, naming the erasure in their tombstones.
	Destroy(ids []string, erasureID string) error
	// Destroyed answers whether a key was destroyed, and by which erasure.
	Destroyed(id string) (erasureID string, at time.Time, ok bool, err error)
}

// OpenDelivery is a delivery that may still be attempted.
type OpenDelivery struct{ ID, MessageID string }

// Eraser carries out erasures: it records the request, destroys the data
// keys, records what was destroyed, then cancels the deliveries still open
// for the erased messages. Every step can be run again: an erasure
// interrupted by a crash is finished by requesting it again with its id.
type Eraser struct {
	Store    domain.EventStore
	Commands *domain.Commands
	Keys     Keys
	// Open lists up to limit of an application's open deliveries (at a cost
	// in the open deliveries, not the history).
	Open func(app string, limit int) []OpenDelivery
	Log  zerolog.Logger
}

// NotErasableError: messages named by an erasure share their data key with
// other messages (published under --erasure-scope application or subject),
// or were written before payloads were encrypted, so they cannot be erased
// one by one. Nothing was recorded or destroyed.
type NotErasableError struct {
	Shared    []string // messages whose key is shared (erase their application, subject or day instead)
	Plain     []string // messages stored in the clear
	NotFound  []string // no such message in the application
	KeyScopes []string
	// Subject, for an erasure by subject on a ledger that does not key
	// payloads by subject (Scope): that subject's payloads share their keys
	// with other messages, and no subject key exists to destroy.
	Subject string
	Scope   domain.ErasureScope
}

func (e *NotErasableError) Error() string {
	if e.Subject != "" {
		how := "a subject's payloads share their keys with other messages: erase by application or published_before"
		if e.Scope == domain.ScopeMessage {
			how = "each message has a key of its own, not found by subject: erase the subject's messages with scope messages and their ids"
		}
		return fmt.Sprintf("cannot erase subject %q: this ledger keys payloads by %s (--erasure-scope %s), so no key of the subject exists to destroy; %s (or run the server with --erasure-scope subject, so that messages published from then on are keyed by their subject)",
			e.Subject, e.Scope, e.Scope, how)
	}
	var parts []string
	if len(e.NotFound) > 0 {
		parts = append(parts, "not messages of this application: "+strings.Join(e.NotFound, ", "))
	}
	if len(e.Shared) > 0 {
		parts = append(parts, "sharing a data key with other messages (erase by application, subject or published_before, or run the server with --erasure-scope message for messages published from then on): "+strings.Join(e.Shared, ", "))
	}
	if len(e.Plain) > 0 {
		parts = append(parts, "stored in the clear (published before payload encryption was on): "+strings.Join(e.Plain, ", "))
	}
	return "cannot erase these messages one by one: " + strings.Join(parts, "; ")
}

// Is makes a NotErasableError a validation failure (nothing was done).
func (e *NotErasableError) Is(target error) bool { return target == domain.ErrInvalidArgument }

// Result is what an erasure did.
type Result struct {
	Erasure             domain.Erasure
	Resumed             bool // the request existed: this call finished it
	Position            domain.Position
	DeliveriesCancelled int
}

// Erase carries out req.
func (e *Eraser) Erase(ctx context.Context, req domain.RequestErasure, md domain.Metadata) (Result, error) {
	// Checked before the keys are looked for: a request the ledger would
	// refuse gets the ledger's reason, not the key selection's.
	if err := domain.ValidateErasure(req); err != nil {
		return Result{}, err
	}
	keys, effective, err := e.selectKeys(ctx, req)
	if err != nil {
		return Result{}, err
	}
	er, out, err := e.Commands.ChangeErasure(ctx, req.ErasureID, req, md)
	if err != nil {
		return Result{}, err
	}
	res := Result{Resumed: len(out.Events) == 0, Position: out.Result.Position}
	if er.Completed != nil {
		res.Erasure = er
		return res, nil
	}
	if err := e.Keys.Destroy(keys, req.ErasureID); err != nil {
		return Result{}, fmt.Errorf("destroy the data keys: %w", err)
	}
	md.CausationID = domain.ErasureStream(req.ErasureID)
	er, out, err = e.Commands.ChangeErasure(ctx, req.ErasureID, domain.CompleteErasure{KeyIDs: keys, EffectiveBefore: effective}, md)
	if err != nil {
		return Result{}, fmt.Errorf("the keys are destroyed but the completion is not recorded (request the erasure again to record it): %w", err)
	}
	res.Erasure, res.Position = er, out.Result.Position
	res.DeliveriesCancelled = e.cancelOpen(ctx, req.ApplicationID, req.ErasureID, md)
	e.Log.Info().Str("erasure_id", req.ErasureID).Str("application_id", req.ApplicationID).Str("scope", req.Scope).
		Int("keys_destroyed", len(keys)).Int("deliveries_cancelled", res.DeliveriesCancelled).Msg("erasure completed")
	return res, nil
}

// selectKeys answers the live data keys an erasure destroys, and for an erasure
// by time the day boundary it reaches.
func (e *Eraser) selectKeys(ctx context.Context, req domain.RequestErasure) ([]string, time.Time, error) {
	app := req.ApplicationID + "/"
	switch req.Scope {
	case domain.EraseApplication:
		keys, err := e.Keys.Keys(app)
		return keys, time.Time{}, err
	case domain.EraseSubject:
		keys, err := e.Keys.Keys(app + "s/" + domain.SubjectHash(req.Subject) + "/")
		if err != nil {
			return nil, time.Time{}, err
		}
		// No key of the subject: under subject scope, no message of it; under
		// another, its messages are under keys shared with others. It was
		// recorded "completed" with nothing destroyed while they stayed
		// readable.
		if scope := cmp.Or(e.Commands.ErasureScope, domain.ScopeApplication); len(keys) == 0 && scope != domain.ScopeSubject {
			return nil, time.Time{}, &NotErasableError{Subject: req.Subject, Scope: scope}
		}
		return keys, time.Time{}, nil
	case domain.EraseBefore:
		// Keys hold whole UTC days: the days that end at or before the time.
		boundary := req.Before.UTC().Truncate(24 * time.Hour)
		all, err := e.Keys.Keys(app)
		if err != nil {
			return nil, time.Time{}, err
		}
		var keys []string
		for _, k := range all {
			if dk, ok := domain.ParseDataKeyID(k); ok && dk.Day.Before(boundary) {
				keys = append(keys, k)
			}
		}
		// A boundary still to come takes today's key, but what is
		// published after it is destroyed gets a new one: the erasure
		// reaches as far as now, not the boundary (it said tomorrow, and a
		// message published later today was readable).
		if now := e.Commands.Now().UTC(); boundary.After(now) {
			return keys, now, nil
		}
		return keys, boundary, nil
	case domain.EraseMessages:
		return e.messageKeys(ctx, req)
	}
	return nil, time.Time{}, fmt.Errorf("%w: scope %q", domain.ErrInvalidArgument, req.Scope)
}

// messageKeys answers the keys of messages named one by one: each must have
// a key of its own (scope message), or nothing is done.
func (e *Eraser) messageKeys(ctx context.Context, req domain.RequestErasure) ([]string, time.Time, error) {
	var keys []string
	var bad NotErasableError
	for _, id := range req.MessageIDs {
		recs, err := e.Store.ReadStream(ctx, domain.MessageStream(id), 0, domain.Forward, 1)
		if errors.Is(err, domain.ErrStreamNotFound) {
			bad.NotFound = append(bad.NotFound, id)
			continue
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		ev, err := domain.DecodeEvent(recs[0])
		m, ok := ev.(domain.MessagePublished)
		switch {
		case err != nil || !ok || m.ApplicationID != req.ApplicationID:
			bad.NotFound = append(bad.NotFound, id)
		case m.Sealed == nil:
			bad.Plain = append(bad.Plain, id)
		default:
			if dk, ok := domain.ParseDataKeyID(m.Sealed.KeyID); !ok || dk.Kind != 'm' || dk.Message != id {
				bad.Shared = append(bad.Shared, id)
				continue
			}
			if _, _, gone, err := e.Keys.Destroyed(m.Sealed.KeyID); err != nil {
				return nil, time.Time{}, err
			} else if !gone {
				keys = append(keys, m.Sealed.KeyID)
			}
		}
	}
	if len(bad.NotFound)+len(bad.Shared)+len(bad.Plain) > 0 {
		return nil, time.Time{}, &bad
	}
	sort.Strings(keys)
	return keys, time.Time{}, nil
}

// MaxCancelNow bounds the open deliveries an erasure cancels before it
// answers; the delivery process cancels the others when each comes due (it
// finds the payload erased), so none is ever sent.
const MaxCancelNow = 1000

// cancelOpen cancels the application's open deliveries whose payload is now
// erased. The delivery process would cancel each when it came due; this
// does it now, so none waits for a retry that can never send anything.
func (e *Eraser) cancelOpen(ctx context.Context, app, erasureID string, md domain.Metadata) int {
	if e.Open == nil {
		return 0
	}
	n := 0
	for _, d := range e.Open(app, MaxCancelNow) {
		erasedBy, err := e.erasedBy(ctx, d.MessageID)
		if err != nil || erasedBy == "" {
			continue
		}
		md.CorrelationID = d.MessageID
		_, out, err := e.Commands.ChangeDelivery(ctx, d.ID, domain.CancelDelivery{Reason: "payload erased by " + erasedBy}, md)
		if err != nil {
			// Attempting now, most likely: the attempt finds the payload
			// gone next time and cancels the delivery itself.
			e.Log.Debug().Err(err).Str("delivery_id", d.ID).Msg("erased delivery not cancelled now")
			continue
		}
		if len(out.Events) > 0 {
			n++
		}
	}
	return n
}

// erasedBy answers which erasure made a message's payload unreadable ("":
// none).
func (e *Eraser) erasedBy(ctx context.Context, msgID string) (string, error) {
	recs, err := e.Store.ReadStream(ctx, domain.MessageStream(msgID), 0, domain.Forward, 1)
	if err != nil {
		return "", err
	}
	ev, err := domain.DecodeEvent(recs[0])
	if err != nil {
		return "", err
	}
	m, ok := ev.(domain.MessagePublished)
	if !ok || m.Sealed == nil {
		return "", nil
	}
	id, _, gone, err := e.Keys.Destroyed(m.Sealed.KeyID)
	if err != nil || !gone {
		return "", err
	}
	return id, nil
}

// OpenFromViews lists an application's open deliveries from folded views
// (read runs its argument under the views' read lock).
func OpenFromViews(read func(func(v *projections.Views))) func(app string, limit int) []OpenDelivery {
	return func(app string, limit int) []OpenDelivery {
		var out []OpenDelivery
		read(func(v *projections.Views) {
			v.Records().OpenDeliveries(func(d *projections.DeliveryView) bool {
				if d.ApplicationID == app {
					out = append(out, OpenDelivery{ID: d.ID, MessageID: d.MessageID})
				}
				return len(out) < limit
			})
		})
		return out
	}
}
