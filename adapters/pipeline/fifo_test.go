package pipeline_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
)

// orderedReceiver fails the first attempts of some sequence numbers and
// checks the FIFO promise on every request: it never sees message n+1
// before it has acknowledged message n.
type orderedReceiver struct {
	mu        sync.Mutex
	failFirst map[int]int // seq -> attempts to fail
	acked     int         // highest seq acknowledged (all below too)
	seen      []int
	violation string
}

func (o *orderedReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Seq int `json:"seq"`
	}
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &p)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, p.Seq)
	if p.Seq > o.acked+1 && o.violation == "" {
		o.violation = "message " + itoa(p.Seq) + " arrived before message " + itoa(o.acked+1) + " was acknowledged"
	}
	if o.failFirst[p.Seq] > 0 {
		o.failFirst[p.Seq]--
		w.WriteHeader(500)
		return
	}
	if p.Seq == o.acked+1 {
		o.acked = p.Seq
	}
}

// advanceUntilAcked moves the fake clock past each retry delay until the
// receiver has acknowledged messages 1..n in order, failing after timeout.
func advanceUntilAcked(t *testing.T, recv *orderedReceiver, fake *clock.Fake, n int, timeout, pause time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if a, _, _ := recv.state(); a == n {
			return
		}
		if time.Now().After(deadline) {
			a, v, seen := recv.state()
			t.Fatalf("acknowledged up to %d of %d (%s); seen %v", a, n, v, seen)
		}
		fake.Advance(1100 * time.Millisecond)
		time.Sleep(pause)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (o *orderedReceiver) state() (int, string, []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acked, o.violation, append([]int(nil), o.seen...)
}

// TestFIFODeliversInPublishOrderThroughRetriesAndARestart: a FIFO
// subscription's deliveries go one at a time in publish order; a failing
// one holds those behind it (visible: waiting_reason "ordering", naming the
// head) until it succeeds; a restart in the middle keeps the order.
func TestFIFODeliversInPublishOrderThroughRetriesAndARestart(t *testing.T) {
	recv := &orderedReceiver{failFirst: map[int]int{1: 2, 4: 1}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	fake := clock.NewFake(t0)
	h := newHarness(t, harnessOpts{clock: fake})
	h.app("app")
	if _, _, err := h.cmds.CreateSubscription(t.Context(), domain.CreateSubscription{SubscriptionID: "sub_f", ApplicationID: "app",
		URL: srv.URL, EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret(), Ordering: domain.OrderingFIFO,
		RetryScheduleMS: []int64{0, 1000, 1000, 1000, 1000}}, md); err != nil {
		t.Fatal(err)
	}
	h.start()
	var msgs []string
	for i := 1; i <= 8; i++ {
		m, _ := h.publish("app", "order.paid", `{"seq":`+itoa(i)+`}`)
		msgs = append(msgs, m)
	}
	dlv := func(i int) string { return domain.DeliveryIDFor(msgs[i-1], "sub_f") }
	waitUntil(t, 10*time.Second, "message 1 failed once", func() bool { return h.delivery(dlv(1)).Attempts >= 1 })
	waitUntil(t, 10*time.Second, "message 2 held behind message 1", func() bool {
		return h.runner.WaitingReason(dlv(2)) == pipeline.WaitOrdering && h.runner.HeldBehind(dlv(2)) == dlv(1)
	})
	if acked, _, _ := recv.state(); acked != 0 {
		t.Fatalf("acknowledged %d while message 1 fails", acked)
	}
	for i := 0; i < 3; i++ { // message 1's retries, then 2 and 3
		fake.Advance(1100 * time.Millisecond)
		time.Sleep(50 * time.Millisecond)
	}
	waitUntil(t, 10*time.Second, "messages up to 3 acknowledged", func() bool { a, _, _ := recv.state(); return a >= 3 })

	// Restart: a new runner on the same ledger.
	h.stop()
	h.restart(fake)
	advanceUntilAcked(t, recv, fake, 8, 20*time.Second, 20*time.Millisecond)
	if _, v, seen := recv.state(); v != "" {
		t.Fatalf("%s (arrivals %v)", v, seen)
	}
	h.stop()
}

// TestFIFOWindowStaysBoundedAndKeepsTheOrder: a FIFO subscription whose head
// keeps failing holds every later delivery behind it. With a window of 10,
// 300 held deliveries never put more than 2 x 10 entries in memory (the rest
// wait in the view store's order index), through a restart, and once the
// head succeeds all 300 arrive one at a time in publish order.
func TestFIFOWindowStaysBoundedAndKeepsTheOrder(t *testing.T) {
	const n, window = 300, 10
	recv := &orderedReceiver{failFirst: map[int]int{1: 3}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	fake := clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	h := newHarness(t, harnessOpts{clock: fake, options: func(o *pipeline.Options) { o.QueueWindow = window }})
	h.app("app")
	if _, _, err := h.cmds.CreateSubscription(t.Context(), domain.CreateSubscription{SubscriptionID: "sub_f", ApplicationID: "app",
		URL: srv.URL, EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret(), Ordering: domain.OrderingFIFO,
		RetryScheduleMS: []int64{0, 1000, 1000, 1000, 1000}}, md); err != nil {
		t.Fatal(err)
	}
	h.start()

	var mu sync.Mutex
	worst := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			mu.Lock()
			if h.runner != nil {
				worst = max(worst, h.runner.Footprint().FIFOEntries)
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	var first string
	for i := 1; i <= n; i++ {
		m, _ := h.publish("app", "order.paid", `{"seq":`+itoa(i)+`}`)
		if i == 1 {
			first = m
		}
	}
	waitUntil(t, 20*time.Second, "all 300 scheduled", func() bool { return h.subscription("sub_f").Open == n })
	waitUntil(t, 10*time.Second, "message 1 failed once", func() bool { return h.delivery(domain.DeliveryIDFor(first, "sub_f")).Attempts >= 1 })

	mu.Lock()
	h.stop()
	h.restart(fake)
	mu.Unlock()
	advanceUntilAcked(t, recv, fake, n, 60*time.Second, 5*time.Millisecond)
	waitUntil(t, 10*time.Second, "every acknowledgement folded", func() bool { return h.subscription("sub_f").Open == 0 })
	close(stop)
	<-sampled
	if _, v, seen := recv.state(); v != "" {
		t.Fatalf("%s (arrivals %v)", v, seen)
	}
	if worst > 2*window {
		t.Errorf("the FIFO window held %d entries; bound 2 x %d", worst, window)
	}
	if worst < window {
		t.Errorf("the FIFO window never held more than %d entries: the test did not fill it", worst)
	}
	if f := h.runner.Footprint(); f.FIFOEntries != 0 {
		t.Errorf("after the drain the FIFO window holds %d entries", f.FIFOEntries)
	}
}
