package logging

import (
	"sync"
	"time"
)

// Repeats quiets a log line that repeats: the first occurrence of a key in a
// window is logged, later ones within the window are counted, and the next
// one logged after the window says how many were left out. A client that
// reports the same reconnect failure every few milliseconds then costs one
// line per window, not thousands.
type Repeats struct {
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]*repeat
}

type repeat struct {
	last       time.Time
	suppressed int
}

// maxRepeatKeys bounds the keys remembered.
const maxRepeatKeys = 1024

// NewRepeats quiets repeats of a key within window.
func NewRepeats(window time.Duration) *Repeats {
	return &Repeats{window: window, now: time.Now, seen: map[string]*repeat{}}
}

// Allow says whether a line with this key is logged now, and how many lines
// with the key were left out since the last one logged.
func (r *Repeats) Allow(key string) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	e := r.seen[key]
	if e == nil {
		if len(r.seen) >= maxRepeatKeys {
			r.seen = map[string]*repeat{}
		}
		r.seen[key] = &repeat{last: now}
		return true, 0
	}
	if now.Sub(e.last) < r.window {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}
