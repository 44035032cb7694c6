package pipeline

// Workers: one attempt of one delivery, recorded in the ledger before and
// after the POST; subscription health; attempts a dead process left open.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type job struct {
	delivery projections.DeliveryView
	sub      projections.SubscriptionView
	cancel   bool
	// started: the attempt's start is in the ledger already (appended with
	// the schedule, startnow.go) and delivery includes it; in a cluster,
	// under lease, whose context leaseCtx ends when it may no longer run.
	started  bool
	lease    *domain.AttemptLease
	leaseCtx context.Context
}

func (r *Runner) md(d projections.DeliveryView, causation string) domain.Metadata {
	return domain.Metadata{Actor: r.opts.WorkerName, CorrelationID: d.MessageID, CausationID: causation}
}

// appendDelivery appends events decided on d, retrying transient store errors
// a few times. A wrong-revision error is returned at once: someone else moved
// the delivery.
func (r *Runner) appendDelivery(d projections.DeliveryView, events []domain.Event, causation string) ([]string, error) {
	var err error
	for try := 0; try < 5; try++ {
		var ids []string
		_, ids, err = r.opts.Commands.AppendDecided(context.Background(), domain.DeliveryStream(d.ID), d.Revision(), true, events, r.md(d, causation))
		if err == nil || errors.Is(err, domain.ErrWrongRevision) || errors.Is(err, domain.ErrInvalidArgument) || errors.Is(err, domain.ErrClosed) {
			return ids, err
		}
		time.Sleep(time.Duration(50<<try) * time.Millisecond)
	}
	return nil, err
}

func evolveAll(d projections.DeliveryView, events []domain.Event, ids []string) projections.DeliveryView {
	for i, e := range events {
		d.Delivery = domain.EvolveDelivery(d.Delivery, e)
		d.LastEventID = ids[i]
	}
	return d
}

// work makes one attempt of one delivery. hard ends in-flight sends when the
// shutdown grace period is over.
func (r *Runner) work(hard context.Context, j job) {
	defer r.finish(j)
	d := j.delivery
	// An attempt started already is in flight: like one a stop finds
	// under way, it is sent within the shutdown's grace period.
	if r.stopping.Load() && !j.started {
		r.release(d.ID, 0)
		return
	}
	now := r.clock.Now()
	if j.cancel {
		r.cancelDelivery(d, "subscription deleted", now)
		return
	}
	payload, keyID, perr := r.payload(context.Background(), d.MessageID, d.MessagePosition)
	var erased *domain.ErasedError
	if errors.As(perr, &erased) && !j.started {
		// Nothing left to send. (Started, it fails as "payload unavailable"
		// below, and its retry is cancelled here.)
		r.cancelDelivery(d, "payload erased by "+erased.ErasureID, now)
		return
	}
	// In a cluster the attempt runs under its partition's lease: it is
	// cut short when the lease ends, before another node may take it.
	send, lease, ok := r.attemptContext(hard, j)
	if !ok {
		r.release(d.ID, 0) // no longer ours: parked at the next dispatch
		return
	}
	defer lease.stop()
	if !j.started {
		if d, ok = r.startAttempt(d, lease, now); !ok {
			return
		}
	}
	result := r.sendAttempt(send, hard, j.sub, d, payload, perr, now)
	if sealer, ok := r.opts.Cipher.(domain.ExcerptSealer); ok && keyID != "" {
		// What the endpoint answered may quote the payload: it is erased with it.
		domain.SealExcerpt(context.Background(), sealer, keyID, d.MessageID, &result)
	}
	r.recordOutcome(send, hard, j.sub, d, result)
}

// logged adds the delivery's fields to one of the few lines logged about
// it: a logger made for every attempt cost an allocation per delivery for
// lines almost never written.
func logged(e *zerolog.Event, d projections.DeliveryView) *zerolog.Event {
	return e.Str("delivery_id", d.ID).Str("subscription_id", d.SubscriptionID)
}

// startAttempt appends the attempt's start at the delivery's revision and
// returns the delivery with it; ok is false when it was not appended (the
// delivery released, or moved by another owner).
func (r *Runner) startAttempt(d projections.DeliveryView, lease leaseScope, now time.Time) (projections.DeliveryView, bool) {
	evs, err := domain.DecideDelivery(d.Delivery, domain.StartAttempt{Worker: r.opts.WorkerName, Lease: lease.lease}, now)
	if err != nil {
		logged(r.log.Warn(), d).Err(err).Msg("cannot start an attempt")
		r.release(d.ID, time.Second)
		return d, false
	}
	ids, err := r.appendDelivery(d, evs, d.LastEventID)
	if errors.Is(err, domain.ErrWrongRevision) {
		return d, false // another owner, or the view is behind: wait for the newer event
	}
	if err != nil {
		logged(r.log.Error(), d).Err(err).Msg("attempt start not recorded")
		r.release(d.ID, time.Second)
		return d, false
	}
	r.stats.Attempts.Add(1)
	return evolveAll(d, evs, ids), true
}

// sendAttempt signs and sends the attempt d has open, unless something it
// needs is missing (the result then says what, as an internal error).
func (r *Runner) sendAttempt(send, hard context.Context, sv projections.SubscriptionView, d projections.DeliveryView, payload []byte, perr error, now time.Time) domain.AttemptResult {
	var result domain.AttemptResult
	keys := sv.ValidKeys(now)
	secrets := make([]string, len(keys))
	keyIDs := make([]string, len(keys))
	for i, k := range keys {
		secrets[i], keyIDs[i] = k.Secret, k.KeyID
	}
	signer, serr := domain.NewSigner(secrets...)
	switch {
	case send.Err() != nil && hard.Err() == nil:
		result = domain.AttemptResult{ErrorClass: domain.ErrorClassInternal, Error: "not sent: the partition's lease ended first"}
	case perr != nil:
		result = domain.AttemptResult{ErrorClass: domain.ErrorClassInternal, Error: "payload unavailable: " + perr.Error()}
	case serr != nil || len(keys) == 0:
		result = domain.AttemptResult{ErrorClass: domain.ErrorClassInternal, Error: "no valid signing key"}
	default:
		// Header values are kept encrypted like payloads; erased with the
		// application, they are no longer sent.
		sub, herr := domain.OpenSubscriptionHeaders(context.Background(), r.opts.Cipher, sv.Subscription)
		if herr != nil && !errors.Is(herr, domain.ErrErased) {
			result = domain.AttemptResult{ErrorClass: domain.ErrorClassInternal, Error: "headers unavailable: " + herr.Error()}
			break
		}
		result = r.opts.Sender.Send(send, sender.Request{ClientCert: sv.ClientCert,
			URL: sv.URL, MessageID: d.MessageID, Body: payload, Headers: sub.Headers, Signer: signer, Timestamp: now,
		})
	}
	result.Attempt, result.KeyIDs = d.OpenAttempt, keyIDs
	return result
}

// recordOutcome appends the attempt's outcome and the next step, and acts
// on it: an endpoint's slow-down, the subscription's health.
func (r *Runner) recordOutcome(send, hard context.Context, sv projections.SubscriptionView, d projections.DeliveryView, result domain.AttemptResult) {
	attempt := d.OpenAttempt
	policy := domain.PolicyFromMS(sv.RetryScheduleMS)
	var cmd any = domain.RecordOutcome{Result: result, Policy: policy, Random: r.opts.Random()}
	if hard.Err() != nil && result.ErrorClass != "" {
		// The shutdown cut the attempt short: the endpoint may or may not have
		// the message. Say so, and retry it at the next start.
		cmd = domain.CloseUnknownAttempt{Attempt: attempt, Reason: "shutdown interrupted the attempt"}
	} else if send.Err() != nil && result.ErrorClass != "" && result.ErrorClass != domain.ErrorClassInternal {
		cmd = domain.CloseUnknownAttempt{Attempt: attempt, Reason: "the partition's lease ended during the attempt"}
	}
	evs, err := domain.DecideDelivery(d.Delivery, cmd, r.clock.Now())
	if err != nil {
		logged(r.log.Error(), d).Err(err).Msg("cannot record the outcome")
		return
	}
	if _, err := r.appendDelivery(d, evs, d.LastEventID); err != nil {
		// Left open: the next start closes it as outcome unknown.
		logged(r.log.Error(), d).Err(err).Msg("attempt outcome not recorded")
		return
	}
	r.opts.Observer.AttemptFinished(result.ErrorClass, result.Latency)
	if result.ErrorClass == domain.ErrorClassThrottled && result.RetryAfter > 0 {
		// The endpoint asked to slow down: every delivery of the
		// subscription waits, not only this one (its Retry-After is in the
		// attempt_failed event), and no longer than the retry it pushes
		// out may wait (a year asked for is a day).
		wait := result.RetryAfter
		if policy.MaxRetryAfter > 0 {
			wait = min(wait, policy.MaxRetryAfter)
		}
		r.slowDown(sv.ID, r.clock.Now().Add(wait))
	}
	for _, e := range evs {
		if _, ok := e.(domain.RetryScheduled); ok {
			r.opts.Observer.RetryScheduled()
		}
	}
	if result.ErrorClass == "" {
		r.stats.Acknowledged.Add(1)
		return
	}
	r.stats.Failed.Add(1)
	logged(r.log.Debug(), d).Str("error_class", result.ErrorClass).Int("status", result.StatusCode).Int("attempt", attempt).Msg("attempt failed")
	r.checkHealth(sv.ID, d, result, r.clock.Now())
}

// leaseScope is the partition lease an attempt runs under (nil lease: no
// cluster); stop releases what attemptContext set up.
type leaseScope struct {
	lease *domain.AttemptLease
	stop  func()
}

// attemptContext is the context of one attempt: hard, ended too when the
// partition's lease ends. The lease is the one j's start was appended under
// when it was started with its schedule, the one held now otherwise; ok is
// false when none is held.
func (r *Runner) attemptContext(hard context.Context, j job) (context.Context, leaseScope, bool) {
	if r.opts.Ownership == nil {
		return hard, leaseScope{stop: func() {}}, true
	}
	l, lctx := j.lease, j.leaseCtx
	if !j.started {
		held, ctx, ok := r.opts.Ownership.Lease(j.delivery.SubscriptionID)
		if !ok {
			return nil, leaseScope{}, false
		}
		l, lctx = &held, ctx
	}
	ctx, cancel := context.WithCancel(hard)
	unhook := context.AfterFunc(lctx, cancel)
	return ctx, leaseScope{lease: l, stop: func() { unhook(); cancel() }}, true
}

// cancelDelivery ends a delivery that will never be attempted, saying why.
func (r *Runner) cancelDelivery(d projections.DeliveryView, reason string, now time.Time) {
	evs, err := domain.DecideDelivery(d.Delivery, domain.CancelDelivery{Reason: reason}, now)
	if err == nil && len(evs) > 0 {
		_, err = r.appendDelivery(d, evs, d.LastEventID)
	}
	if err != nil && !errors.Is(err, domain.ErrWrongRevision) {
		r.log.Error().Err(err).Str("delivery_id", d.ID).Str("reason", reason).Msg("cancel failed")
		r.release(d.ID, time.Second)
	}
}

// checkHealth disables a subscription that answered 410 Gone, or whose
// attempts have all failed for the failure window.
func (r *Runner) checkHealth(subID string, d projections.DeliveryView, result domain.AttemptResult, now time.Time) {
	var reason, detail string
	if result.ErrorClass == domain.ErrorClassGone {
		reason, detail = domain.DisabledGone, "the endpoint answered 410 Gone"
	} else {
		r.mu.RLock()
		var since time.Time
		if sv := r.views.Subscriptions[subID]; sv != nil {
			since = sv.FailingSince
		}
		r.mu.RUnlock()
		if since.IsZero() || now.Sub(since) < r.opts.FailureWindow {
			return
		}
		reason, detail = domain.DisabledFailing, fmt.Sprintf("every attempt failed since %s (window %s)", since.UTC().Format(time.RFC3339), r.opts.FailureWindow)
	}
	_, out, err := r.opts.Commands.ChangeSubscription(context.Background(), "", subID, domain.DisableSubscription{Reason: reason, Detail: detail},
		domain.Metadata{Actor: r.opts.WorkerName, CorrelationID: d.MessageID, CausationID: d.LastEventID})
	if err != nil {
		r.log.Error().Err(err).Str("subscription_id", subID).Msg("could not disable the subscription")
		return
	}
	if len(out.Events) > 0 {
		r.log.Warn().Str("subscription_id", subID).Str("reason", reason).Str("detail", detail).Msg("subscription disabled; its pending deliveries wait and can be recovered")
	}
}

// attemptIndex lists the committed deliveries with an attempt started and
// no outcome, at a cost of the attempts, not of the open deliveries.
type attemptIndex interface {
	Attempting(fn func(id string) bool)
}

// recoverOpenAttempts closes every attempt that started before this process
// and has no outcome: the previous process died during it.
func (r *Runner) recoverOpenAttempts() {
	r.mu.Lock()
	var open []projections.DeliveryView
	r.commitForRead()
	r.openIndex().Attempting(func(id string) bool {
		if d := r.views.Delivery(id); d != nil && d.Status == domain.DeliveryStatusAttempting {
			open = append(open, *d)
			r.inflight[id] = d.Version + 1
		}
		return true
	})
	r.mu.Unlock()
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	for _, d := range open {
		evs, err := domain.DecideDelivery(d.Delivery, domain.CloseUnknownAttempt{Attempt: d.OpenAttempt, Reason: "the process stopped before the outcome was recorded"}, r.clock.Now())
		if err == nil {
			_, err = r.appendDelivery(d, evs, d.LastEventID)
		}
		if err != nil {
			r.log.Error().Err(err).Str("delivery_id", d.ID).Msg("could not close an interrupted attempt")
			continue
		}
	}
	if len(open) > 0 {
		r.log.Warn().Int("attempts", len(open)).Msg("closed attempts interrupted by the last stop as outcome unknown; they are retried")
	}
}
