package domain

import "time"

// RetryPolicy decides when a failed delivery is tried again.
//
// Schedule[0] is the delay between the message's fan-out and the first
// attempt (normally 0); Schedule[k], k >= 1, is the delay after the k-th
// failed attempt before attempt k+1. len(Schedule) is the number of attempts:
// after that many failures the delivery is exhausted. Jitter applies to the
// retries (k >= 1), not to the first delay.
type RetryPolicy struct {
	Schedule []time.Duration
	// Jitter spreads each delay uniformly by +-Jitter (0.2 = +-20%), so that
	// endpoints recovering from an outage are not hit by a synchronized wave.
	Jitter float64
	// MaxRetryAfter bounds how far an endpoint's Retry-After can push a retry.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h,
// +-20% jitter, Retry-After honoured up to 24 h. Eight attempts over ~27.6 h.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		Schedule: []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		Jitter:        0.2,
		MaxRetryAfter: 24 * time.Hour,
	}
}

// PolicyFromMS builds a policy from a subscription's schedule in milliseconds
// (nil: the default), keeping the default jitter and Retry-After bound.
func PolicyFromMS(ms []int64) RetryPolicy {
	p := DefaultRetryPolicy()
	if len(ms) == 0 {
		return p
	}
	p.Schedule = make([]time.Duration, len(ms))
	for i, v := range ms {
		p.Schedule[i] = time.Duration(v) * time.Millisecond
	}
	return p
}

// NextDelay returns the delay before the next attempt after failed attempts
// have failed (failed >= 1), given a random number rnd in [0, 1) and the
// endpoint's Retry-After (0 if none). ok is false when the schedule is
// exhausted. honoured is true when Retry-After lengthened the delay.
func (p RetryPolicy) NextDelay(failed int, rnd float64, retryAfter time.Duration) (delay time.Duration, honoured, ok bool) {
	if failed < 1 || failed >= len(p.Schedule) {
		return 0, false, false
	}
	base := p.Schedule[failed]
	if rnd < 0 {
		rnd = 0
	} else if rnd >= 1 {
		rnd = 0.999999
	}
	delay = time.Duration(float64(base) * (1 + p.Jitter*(2*rnd-1)))
	if retryAfter > 0 {
		if p.MaxRetryAfter > 0 && retryAfter > p.MaxRetryAfter {
			retryAfter = p.MaxRetryAfter
		}
		if retryAfter > delay {
			delay, honoured = retryAfter, true
		}
	}
	return delay.Round(time.Millisecond), honoured, true
}
