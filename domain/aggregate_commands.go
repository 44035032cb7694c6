package domain

// The commands of each aggregate, run through Commands' load-decide-append
// (commands.go).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// CreateApplication registers a tenant.
func (c *Commands) CreateApplication(ctx context.Context, cmd CreateApplication, md Metadata) (Application, Outcome, error) {
	return c.changeApplication(ctx, cmd.ApplicationID, cmd, md)
}

// RenameApplication renames a tenant.
func (c *Commands) RenameApplication(ctx context.Context, id string, cmd RenameApplication, md Metadata) (Application, Outcome, error) {
	return c.ChangeApplicationIf(ctx, id, nil, cmd, md)
}

// DeleteApplication offboards a tenant: it records the deletion (once;
// again, nothing). Deleting its subscriptions and revoking its keys is the
// caller's, each in its own stream.
func (c *Commands) DeleteApplication(ctx context.Context, id string, cmd DeleteApplication, md Metadata) (Application, Outcome, error) {
	return c.ChangeApplicationIf(ctx, id, nil, cmd, md)
}

// ChangeApplicationIf runs RenameApplication or DeleteApplication only on
// one of revisions (an If-Match; none: on any), else a *PreconditionError,
// weighed as ChangeSubscriptionIf weighs it: after the command is decided,
// and again after a lost append race.
func (c *Commands) ChangeApplicationIf(ctx context.Context, id string, revisions []uint64, cmd any, md Metadata) (Application, Outcome, error) {
	if err := ValidateID("id", id); err != nil {
		return Application{}, Outcome{}, err
	}
	return execute(ctx, c, ApplicationStream(id), EvolveApplication,
		func(s Application, now time.Time, _ *Metadata) ([]Event, error) {
			evs, err := DecideApplication(s, cmd, now)
			if err == nil && len(revisions) > 0 && !slices.Contains(revisions, s.Revision()) {
				return nil, &PreconditionError{Aggregate: "application", ID: id, Revision: s.Revision()}
			}
			return evs, err
		}, md)
}

// changeApplication runs one application command on its stream.
func (c *Commands) changeApplication(ctx context.Context, id string, cmd any, md Metadata) (Application, Outcome, error) {
	return execute(ctx, c, ApplicationStream(id), EvolveApplication,
		func(s Application, now time.Time, _ *Metadata) ([]Event, error) {
			return DecideApplication(s, cmd, now)
		}, md)
}

// GetApplication folds a tenant's stream.
func (c *Commands) GetApplication(ctx context.Context, id string) (Application, error) {
	if err := ValidateID("id", id); err != nil {
		return Application{}, err
	}
	a, _, _, err := Load(ctx, c.Store, ApplicationStream(id), EvolveApplication)
	if err == nil && !a.Exists {
		err = ErrNotFound
	}
	return a, err
}

// CreateSubscription registers an endpoint of an existing application.
func (c *Commands) CreateSubscription(ctx context.Context, cmd CreateSubscription, md Metadata) (Subscription, Outcome, error) {
	if err := ValidateID("application_id", cmd.ApplicationID); err != nil {
		return Subscription{}, Outcome{}, err
	}
	app, err := c.GetApplication(ctx, cmd.ApplicationID)
	if err != nil {
		return Subscription{}, Outcome{}, fmt.Errorf("application %s: %w", cmd.ApplicationID, err)
	}
	if app.Deleted() {
		return Subscription{}, Outcome{}, &StateError{Aggregate: "application", ID: app.ID, State: "deleted", Command: "subscribe to it"}
	}
	if err := ValidateID("id", cmd.SubscriptionID); err != nil {
		return Subscription{}, Outcome{}, err
	}
	return execute(ctx, c, SubscriptionStream(cmd.SubscriptionID), EvolveSubscription,
		func(s Subscription, now time.Time, _ *Metadata) ([]Event, error) {
			return c.decideSubscription(ctx, s, cmd.ApplicationID, cmd, now)
		}, md)
}

// decideSubscription decides on the subscription with its headers in the
// clear (an update keeps redacted credential values from them), then seals
// the headers of the events when the ledger encrypts.
func (c *Commands) decideSubscription(ctx context.Context, s Subscription, app string, cmd any, now time.Time) ([]Event, error) {
	if c.Cipher == nil && s.HeadersSealed == nil {
		return DecideSubscription(s, cmd, now)
	}
	if s.HeadersSealed != nil {
		var err error
		if s, err = OpenSubscriptionHeaders(ctx, c.Cipher, s); err != nil && !errors.Is(err, ErrErased) {
			return nil, err
		}
	}
	evs, err := DecideSubscription(s, cmd, now)
	if err != nil || c.Cipher == nil {
		return evs, err
	}
	if app == "" {
		app = s.ApplicationID
	}
	for i, ev := range evs {
		if evs[i], err = SealSubscriptionHeaders(ctx, c.Cipher, app, ev); err != nil {
			return nil, fmt.Errorf("encrypt the headers: %w", err)
		}
	}
	return evs, nil
}

// ChangeSubscription runs any subscription command other than create. When
// applicationID is not empty, a subscription of another application is
// reported as not found.
func (c *Commands) ChangeSubscription(ctx context.Context, applicationID, id string, cmd any, md Metadata) (Subscription, Outcome, error) {
	return c.ChangeSubscriptionIf(ctx, applicationID, id, nil, cmd, md)
}

// ChangeSubscriptionIf is ChangeSubscription made conditional: with
// revisions not empty, the command runs only if the subscription's stream
// stands at one of them, and is refused with a *PreconditionError
// otherwise. The condition is weighed after the command is decided, so a
// command that fails for another reason (a deleted subscription, a pause of
// a paused one) reports that reason, as HTTP asks of If-Match (RFC 9110,
// 13.2.1). A lost append race re-reads the stream and weighs the condition
// again: a command is never applied to a revision the caller did not name.
func (c *Commands) ChangeSubscriptionIf(ctx context.Context, applicationID, id string, revisions []uint64, cmd any, md Metadata) (Subscription, Outcome, error) {
	if err := ValidateID("id", id); err != nil {
		return Subscription{}, Outcome{}, err
	}
	return execute(ctx, c, SubscriptionStream(id), EvolveSubscription,
		func(s Subscription, now time.Time, _ *Metadata) ([]Event, error) {
			if applicationID != "" && s.Exists() && s.ApplicationID != applicationID {
				return nil, ErrNotFound
			}
			evs, err := c.decideSubscription(ctx, s, "", cmd, now)
			if err == nil && len(revisions) > 0 && !slices.Contains(revisions, s.Revision()) {
				return nil, &PreconditionError{Aggregate: "subscription", ID: id, Revision: s.Revision()}
			}
			return evs, err
		}, md)
}

// Publish publishes a message. A duplicate (same idempotency key and payload)
// returns the first message with Outcome.Events empty.
func (c *Commands) Publish(ctx context.Context, cmd PublishMessage, md Metadata) (Message, Outcome, error) {
	if md.CorrelationID == "" {
		md.CorrelationID = cmd.MessageID
	}
	if err := ValidateID("id", cmd.MessageID); err != nil {
		return Message{}, Outcome{}, err
	}
	return execute(ctx, c, MessageStream(cmd.MessageID), EvolveMessage,
		func(s Message, now time.Time, _ *Metadata) ([]Event, error) {
			evs, err := DecidePublish(s, cmd, now)
			if err == nil {
				err = c.sealPayloads(ctx, evs)
			}
			return evs, err
		}, md)
}

// PublishNew publishes a message whose id the caller just drew (no
// idempotency key): the stream cannot exist, so the read is skipped.
func (c *Commands) PublishNew(ctx context.Context, cmd PublishMessage, md Metadata) (MessagePublished, AppendResult, error) {
	if cmd.IdempotencyKey != "" {
		return MessagePublished{}, AppendResult{}, invalid("idempotency_key", "use Publish for messages with an idempotency key")
	}
	now := c.Now().UTC()
	events, err := DecidePublish(Message{}, cmd, now)
	if err == nil {
		err = c.sealPayloads(ctx, events)
	}
	if err != nil {
		return MessagePublished{}, AppendResult{}, err
	}
	md.RecordedAt = now
	if md.CorrelationID == "" {
		md.CorrelationID = cmd.MessageID
	}
	res, _, err := c.append(ctx, MessageStream(cmd.MessageID), NoStream, events, md)
	if err != nil {
		return MessagePublished{}, AppendResult{}, err
	}
	return events[0].(MessagePublished), res, nil
}

// ChangeDelivery runs a delivery command (redeliver, cancel, ...) on the
// delivery's current stream state.
func (c *Commands) ChangeDelivery(ctx context.Context, id string, cmd any, md Metadata) (Delivery, Outcome, error) {
	if err := ValidateID("id", id); err != nil {
		return Delivery{}, Outcome{}, err
	}
	return execute(ctx, c, DeliveryStream(id), EvolveDelivery,
		func(d Delivery, now time.Time, md *Metadata) ([]Event, error) {
			if md.CorrelationID == "" {
				md.CorrelationID = d.MessageID
			}
			return DecideDelivery(d, cmd, now)
		}, md)
}

// ChangeErasure runs an erasure command (request, complete) on its stream.
func (c *Commands) ChangeErasure(ctx context.Context, id string, cmd any, md Metadata) (Erasure, Outcome, error) {
	if err := ValidateID("erasure_id", id); err != nil {
		return Erasure{}, Outcome{}, err
	}
	return execute(ctx, c, ErasureStream(id), EvolveErasure,
		func(s Erasure, now time.Time, _ *Metadata) ([]Event, error) { return DecideErasure(s, cmd, now) }, md)
}
