package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// authThrottle slows down key guessing: every failed authentication spends a
// token of the client address's bucket, and an address with an empty bucket
// gets 429 before its key is even looked at (letting a good key through
// would tell a guesser when it guessed right). Successful requests cost
// nothing: only an address that keeps failing is slowed.
type authThrottle struct {
	mu      sync.Mutex
	perAddr map[string]*addrLimiter
	every   rate.Limit
	burst   int
	now     func() time.Time
}

type addrLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxThrottled bounds the addresses remembered; the idlest are forgotten.
const maxThrottled = 10_000

func newAuthThrottle(perSecond float64, burst int) *authThrottle {
	return &authThrottle{perAddr: map[string]*addrLimiter{}, every: rate.Limit(perSecond), burst: burst, now: time.Now}
}

// blocked says whether addr must wait, and for how long.
func (t *authThrottle) blocked(addr string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.perAddr[addr]
	if l == nil {
		return 0, false
	}
	now := t.now()
	if l.lim.TokensAt(now) >= 1 {
		return 0, false
	}
	r := l.lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d, true
}

// failed spends one token of addr's bucket.
func (t *authThrottle) failed(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	l := t.perAddr[addr]
	if l == nil {
		if len(t.perAddr) >= maxThrottled {
			t.forgetIdle(now)
		}
		l = &addrLimiter{lim: rate.NewLimiter(t.every, t.burst)}
		t.perAddr[addr] = l
	}
	l.seen = now
	l.lim.AllowN(now, 1)
}

// forgetIdle drops addresses whose bucket has refilled (they owe nothing),
// or, if none has, the oldest half.
func (t *authThrottle) forgetIdle(now time.Time) {
	for a, l := range t.perAddr {
		if l.lim.TokensAt(now) >= float64(t.burst) {
			delete(t.perAddr, a)
		}
	}
	if len(t.perAddr) < maxThrottled {
		return
	}
	cut := now.Add(-time.Minute)
	for a, l := range t.perAddr {
		if l.seen.Before(cut) || len(t.perAddr) >= maxThrottled {
			delete(t.perAddr, a)
		}
	}
}

// throttleAuth answers 429 to an address that failed authentication too
// often, then counts this request's failure if it fails.
func (s *Server) throttleAuth(c *gin.Context) {
	addr := c.ClientIP()
	if wait, ok := s.throttle.blocked(addr); ok {
		secs := int(wait/time.Second) + 1
		c.Header("Retry-After", strconv.Itoa(secs))
		writeProblem(c, http.StatusTooManyRequests, CodeTooManyAuthFailures,
			"too many failed authentications from this address; retry in "+strconv.Itoa(secs)+" s", "")
		return
	}
	c.Next()
	if c.Writer.Status() == http.StatusUnauthorized {
		s.Observer.AuthFailure()
		s.throttle.failed(addr)
		s.log.Warn().Str("client", addr).Str("route", c.FullPath()).Msg("authentication failed")
	}
}
