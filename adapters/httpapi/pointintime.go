package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Point-in-time reads fold the entity's own stream up to the point asked
// for, never $all from position 0: a subscription's stream holds its own
// changes only (tens of events), so the cost does not grow with the ledger.
// What the entity stream cannot tell (the health the deliveries fold into a
// subscription: failing_since, last_acknowledged_at) is left out of as_of
// answers.

// asOfPoint is an as_of parameter: a ledger position, or a time (the events
// the store committed at or before it).
type asOfPoint struct {
	pos domain.Position
	at  time.Time
}

func (p asOfPoint) includes(rec domain.RecordedEvent) bool {
	if p.pos != 0 {
		return rec.Position <= p.pos
	}
	return !rec.Created.After(p.at)
}

// subscriptionAsOf folds subscription id's stream up to p. ok is false when
// it did not exist yet.
func (s *Server) subscriptionAsOf(ctx context.Context, id string, p asOfPoint) (projections.SubscriptionView, bool, error) {
	var sv projections.SubscriptionView
	for from := uint64(0); ; {
		page, err := s.Store.ReadStream(ctx, domain.SubscriptionStream(id), from, domain.Forward, 256)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return sv, false, nil
		}
		if err != nil {
			return sv, false, err
		}
		for _, rec := range page {
			if !p.includes(rec) {
				return sv, sv.Exists(), nil
			}
			ev, err := domain.DecodeEvent(rec)
			if err != nil {
				return sv, false, err
			}
			if !sv.Exists() {
				sv.CreatedPosition = rec.Position
			}
			sv.Subscription = domain.EvolveSubscription(sv.Subscription, ev)
			sv.Position = rec.Position
		}
		if len(page) < 256 {
			return sv, sv.Exists(), nil
		}
		from = page[len(page)-1].Revision + 1
	}
}

// asOfPosition is the position an as_of answer stands at: the position asked
// for (never past the head), or, for a time, the newest position among the
// entities folded.
func (s *Server) asOfPosition(ctx context.Context, p asOfPoint, folded domain.Position) (domain.Position, error) {
	if p.pos == 0 {
		return folded, nil
	}
	head, err := s.Store.Head(ctx)
	if err != nil {
		return 0, err
	}
	return min(p.pos, head), nil
}
