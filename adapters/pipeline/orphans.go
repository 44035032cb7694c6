package pipeline

// Orphans: a subscription or an application key created for an application
// whose deletion the ledger already holds. The API refuses such a write
// once its views have folded the deletion, and the deletion deletes what
// the views hold once they have folded the ledger's head; a write checked
// against views a moment behind (this node's, or another node's in a
// cluster) and appended after that head falls between the two. The fold
// meets it after the deletion, and deletes (revokes) it here, as the
// deletion would have.

import (
	"context"
	"errors"

	"github.com/hookledger/hookledger/domain"
)

// orphan is a subscription or a key to finish off.
type orphan struct {
	app, sub, key string
}

// orphanLocked returns the announcement that carries an orphan ev
// creates, judged on the views before ev is applied (nil when none).
func (r *Runner) orphanLocked(rec domain.RecordedEvent, ev domain.Event) *opAnnouncement {
	// Plain values until an orphan is found: the fold calls this for
	// every event, and an orphan whose address escaped would be allocated
	// at each call.
	var app, sub, key string
	switch e := ev.(type) {
	case domain.SubscriptionCreated:
		app, sub = e.ApplicationID, e.SubscriptionID
	case domain.APIKeyCreated:
		app, key = e.ApplicationID, e.KeyID
	}
	if app == "" {
		return nil
	}
	if a, ok := r.views.Applications[app]; !ok || !a.Deleted() {
		return nil
	}
	return &opAnnouncement{eventID: rec.ID, orphan: &orphan{app: app, sub: sub, key: key}}
}

// finishOrphan deletes the subscription, or revokes the key, of a deleted
// application. Every node of a cluster folds the same event and may do it:
// one records it, the others find it done.
func (r *Runner) finishOrphan(ctx context.Context, causation string, o *orphan) {
	md := domain.Metadata{Actor: "hookledger", CausationID: causation}
	var out domain.Outcome
	var err error
	if o.sub != "" {
		_, out, err = r.opts.Commands.ChangeSubscription(ctx, o.app, o.sub,
			domain.DeleteSubscription{Reason: "its application was deleted before it was created"}, md)
		if errors.Is(err, domain.ErrNotFound) {
			return // deleted already (a fold from the start meets it again)
		}
	} else {
		_, out, err = r.opts.Commands.RevokeAPIKey(ctx, o.key, md)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error().Err(err).Str("application_id", o.app).Str("subscription_id", o.sub).Str("key_id", o.key).
				Msg("created for a deleted application, and not deleted: delete the application again")
		}
		return
	}
	if len(out.Events) > 0 {
		r.log.Info().Str("application_id", o.app).Str("subscription_id", o.sub).Str("key_id", o.key).
			Msg("created for an application already deleted: deleted")
	}
}
