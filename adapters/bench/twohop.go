package bench

// baseline2 and sustained: the two-hop limit of the machine, and delivery
// under publishing at a fixed rate.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
)

// cpuTime is the CPU the whole process used so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapUse is what the Go runtime counted so far: bytes allocated on the heap,
// and its estimate of the CPU the collector spent (marking, assists and
// idle marking, sweeping excluded).
type heapUse struct {
	allocBytes uint64
	gcCPU      time.Duration
}

func readHeapUse() heapUse {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	var u heapUse
	if s[0].Value.Kind() == metrics.KindUint64 {
		u.allocBytes = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindFloat64 {
		u.gcCPU = time.Duration(s[1].Value.Float64() * float64(time.Second))
	}
	return u
}

// direct serves recv on loopback with a fresh secret for endpoint name, and
// answers the sender and signer the baselines send with, no ledger between.
func direct(recv *receiver.Receiver, name string) (*httptest.Server, *sender.Sender, *domain.Signer, error) {
	secret := ids.NewSecret()
	if err := recv.Add(name, secret); err != nil {
		return nil, nil, nil, err
	}
	signer, err := domain.NewSigner(secret)
	if err != nil {
		return nil, nil, nil, err
	}
	return httptest.NewServer(recv), sender.New(sender.Options{AllowPrivate: true}), signer, nil
}

// baseline2 is the two-hop limit: the same load generator publishes over
// HTTP to a bare endpoint of the same gin stack, which decodes the message
// and hands it in memory to the same sender, signing, to the same receiver.
// No ledger, no fsync, no fold: what the two HTTP hops cost on this machine.
func (r *runner) baseline2(ctx context.Context) (Result, error) {
	recv := receiver.New()
	p := &probe{}
	recv.OnReceipt = p.onReceipt
	rsrv, snd, signer, err := direct(recv, "two-hop")
	if err != nil {
		return Result{}, err
	}
	defer rsrv.Close()
	defer snd.Close()
	type job struct {
		id   string
		body []byte
	}
	jobs := make(chan job, 4096)
	var failed error
	var failOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < r.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if res := snd.Send(ctx, sender.Request{URL: rsrv.URL + "/two-hop", MessageID: j.id, Body: j.body, Signer: signer, Timestamp: time.Now()}); res.ErrorClass != "" {
					failOnce.Do(func() { failed = fmt.Errorf("two-hop send: %s %s", res.ErrorClass, res.Error) })
				}
			}
		}()
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/v1/applications/:app/messages", func(c *gin.Context) {
		var in struct {
			EventType string          `json:"event_type"`
			Payload   json.RawMessage `json:"payload"`
		}
		if err := json.NewDecoder(c.Request.Body).Decode(&in); err != nil || in.EventType == "" || len(in.Payload) == 0 {
			c.JSON(http.StatusBadRequest, gin.H{"error": "bad message"})
			return
		}
		id := ids.New(domain.PrefixMessage)
		jobs <- job{id: id, body: in.Payload}
		c.JSON(http.StatusAccepted, gin.H{"id": id})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	defer srv.Close()
	st := &stack{url: "http://" + ln.Addr().String(), key: "two-hop", client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: r.cfg.Clients * 2, MaxIdleConns: r.cfg.Clients * 4}, Timeout: 30 * time.Second}}
	n := r.cfg.Messages
	elapsed, err := st.publish(ctx, "app_two_hop", "order.paid", n, r.cfg.Clients, 0, r.cfg.PayloadBytes, nil)
	close(jobs)
	wg.Wait()
	if err != nil {
		return Result{}, err
	}
	if failed != nil {
		return Result{}, failed
	}
	if got := recv.Unique(); got != int64(n) {
		return Result{}, fmt.Errorf("the receiver verified %d of %d", got, n)
	}
	res := Result{Scenario: "baseline2", Messages: n, Subscriptions: 1, Deliveries: n, IngestMsgsPerS: float64(n) / elapsed.Seconds(),
		Received: recv.Unique(), Rejected: recv.Rejected()}
	if first, last := p.first.Load(), p.last.Load(); first > 0 && last > first {
		res.DeliveriesPerS = float64(n) / time.Duration(last-first).Seconds()
	}
	res.LatencyP50Ms, res.LatencyP95Ms, res.LatencyP99Ms = p.percentiles()
	return res, nil
}

// sustained publishes at a fixed rate (70% of this run's throughput unless
// --sustained-rate) for SustainedSeconds, and measures whether delivery keeps
// pace while publishing: acknowledgements per second during publishing, what
// was still unacknowledged when publishing stopped, how long the rest took,
// and the latency. A publish refused by admission control (503) is retried
// after its Retry-After, as a client should, and counted.
func (r *runner) sustained(ctx context.Context, earlier []Result) (Result, error) {
	rate := r.cfg.SustainedRate
	if rate == 0 {
		for _, res := range earlier {
			if res.Scenario == "throughput" && res.DeliveriesPerS > 0 {
				rate = int(0.7 * res.DeliveriesPerS)
			}
		}
	}
	if rate <= 0 {
		return Result{}, errors.New("no rate: give --sustained-rate, or run throughput before sustained")
	}
	st, err := r.shared()
	if err != nil {
		return Result{}, err
	}
	recv := receiver.New()
	recv.SeqOf = payloadSeq
	p := &probe{}
	recv.OnReceipt = p.onReceipt
	rsrv := httptest.NewServer(recv)
	defer rsrv.Close()
	r.count++
	app := fmt.Sprintf("app_sustained_%d", r.count)
	if _, err := st.setup(recv, rsrv.URL, app, 1, []string{"*"}, false); err != nil {
		return Result{}, err
	}
	n := rate * r.cfg.SustainedSeconds
	base := st.ledger.Pipeline.Stats().Acknowledged.Load()
	startedShare := startedWithSchedule(st.ledger.Pipeline.Stats())
	elapsed, err := st.publish(ctx, app, "order.paid", n, r.cfg.Clients, rate, r.cfg.PayloadBytes, func(d int64) {
		if d%(int64(rate)*5) == 0 {
			r.say("%-10s published %d/%d", "sustained", d, n)
		}
	})
	if err != nil {
		return Result{}, err
	}
	ackedDuring := st.ledger.Pipeline.Stats().Acknowledged.Load() - base
	stopped := time.Now()
	done, err := st.waitAcked(ctx, base, int64(n), func(a int64) { r.say("%-10s acknowledged %d/%d", "sustained", a, n) })
	if err != nil {
		return Result{}, err
	}
	res := Result{Scenario: "sustained", Messages: n, Subscriptions: 1, Deliveries: n, IngestMsgsPerS: float64(n) / elapsed.Seconds(),
		PublishRate: float64(n) / elapsed.Seconds(), DeliveryRateDuringPublish: float64(ackedDuring) / elapsed.Seconds(),
		LagAtEnd: int64(n) - ackedDuring, DrainSeconds: done.Sub(stopped).Seconds(), Refused: st.refused.Load(),
		Acknowledged: st.ledger.Pipeline.Stats().Acknowledged.Load() - base, Received: recv.Unique(), Rejected: recv.Rejected()}
	if first := p.first.Load(); first > 0 {
		res.DeliveriesPerS = float64(n) / done.Sub(time.Unix(0, first)).Seconds()
	}
	res.LatencyP50Ms, res.LatencyP95Ms, res.LatencyP99Ms = p.percentiles()
	res.StartedWithSchedule = startedShare()
	return res, nil
}
