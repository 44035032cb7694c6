package pipeline

// Per-subscription pacing: a subscription's rate limit (a token bucket,
// golang.org/x/time/rate) and an endpoint's own "slow down" (429 with
// Retry-After), which holds every delivery of that subscription, not only
// the one answered. Deliveries held stay pending and say why
// (WaitingReason).

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Reasons a due delivery is not being attempted.
const (
	WaitRateLimited = "rate_limited"          // the subscription's rate limit
	WaitThrottled   = "throttled_by_endpoint" // the endpoint answered 429 with Retry-After
	WaitConcurrency = "concurrency_limit"     // --per-subscription attempts already in flight
	WaitPaused      = "subscription_paused"   // held until the resume
	WaitDisabled    = "subscription_disabled" // held until the resume
)

type subLimiter struct {
	limit domain.RateLimit
	lim   *rate.Limiter
}

// paceLocked says how long a delivery of sv due now must wait for the
// subscription's pacing, and why (0: it may go; a token is taken).
func (r *Runner) paceLocked(sv *projections.SubscriptionView, now time.Time) (time.Duration, string) {
	if until, ok := r.throttled[sv.ID]; ok {
		if now.Before(until) {
			return until.Sub(now), WaitThrottled
		}
		delete(r.throttled, sv.ID)
	}
	if sv.RateLimit == nil {
		delete(r.limiters, sv.ID)
		return 0, ""
	}
	l := r.limiters[sv.ID]
	if l == nil || l.limit != *sv.RateLimit {
		l = &subLimiter{limit: *sv.RateLimit, lim: rate.NewLimiter(rate.Limit(sv.RateLimit.PerSecond), sv.RateLimit.Burst)}
		r.limiters[sv.ID] = l
	}
	res := l.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second, WaitRateLimited
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, WaitRateLimited
	}
	return 0, ""
}

// slowDown holds a subscription's deliveries until the endpoint's
// Retry-After has passed.
func (r *Runner) slowDown(sub string, until time.Time) {
	r.mu.Lock()
	if until.After(r.throttled[sub]) {
		r.throttled[sub] = until
	}
	r.mu.Unlock()
}

// movesEndpointLocked returns the subscription ev moves to another URL
// ("" for any other event); read before ev is applied.
func (r *Runner) movesEndpointLocked(ev domain.Event) string {
	e, ok := ev.(domain.SubscriptionUpdated)
	if !ok {
		return ""
	}
	if sv := r.views.Subscriptions[e.SubscriptionID]; sv != nil && sv.URL != e.URL {
		return e.SubscriptionID
	}
	return ""
}

// endpointMovedLocked forgets the slow-down the subscription's endpoint
// asked for: the new endpoint asked for nothing, and the deliveries it held
// go as soon as they are due. (A retry the 429 pushed out keeps its due
// time, recorded in the ledger.)
func (r *Runner) endpointMovedLocked(sub string) {
	if _, ok := r.throttled[sub]; !ok {
		return
	}
	delete(r.throttled, sub)
	if h, ok := r.held[sub]; ok && h.why == WaitThrottled {
		delete(r.held, sub)
		if r.ownsLocked(sub) {
			r.queue.holdUntil(sub, time.Time{})
		}
		r.kick()
	}
}

// WaitingReason says why an open, due delivery is not being attempted ("":
// it is not held, or not due yet).
func (r *Runner) WaitingReason(deliveryID string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if why := r.waitReason[deliveryID]; why != "" {
		return why
	}
	d := r.views.Delivery(deliveryID)
	now := r.clock.Now()
	if d == nil || !dispatchable(d.Status) || d.NextDueAt.After(now) {
		return ""
	}
	if _, busy := r.inflight[deliveryID]; busy {
		return ""
	}
	sub := d.SubscriptionID
	switch sv := r.views.Subscriptions[sub]; {
	case sv == nil:
		return ""
	case sv.Status == domain.StatusPaused:
		return WaitPaused
	case sv.Status == domain.StatusDisabled:
		return WaitDisabled
	}
	if h, ok := r.held[sub]; ok && now.Before(h.until) {
		return h.why
	}
	if r.queue.blocked(sub) {
		return WaitConcurrency
	}
	return ""
}
