// Package bench is hookledger's benchmark harness (`hookledger bench`): it
// runs the ledger on loopback with the embedded store in a temporary data
// directory, a receiver that verifies every Standard Webhooks signature, and a
// load generator that publishes through the HTTP API, and measures what a user
// would: ingest, deliveries/s, latency, the same sender with no ledger (the
// machine's ceiling), rebuild speed, and draining a backlog.
package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/app"
	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/metrics"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
)

// Config scales the scenarios. Defaults finish in about a minute or two on a
// 2-core machine.
type Config struct {
	Messages        int // throughput: messages to 1 subscription
	FanoutMessages  int // fan-out: messages ...
	FanoutSubs      int // ... to this many matching subscriptions
	LatencyRate     int // latency: messages per second ...
	LatencySeconds  int // ... for this long
	BacklogMessages int // backlog: messages published while the receiver is down
	RebuildPasses   int // rebuild: replays of the ledger, the median reported
	// sustained: publish at SustainedRate messages/s (0: 70% of this run's
	// throughput) for SustainedSeconds.
	SustainedRate    int
	SustainedSeconds int
	HistoryMessages  int  // history: messages delivered before measuring what the history costs
	Clients          int  // concurrent publishing clients
	Workers          int  // the pipeline's concurrent attempts
	PayloadBytes     int  // approximate payload size
	NoMetrics        bool // run the ledger without its Prometheus metrics (for the overhead comparison)
	// NoPayloadEncryption stores payloads in the clear (for the comparison).
	NoPayloadEncryption bool
	Scenarios           []string
	Progress            io.Writer // progress lines (nil: none)
	// cluster: node processes of Binary (the hookledger executable) on the
	// EventStoreDB emulator, ClusterMessages to ClusterSubs subscriptions.
	Binary          string
	ClusterMessages int
	ClusterSubs     int
}

// Defaults are the scenario sizes.
func Defaults() Config {
	return Config{Messages: 20_000, FanoutMessages: 2_000, FanoutSubs: 10, LatencyRate: 500, LatencySeconds: 20,
		BacklogMessages: 200_000, RebuildPasses: 3, HistoryMessages: 1_000_000, ClusterMessages: 10_000, ClusterSubs: 50, Clients: 64, Workers: 128, PayloadBytes: 1024, SustainedSeconds: 60,
		Scenarios: []string{"throughput", "fanout", "latency", "baseline", "baseline2", "rebuild", "backlog", "sustained"}}
}

// Result is one scenario's figures (JSON field names are stable).
type Result struct {
	Scenario                string  `json:"scenario"`
	Run                     int     `json:"run,omitempty"` // 1-based, when several runs are made
	Messages                int     `json:"messages"`
	Subscriptions           int     `json:"subscriptions"`
	Deliveries              int     `json:"deliveries"`
	IngestMsgsPerS          float64 `json:"ingest_msgs_per_s"`
	DeliveriesPerS          float64 `json:"deliveries_per_s"`
	LatencyP50Ms            float64 `json:"latency_p50_ms"`
	LatencyP95Ms            float64 `json:"latency_p95_ms"`
	LatencyP99Ms            float64 `json:"latency_p99_ms"`
	LedgerEventsPerDelivery float64 `json:"ledger_events_per_delivery"`
	// StartedWithSchedule is the share of the attempts that were started in
	// the write that scheduled their delivery, not by the dispatcher.
	StartedWithSchedule    float64 `json:"started_with_schedule,omitempty"`
	BaselineDeliveriesPerS float64 `json:"baseline_deliveries_per_s"`
	RatioToBaseline        float64 `json:"ratio_to_baseline"`
	RebuildEventsPerS      float64 `json:"rebuild_events_per_s"`
	// RebuildEvents and RebuildCPUUsPerEvent: the events a rebuild replayed,
	// and the whole process's CPU per event while it ran,
	// the rebuild's figure that compares across machines.
	RebuildEvents        uint64  `json:"rebuild_events,omitempty"`
	RebuildCPUUsPerEvent float64 `json:"rebuild_cpu_us_per_event,omitempty"`
	RebuildPasses        int     `json:"rebuild_passes,omitempty"` // the figures are the median of this many
	DrainSeconds         float64 `json:"drain_seconds,omitempty"`
	PeakRSSMB            float64 `json:"peak_rss_mb"`
	Received             int64   `json:"received"`     // distinct (endpoint, message) pairs the receiver verified
	Acknowledged         int64   `json:"acknowledged"` // acknowledgements appended to the ledger
	Rejected             int64   `json:"rejected"`     // signatures the receiver refused

	// history: what a long history costs.
	RestartMs           float64 `json:"restart_ms,omitempty"`             // stop, then open again until ready
	AsOfMs              float64 `json:"as_of_ms,omitempty"`               // GET one subscription as_of mid-history (median of 20)
	ViewBytesPerMessage float64 `json:"view_bytes_per_message,omitempty"` // view store on disk / messages
	RSSAfterMB          float64 `json:"rss_after_mb,omitempty"`           // RSS after the drain and a GC
	ListingP50Ms        float64 `json:"listing_p50_ms,omitempty"`         // GET deliveries pages of 50, walking back
	ListingP99Ms        float64 `json:"listing_p99_ms,omitempty"`

	// CPUMsPerDelivery: the whole process's CPU (ledger, load generator and
	// receiver: getrusage around the scenario) per delivered message, the
	// figure that compares across machines and with peers.
	CPUMsPerDelivery float64 `json:"cpu_ms_per_delivery,omitempty"`
	// AllocKBPerDelivery and GCCPUMsPerDelivery: what the whole process
	// allocated on the Go heap per delivered message, and the part of its
	// CPU the runtime attributes to the collector (its estimate:
	// runtime/metrics /cpu/classes/gc/total). Allocation is what sets how
	// often the collector runs; unlike the CPU, it barely varies from run
	// to run, so it shows a change too small for the CPU's noise.
	AllocKBPerDelivery float64 `json:"alloc_kb_per_delivery,omitempty"`
	GCCPUMsPerDelivery float64 `json:"gc_cpu_ms_per_delivery,omitempty"`
	// TwoHopDeliveriesPerS and RatioToTwoHop: baseline2, the same HTTP
	// publish and the same sender with no ledger in between, measured in
	// the same run.
	TwoHopDeliveriesPerS float64 `json:"two_hop_deliveries_per_s,omitempty"`
	RatioToTwoHop        float64 `json:"ratio_to_two_hop,omitempty"`

	// cluster: Nodes processes; CPUMsPerDelivery is theirs together, each
	// one's in NodeCPUMsPerDelivery; the driver (emulator, load generator,
	// receiver: the bench process) in DriverCPUMsPerDelivery. PeakRSSMB is
	// the largest node's.
	Nodes                  int       `json:"nodes,omitempty"`
	NodeCPUMsPerDelivery   []float64 `json:"node_cpu_ms_per_delivery,omitempty"`
	DriverCPUMsPerDelivery float64   `json:"driver_cpu_ms_per_delivery,omitempty"`

	// sustained: publishing at a fixed rate.
	PublishRate               float64 `json:"publish_rate,omitempty"`                 // messages/s accepted while publishing
	DeliveryRateDuringPublish float64 `json:"delivery_rate_during_publish,omitempty"` // acknowledgements/s while publishing
	LagAtEnd                  int64   `json:"lag_at_end,omitempty"`                   // published, not yet acknowledged, when publishing stopped
	Refused                   int64   `json:"refused,omitempty"`                      // publishes answered 503 (admission control), retried after Retry-After
}

// stack is a ledger running in-process on loopback.
type stack struct {
	dir    string
	store  *pebblestore.Store
	ledger *app.Ledger
	url    string
	key    string
	srv    *http.Server
	stop   func()
	client *http.Client
	// refused counts publishes answered 503 by admission control (each
	// retried after its Retry-After).
	refused atomic.Int64
}

const adminKey = "bench-admin-key-0123456789abcdef"

func startStack(dir string, workers, clients int, withMetrics, plain bool) (*stack, error) {
	cfg := config.Defaults()
	cfg.DataDir, cfg.AllowPrivateTargets, cfg.Workers, cfg.PerSubscription = dir, true, workers, workers
	// Payloads encrypted at rest as `serve` does by default (a key per
	// application and day); --no-payload-encryption measures without.
	cfg.NoPayloadEncryption = plain
	// Metrics as `serve` wires them (on by default there too), so that the
	// figures include their cost; --no-metrics measures without.
	var m *metrics.Metrics
	popts := pebblestore.Options{}
	if withMetrics {
		m = metrics.New()
		popts.OnCommit = m.Committed
	}
	store, err := pebblestore.Open(dir, popts)
	if err != nil {
		return nil, err
	}
	var ledgerStore domain.EventStore = store
	var observer pipeline.Observer
	if m != nil {
		ledgerStore, observer = m.InstrumentStore(store), m
	}
	l, err := app.Build(cfg, ledgerStore, zerolog.Nop(), observer)
	if err != nil {
		store.Close()
		return nil, err
	}
	_, sealKey, _ := ed25519.GenerateKey(nil)
	deps := httpapi.Deps{Store: ledgerStore, Commands: l.Commands, Views: l.Pipeline, Log: zerolog.Nop(),
		MaxPayload: cfg.MaxPayloadBytes, AllowPrivateTargets: true, SealPublicKey: sealKey.Public().(ed25519.PublicKey), SealKey: sealKey,
		MaxIngestLag: uint64(cfg.MaxIngestLag)} // admission control as serve has it
	if l.Keys != nil {
		deps.Cipher = l.Keys
	}
	if m != nil {
		deps.Observer, deps.Metrics = m, m.Handler()
	}
	api := httpapi.New(deps)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, err
	}
	srv := &http.Server{Handler: api}
	ctx, cancel := context.WithCancel(context.Background())
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- l.Pipeline.Run(ctx) }()
	sealer := &audit.Sealer{Store: ledgerStore, Key: sealKey, NewEventID: ids.NewEventID, Log: zerolog.Nop()}
	sealDone := make(chan error, 1)
	go func() { sealDone <- sealer.Run(ctx) }()
	go srv.Serve(ln)
	for !l.Pipeline.Ready() {
		time.Sleep(time.Millisecond)
	}
	hash := domain.HashAPIKey(adminKey)
	_, out, err := l.Commands.CreateAPIKey(ctx, domain.CreateAPIKey{KeyID: domain.KeyIDForHash(hash), Role: domain.RoleAdmin, Hash: hash}, domain.Metadata{Actor: "bench"})
	if err != nil && !errors.Is(err, domain.ErrAlreadyExists) { // a restarted stack has it
		cancel()
		return nil, err
	}
	l.Pipeline.WaitFor(ctx, out.Result.Position)
	s := &stack{dir: dir, store: store, ledger: l, url: "http://" + ln.Addr().String(), key: adminKey, srv: srv,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxIdleConns: clients * 4}, Timeout: 30 * time.Second}}
	s.stop = func() {
		shCtx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		srv.Shutdown(shCtx)
		cancel()
		<-pipeDone
		<-sealDone
		l.Close()
		store.Close()
	}
	return s, nil
}

func (s *stack) call(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// probe measures receipt latency: the payload carries its send time.
type probe struct {
	mu    sync.Mutex
	lat   []time.Duration
	first atomic.Int64
	last  atomic.Int64
}

func (p *probe) onReceipt(r receiver.Receipt) {
	now := r.At.UnixNano()
	p.first.CompareAndSwap(0, now)
	p.last.Store(now)
	i := bytes.Index(r.Body, []byte(`"sent_ns":`))
	if i < 0 {
		return
	}
	rest := r.Body[i+len(`"sent_ns":`):]
	j := bytes.IndexAny(rest, ",}")
	if j < 0 {
		return
	}
	sent, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.lat = append(p.lat, time.Duration(now-sent))
	p.mu.Unlock()
}

func (p *probe) percentiles() (p50, p95, p99 float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(p.lat)
	at := func(q float64) float64 {
		i := int(q * float64(len(p.lat)))
		if i >= len(p.lat) {
			i = len(p.lat) - 1
		}
		return float64(p.lat[i].Microseconds()) / 1000
	}
	return at(0.50), at(0.95), at(0.99)
}

// payload is the JSON string (quoted) that pads a payload to about size
// bytes. It is quoted once: the load generator must cost the machine little,
// since it shares the cores with the ledger.
func payload(size int) string { return strconv.Quote(strings.Repeat("x", max(0, size-120))) }

// appendPayload appends the payload object of message n.
func appendPayload(b []byte, n int64, pad string) []byte {
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `,"sent_ns":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"pad":`...)
	b = append(b, pad...)
	return append(b, '}')
}

// payloadSeq reads n back from a payload appendPayload wrote: receivers
// count distinct deliveries by it in one bit each (receiver.SeqOf).
func payloadSeq(b []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"n":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}

// spread calls fn(i) for every i in [0, n) from `workers` goroutines. It
// stops handing out work when ctx ends or fn fails, and returns the first
// error (or ctx's).
func spread(ctx context.Context, n, workers int, fn func(i int64) error) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil || firstErr.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return e
	}
	return ctx.Err()
}

// publish sends n messages of eventType to app from `clients` goroutines,
// paced at rate per second when rate > 0. It returns how long publishing took.
func (s *stack) publish(ctx context.Context, app, eventType string, n, clients, rate, size int, progress func(int64)) (time.Duration, error) {
	pad := payload(size)
	prefix := []byte(`{"event_type":` + strconv.Quote(eventType))
	url := s.url + "/v1/applications/" + app + "/messages"
	var done atomic.Int64
	start := time.Now()
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	err := spread(ctx, n, clients, func(i int64) error {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		body := appendPayload(append(prefix[:len(prefix):len(prefix)], `,"payload":`...), i, pad)
		body = append(body, '}')
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+s.key)
			req.Header.Set("Content-Type", "application/json")
			res, err := s.client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "" {
				// Admission control: a well-behaved client waits and retries.
				s.refused.Add(1)
				secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(max(secs, 1)) * time.Second):
				}
				continue
			}
			if res.StatusCode != http.StatusAccepted {
				return fmt.Errorf("publish: %s", res.Status)
			}
			break
		}
		if d := done.Add(1); progress != nil && d%500 == 0 {
			progress(d)
		}
		return nil
	})
	return time.Since(start), err
}

// setup creates an application with subs subscriptions to recv.
func (s *stack) setup(recv *receiver.Receiver, recvURL, app string, subs int, filters []string, paused bool) ([]string, error) {
	if err := s.call("POST", "/v1/applications", map[string]any{"id": app, "name": app}, nil); err != nil {
		return nil, err
	}
	var ids []string
	for i := 0; i < subs; i++ {
		id := fmt.Sprintf("sub_%s_%d", app, i)
		var out struct {
			Secret string `json:"secret"`
		}
		if err := s.call("POST", "/v1/applications/"+app+"/subscriptions", map[string]any{"id": id, "url": recvURL + "/" + id, "event_types": filters}, &out); err != nil {
			return nil, err
		}
		if err := recv.Add(id, out.Secret); err != nil {
			return nil, err
		}
		if paused {
			if err := s.call("POST", "/v1/applications/"+app+"/subscriptions/"+id+"/pause", nil, nil); err != nil {
				return nil, err
			}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *stack) head() domain.Position {
	h, _ := s.store.Head(context.Background())
	return h
}

// waitAcked waits until the ledger holds want more acknowledgements than base.
func (s *stack) waitAcked(ctx context.Context, base, want int64, progress func(int64)) (time.Time, error) {
	last := time.Now()
	for {
		n := s.ledger.Pipeline.Stats().Acknowledged.Load() - base
		if n >= want {
			return time.Now(), nil
		}
		if ctx.Err() != nil {
			return time.Now(), ctx.Err()
		}
		if progress != nil && time.Since(last) > 500*time.Millisecond {
			last = time.Now()
			progress(n)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// peakRSS returns the process's peak resident set (VmHWM) in MiB.
func peakRSS() float64 { return procStatusMiB("/proc/self/status", "VmHWM:") }

// currentRSS is the process's resident set now, in MiB.
func currentRSS() float64 { return procStatusMiB("/proc/self/status", "VmRSS:") }

// procStatusMiB reads one kB field of a /proc/<pid>/status file, in MiB (0
// when it cannot be read).
func procStatusMiB(path, field string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM (Linux: write 5 to clear_refs), so the next
// scenario's peak is its own.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

var errUnknownScenario = errors.New("unknown scenario")
