package pipeline_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
)

// script answers each endpoint's n-th request with the n-th behaviour in its
// list (the last one repeats).
type script struct {
	mu    sync.Mutex
	plans map[string][]string
	calls map[string]int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	plan := s.plans[r.URL.Path]
	n := s.calls[r.URL.Path]
	s.calls[r.URL.Path]++
	s.mu.Unlock()
	step := plan[min(n, len(plan)-1)]
	switch step {
	case "200":
		w.WriteHeader(200)
	case "500":
		w.WriteHeader(500)
		w.Write([]byte("internal error"))
	case "410":
		w.WriteHeader(410)
	case "429":
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(429)
	case "429-year":
		w.Header().Set("Retry-After", "31536000")
		w.WriteHeader(429)
	case "302":
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
	case "slow":
		time.Sleep(600 * time.Millisecond)
	case "reset":
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	case "huge":
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("y"), 1<<20)
		for i := 0; i < 10; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

func (s *script) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// TestFaultsAreClassifiedAndRetriesFollowTheSchedule runs a scripted receiver
// against the pipeline on a fake clock: each outcome is recorded with its
// class, and each retry is due exactly when the schedule says (jitter is
// pinned to the middle).
func TestFaultsAreClassifiedAndRetriesFollowTheSchedule(t *testing.T) {
	sc := &script{calls: map[string]int{}, plans: map[string][]string{
		"/flaky":    {"500", "200"},
		"/slow":     {"slow", "200"},
		"/reset":    {"reset", "200"},
		"/gone":     {"410"},
		"/throttle": {"429", "200"},
		"/redirect": {"302"},
		"/huge":     {"huge"},
	}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	h := newHarness(t, harnessOpts{clock: fake, sender: sender.Options{Timeout: 300 * time.Millisecond}})
	h.app("app")
	for path := range sc.plans {
		h.sub("app", "sub_"+path[1:], srv.URL+path, "*")
	}
	h.start()
	msg, _ := h.publish("app", "order.paid", `{"id":1}`)
	dlv := func(name string) string { return domain.DeliveryIDFor(msg, "sub_"+name) }
	state := func(name string) domain.Delivery { return h.delivery(dlv(name)).Delivery }

	settled := func(name string, attempts int) func() bool {
		return func() bool {
			d := state(name)
			return d.Attempts == attempts && d.Status != domain.DeliveryStatusAttempting && d.Status != ""
		}
	}
	for name := range sc.plans {
		waitUntil(t, 10*time.Second, name+" first attempt recorded", settled(name[1:], 1))
	}
	lastFailure := func(name string) domain.AttemptFailed {
		var f domain.AttemptFailed
		for _, e := range h.timeline(dlv(name)) {
			if x, ok := e.(domain.AttemptFailed); ok {
				f = x
			}
		}
		return f
	}
	for name, class := range map[string]string{
		"flaky": domain.ErrorClassHTTPStatus, "slow": domain.ErrorClassTimeout, "reset": domain.ErrorClassConnectionReset,
		"gone": domain.ErrorClassGone, "throttle": domain.ErrorClassThrottled, "redirect": domain.ErrorClassRedirect,
	} {
		f := lastFailure(name)
		if f.ErrorClass != class {
			t.Errorf("%s: recorded class %q (%s), want %q", name, f.ErrorClass, f.Error, class)
		}
		d := state(name)
		want := t0.Add(5 * time.Second)
		if name == "throttle" {
			want = t0.Add(120 * time.Second) // Retry-After 120 s beats the 5 s schedule
		}
		if d.Status != domain.DeliveryStatusFailed || !d.NextDueAt.Equal(want) {
			t.Errorf("%s: status %s due %v, want failed, due %v", name, d.Status, d.NextDueAt, want)
		}
	}
	// A 10 MiB answer with 200 is acknowledged, the excerpt capped.
	if d := state("huge"); d.Status != domain.DeliveryStatusAcknowledged {
		t.Fatalf("huge: %s", d.Status)
	}
	ack := h.timeline(dlv("huge"))[2].(domain.AttemptAcknowledged)
	if len(ack.ResponseExcerpt) != domain.MaxResponseExcerpt {
		t.Fatalf("huge: excerpt of %d bytes recorded, want %d", len(ack.ResponseExcerpt), domain.MaxResponseExcerpt)
	}
	// 410 disabled the subscription; its delivery waits, parked.
	waitUntil(t, 5*time.Second, "sub_gone disabled", func() bool { return h.subscription("sub_gone").Status == domain.StatusDisabled })
	if r := h.subscription("sub_gone").DisabledReason; r != domain.DisabledGone {
		t.Fatalf("sub_gone disabled with reason %q", r)
	}

	// 5 s later: the second attempts. flaky, slow and reset now succeed.
	fake.Advance(5 * time.Second)
	for _, name := range []string{"flaky", "slow", "reset"} {
		waitUntil(t, 10*time.Second, name+" acknowledged on attempt 2", func() bool {
			d := state(name)
			return d.Status == domain.DeliveryStatusAcknowledged && d.Attempts == 2
		})
	}
	waitUntil(t, 10*time.Second, "redirect attempt 2", settled("redirect", 2))
	if d := state("redirect"); !d.NextDueAt.Equal(t0.Add(5*time.Second + 5*time.Minute)) {
		t.Fatalf("redirect: third attempt due %v, want 5 min after the second", d.NextDueAt)
	}
	if state("throttle").Attempts != 1 || sc.count("/throttle") != 1 {
		t.Fatal("throttle retried before its Retry-After")
	}
	if n := sc.count("/gone"); n != 1 {
		t.Fatalf("a disabled subscription was attempted again (%d calls)", n)
	}

	fake.Advance(115 * time.Second) // t0 + 120 s
	waitUntil(t, 10*time.Second, "throttle acknowledged after Retry-After", func() bool {
		return state("throttle").Status == domain.DeliveryStatusAcknowledged
	})

	// Walk the redirect delivery through the whole schedule to exhaustion.
	for _, step := range []time.Duration{5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour} {
		n := state("redirect").Attempts
		fake.Advance(step)
		waitUntil(t, 10*time.Second, "next redirect attempt", settled("redirect", n+1))
	}
	if d := state("redirect"); d.Status != domain.DeliveryStatusExhausted || d.Attempts != 8 {
		t.Fatalf("redirect after 8 attempts: %s (%d attempts)", d.Status, d.Attempts)
	}
	// Resuming the disabled subscription releases its parked delivery.
	sc.mu.Lock()
	sc.plans["/gone"] = []string{"410", "200"}
	sc.mu.Unlock()
	if _, _, err := h.cmds.ChangeSubscription(t.Context(), "app", "sub_gone", domain.ResumeSubscription{}, md); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "gone delivered after resume", func() bool {
		return state("gone").Status == domain.DeliveryStatusAcknowledged
	})
	h.stop()
}

// TestFailingSubscriptionDisabledAfterWindow: every attempt fails for longer
// than the failure window, so the subscription is disabled with reason
// "failing"; its deliveries stay pending and visible.
func TestFailingSubscriptionDisabledAfterWindow(t *testing.T) {
	sc := &script{calls: map[string]int{}, plans: map[string][]string{"/down": {"500"}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	h := newHarness(t, harnessOpts{clock: fake, options: func(o *pipeline.Options) { o.FailureWindow = time.Hour }})
	h.app("app")
	h.sub("app", "sub_down", srv.URL+"/down", "*")
	h.start()
	msg, _ := h.publish("app", "a.b", `{}`)
	id := domain.DeliveryIDFor(msg, "sub_down")
	waitUntil(t, 5*time.Second, "first failure", func() bool {
		return h.delivery(id).Attempts == 1 && h.delivery(id).Status == domain.DeliveryStatusFailed
	})
	for _, step := range []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour} {
		n := h.delivery(id).Attempts
		fake.Advance(step)
		waitUntil(t, 5*time.Second, "next failure", func() bool {
			d := h.delivery(id)
			return d.Attempts == n+1 && d.Status != domain.DeliveryStatusAttempting
		})
	}
	waitUntil(t, 5*time.Second, "disabled for failing", func() bool { return h.subscription("sub_down").Status == domain.StatusDisabled })
	if s := h.subscription("sub_down"); s.DisabledReason != domain.DisabledFailing {
		t.Fatalf("reason %q", s.DisabledReason)
	}
	if d := h.delivery(id); d.Status != domain.DeliveryStatusFailed {
		t.Fatalf("the delivery of a disabled subscription must stay pending (failed, retry due), got %s", d.Status)
	}
}

// TestBlockedTargetRecordedAsOutcome: with private targets not allowed, an
// attempt to a loopback endpoint is refused by the network guard and the
// refusal is the attempt's recorded outcome.
func TestBlockedTargetRecordedAsOutcome(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	h := newHarness(t, harnessOpts{options: func(o *pipeline.Options) {
		o.Sender = sender.New(sender.Options{Timeout: time.Second}) // guarded: no AllowPrivate
	}})
	h.app("app")
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	h.sub("app", "sub_local", "http://localhost:"+port+"/hook", "*")
	h.start()
	msg, _ := h.publish("app", "a.b", `{}`)
	id := domain.DeliveryIDFor(msg, "sub_local")
	waitUntil(t, 5*time.Second, "first attempt recorded", func() bool { return h.delivery(id).Status == domain.DeliveryStatusFailed })
	tl := h.timeline(id)
	f, ok := tl[2].(domain.AttemptFailed)
	if !ok || f.ErrorClass != domain.ErrorClassBlockedTarget || f.StatusCode != 0 {
		t.Fatalf("timeline %s: %+v", types(tl), tl[2])
	}
	if hits != 0 {
		t.Fatal("the guarded sender reached the loopback endpoint")
	}
}

// TestRetryScheduleElementZeroDelaysTheFirstAttempt: with retry_schedule_ms
// [1000, 2000, 3000] the first attempt waits 1 s, the second 2 s after the
// first failure, the third 3 s after the second (jitter pinned to the
// middle), and the delivery is exhausted after 3 attempts.
func TestRetryScheduleElementZeroDelaysTheFirstAttempt(t *testing.T) {
	sc := &script{calls: map[string]int{}, plans: map[string][]string{"/down": {"500"}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	h := newHarness(t, harnessOpts{clock: fake})
	h.app("app")
	if _, _, err := h.cmds.CreateSubscription(t.Context(), domain.CreateSubscription{SubscriptionID: "sub_s", ApplicationID: "app",
		URL: srv.URL + "/down", EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret(), RetryScheduleMS: []int64{1000, 2000, 3000}}, md); err != nil {
		t.Fatal(err)
	}
	h.start()
	msg, _ := h.publish("app", "order.paid", `{"id":1}`)
	dlv := domain.DeliveryIDFor(msg, "sub_s")
	waitUntil(t, 10*time.Second, "scheduled", func() bool { return h.delivery(dlv).Status != "" })
	if d := h.delivery(dlv); !d.NextDueAt.Equal(t0.Add(time.Second)) || d.Attempts != 0 {
		t.Fatalf("first attempt due %v after %d attempts, want t0+1s", d.NextDueAt, d.Attempts)
	}
	time.Sleep(100 * time.Millisecond)
	if sc.count("/down") != 0 {
		t.Fatal("attempted before schedule[0] elapsed")
	}
	fake.Advance(time.Second)
	waitUntil(t, 10*time.Second, "attempt 1", func() bool { d := h.delivery(dlv); return d.Attempts == 1 && d.Status == domain.DeliveryStatusFailed })
	if d := h.delivery(dlv); !d.NextDueAt.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("second attempt due %v, want 2 s after the first", d.NextDueAt)
	}
	fake.Advance(2 * time.Second)
	waitUntil(t, 10*time.Second, "attempt 2", func() bool { d := h.delivery(dlv); return d.Attempts == 2 && d.Status == domain.DeliveryStatusFailed })
	if d := h.delivery(dlv); !d.NextDueAt.Equal(t0.Add(6 * time.Second)) {
		t.Fatalf("third attempt due %v, want 3 s after the second", d.NextDueAt)
	}
	fake.Advance(3 * time.Second)
	waitUntil(t, 10*time.Second, "exhausted", func() bool { return h.delivery(dlv).Status == domain.DeliveryStatusExhausted })
	if d := h.delivery(dlv); d.Attempts != 3 || sc.count("/down") != 3 {
		t.Fatalf("exhausted after %d attempts (%d requests), want 3", d.Attempts, sc.count("/down"))
	}
	h.stop()
}

// throttled is a subscription whose endpoint answered its first delivery
// 429 (with the Retry-After of plan's first step), and whose second
// delivery is held for it.
type throttled struct {
	h      *harness
	sc     *script
	srv    *httptest.Server
	fake   *clock.Fake
	t0     time.Time
	d1, d2 string
}

// throttle starts the pipeline on a fake clock with sub_busy's endpoint at
// /busy answering plans["/busy"] in turn, and waits until d1 was answered
// (failed) and d2 is held as throttled.
func throttle(t *testing.T, plans map[string][]string) *throttled {
	t.Helper()
	x := &throttled{sc: &script{calls: map[string]int{}, plans: plans}, t0: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	x.srv = httptest.NewServer(x.sc)
	t.Cleanup(x.srv.Close)
	x.fake = clock.NewFake(x.t0)
	x.h = newHarness(t, harnessOpts{clock: x.fake, options: func(o *pipeline.Options) { o.PerSubscription = 1 }})
	x.h.app("app")
	x.h.sub("app", "sub_busy", x.srv.URL+"/busy", "*")
	x.h.start()
	m1, _ := x.h.publish("app", "order.paid", `{"id":1}`)
	x.d1 = domain.DeliveryIDFor(m1, "sub_busy")
	waitUntil(t, 10*time.Second, "first attempt answered 429", func() bool {
		d := x.h.delivery(x.d1)
		return d.Attempts == 1 && d.Status == domain.DeliveryStatusFailed
	})
	m2, _ := x.h.publish("app", "order.paid", `{"id":2}`)
	x.d2 = domain.DeliveryIDFor(m2, "sub_busy")
	waitUntil(t, 10*time.Second, "the second delivery held", func() bool { return x.h.runner.WaitingReason(x.d2) == pipeline.WaitThrottled })
	return x
}

// acknowledged says whether every one of ids was acknowledged.
func (x *throttled) acknowledged(ids ...string) bool {
	for _, id := range ids {
		if x.h.delivery(id).Status != domain.DeliveryStatusAcknowledged {
			return false
		}
	}
	return true
}

// TestEndpointRetryAfterHoldsTheWholeSubscription: a 429 with Retry-After
// holds every delivery of the subscription until it passes, not only the
// one answered, and the held ones say why.
func TestEndpointRetryAfterHoldsTheWholeSubscription(t *testing.T) {
	x := throttle(t, map[string][]string{"/busy": {"429", "200"}})
	time.Sleep(100 * time.Millisecond)
	if n := x.sc.count("/busy"); n != 1 {
		t.Fatalf("%d requests before the Retry-After passed", n)
	}
	x.fake.Advance(121 * time.Second)
	waitUntil(t, 10*time.Second, "both delivered after Retry-After", func() bool { return x.acknowledged(x.d1, x.d2) })
	x.h.stop()
}

// TestAnEndpointsRetryAfterHoldsNoLongerThanItsRetry: an endpoint that asks
// for a year's pause holds its subscription no longer than the retry it
// pushes out (24 hours, domain.RetryPolicy.MaxRetryAfter). The hold took
// the year: the retry came due after a day and stayed held, with every
// other delivery of the subscription, until a restart.
func TestAnEndpointsRetryAfterHoldsNoLongerThanItsRetry(t *testing.T) {
	x := throttle(t, map[string][]string{"/busy": {"429-year", "200"}})
	if due := x.h.delivery(x.d1).NextDueAt; due.After(x.t0.Add(24*time.Hour + time.Minute)) {
		t.Fatalf("the retry is due at %v, past the 24 hours' bound", due)
	}
	x.fake.Advance(24*time.Hour + time.Minute)
	waitUntil(t, 10*time.Second, "both delivered a day later", func() bool { return x.acknowledged(x.d1, x.d2) })
	x.h.stop()
}

// TestAnEndpointsSlowDownEndsWhenTheSubscriptionMovesToAnotherURL: the
// slow-down a 429 asked for holds the subscription's deliveries for the
// endpoint that asked; moved to another URL, the held ones go at once.
func TestAnEndpointsSlowDownEndsWhenTheSubscriptionMovesToAnotherURL(t *testing.T) {
	x := throttle(t, map[string][]string{"/busy": {"429"}, "/new": {"200"}})
	moved := x.srv.URL + "/new"
	if _, _, err := x.h.cmds.ChangeSubscription(context.Background(), "app", "sub_busy", domain.UpdateSubscription{URL: &moved}, md); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the held delivery sent to the new URL", func() bool { return x.acknowledged(x.d2) })
	if n := x.sc.count("/new"); n != 1 {
		t.Fatalf("%d requests to the new URL, want 1", n)
	}
	x.h.stop()
}
