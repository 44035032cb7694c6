package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/viewstore"
)

// Run runs the configured scenarios in order and returns their results.
// Throughput, fan-out and latency share one ledger; rebuild replays it;
// backlog runs on a ledger of its own.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "hookledger-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	r := &runner{cfg: cfg, root: root}
	defer r.close()
	var results []Result
	for _, name := range cfg.Scenarios {
		// Return what earlier scenarios (or runs) freed, so that each peak is
		// the scenario's own rather than a leftover heap.
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		cpu0, heap0 := cpuTime(), readHeapUse()
		var res Result
		var many []Result
		// A CPU profile (--cpuprofile) tells the scenarios apart by this label
		// (pprof -tagfocus scenario=rebuild). Goroutines carry the label of
		// the scenario that started them: the ledger the first scenarios
		// share, and Pebble's background work on it, keep the first one's.
		pprof.Do(ctx, pprof.Labels("scenario", name), func(ctx context.Context) { res, many, err = r.scenario(ctx, name, results) })
		if name == "cluster" {
			if err != nil {
				return results, fmt.Errorf("scenario %s: %w", name, err)
			}
			results = append(results, many...) // their CPU is the nodes', measured per process
			r.say("%-10s done", name)
			continue
		}
		if err != nil {
			return results, fmt.Errorf("scenario %s: %w", name, err)
		}
		if name != "rebuild" && name != "backlog-rebuild" && name != "history" && res.Deliveries > 0 {
			res.CPUMsPerDelivery = float64((cpuTime() - cpu0).Microseconds()) / 1000 / float64(res.Deliveries)
			heap := readHeapUse()
			res.AllocKBPerDelivery = float64(heap.allocBytes-heap0.allocBytes) / 1024 / float64(res.Deliveries)
			res.GCCPUMsPerDelivery = float64((heap.gcCPU - heap0.gcCPU).Microseconds()) / 1000 / float64(res.Deliveries)
		}
		res.PeakRSSMB = peakRSS()
		results = append(results, res)
		r.say("%-10s done", name)
	}
	// The ratio to the machine's ceiling, measured in the same run.
	var base float64
	for _, res := range results {
		if res.Scenario == "baseline" {
			base = res.DeliveriesPerS
		}
	}
	var twoHop float64
	for _, res := range results {
		if res.Scenario == "baseline2" {
			twoHop = res.DeliveriesPerS
		}
	}
	for i := range results {
		if base > 0 && results[i].Scenario != "baseline" && results[i].DeliveriesPerS > 0 {
			results[i].BaselineDeliveriesPerS = base
			results[i].RatioToBaseline = results[i].DeliveriesPerS / base
		}
		if twoHop > 0 && results[i].Scenario != "baseline2" && results[i].Scenario != "baseline" && results[i].DeliveriesPerS > 0 {
			results[i].TwoHopDeliveriesPerS = twoHop
			results[i].RatioToTwoHop = results[i].DeliveriesPerS / twoHop
		}
	}
	return results, nil
}

type runner struct {
	cfg   Config
	root  string
	st    *stack
	dirA  string
	count int
	// backlogDir is the backlog scenario's ledger once it ran (for
	// backlog-rebuild).
	backlogDir string
}

func (r *runner) say(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, format+"\n", args...)
	}
}

func (r *runner) close() {
	if r.st != nil {
		r.st.stop()
		r.st = nil
	}
}

func (r *runner) shared() (*stack, error) {
	if r.st == nil {
		r.dirA = r.root + "/ledger"
		st, err := startStack(r.dirA, r.cfg.Workers, r.cfg.Clients, !r.cfg.NoMetrics, r.cfg.NoPayloadEncryption)
		if err != nil {
			return nil, err
		}
		r.st = st
	}
	return r.st, nil
}

// deliver publishes n messages through the API to subs matching
// subscriptions and waits until every delivery is acknowledged in the ledger.
func (r *runner) deliver(ctx context.Context, name string, n, subs, rate int) (Result, error) {
	st, err := r.shared()
	if err != nil {
		return Result{}, err
	}
	recv := receiver.New()
	p := &probe{}
	recv.OnReceipt = p.onReceipt
	rsrv := httptest.NewServer(recv)
	defer rsrv.Close()
	r.count++
	app := fmt.Sprintf("app_%s_%d", name, r.count)
	if _, err := st.setup(recv, rsrv.URL, app, subs, []string{"*"}, false); err != nil {
		return Result{}, err
	}
	want := int64(n * subs)
	base := st.ledger.Pipeline.Stats().Acknowledged.Load()
	startedShare := startedWithSchedule(st.ledger.Pipeline.Stats())
	h0 := st.head()
	elapsed, err := st.publish(ctx, app, "order.paid", n, r.cfg.Clients, rate, r.cfg.PayloadBytes, func(d int64) {
		if d%5000 == 0 {
			r.say("%-10s published %d/%d", name, d, n)
		}
	})
	if err != nil {
		return Result{}, err
	}
	done, err := st.waitAcked(ctx, base, want, func(a int64) { r.say("%-10s acknowledged %d/%d", name, a, want) })
	if err != nil {
		return Result{}, err
	}
	res := Result{Scenario: name, Messages: n, Subscriptions: subs, Deliveries: int(want),
		IngestMsgsPerS: float64(n) / elapsed.Seconds(), Acknowledged: st.ledger.Pipeline.Stats().Acknowledged.Load() - base,
		Received: recv.Unique(), Rejected: recv.Rejected()}
	if first := p.first.Load(); first > 0 {
		res.DeliveriesPerS = float64(want) / done.Sub(time.Unix(0, first)).Seconds()
	}
	res.LatencyP50Ms, res.LatencyP95Ms, res.LatencyP99Ms = p.percentiles()
	res.LedgerEventsPerDelivery = float64(st.head()-h0) / float64(want)
	res.StartedWithSchedule = startedShare()
	return res, nil
}

// baseline sends the same number of signed requests with the same sender
// code to the same kind of receiver, with no ledger: the machine's ceiling.
func (r *runner) baseline(ctx context.Context) (Result, error) {
	recv := receiver.New()
	rsrv, snd, signer, err := direct(recv, "base")
	if err != nil {
		return Result{}, err
	}
	defer rsrv.Close()
	defer snd.Close()
	n := r.cfg.Messages
	pad := payload(r.cfg.PayloadBytes)
	start := time.Now()
	err = spread(ctx, n, r.cfg.Workers, func(i int64) error {
		res := snd.Send(ctx, sender.Request{URL: rsrv.URL + "/base", MessageID: fmt.Sprintf("msg_base_%d", i), Body: appendPayload(nil, i, pad), Signer: signer, Timestamp: time.Now()})
		if res.ErrorClass != "" {
			return fmt.Errorf("baseline request %d failed: %s %s", i, res.ErrorClass, res.Error)
		}
		return nil
	})
	el := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	return Result{Scenario: "baseline", Messages: n, Subscriptions: 1, Deliveries: n, DeliveriesPerS: float64(n) / el.Seconds(),
		Received: recv.Unique(), Rejected: recv.Rejected()}, nil
}

// rebuild stops the shared ledger and replays all it holds into fresh views,
// RebuildPasses times, and reports the median pass: one pass over the
// bench's ledger lasts under half a second, too short to measure alone on a
// shared machine. Each pass starts as `hookledger rebuild` does: the ledger
// opened anew (Pebble's caches empty) and the heap given back to the system.
// Passes that share the open ledger and the grown heap ran 15% faster than
// the first, which no real rebuild would.
func (r *runner) rebuild(ctx context.Context) (Result, error) {
	if _, err := r.shared(); err != nil {
		return Result{}, err
	}
	r.close()
	return r.rebuildPasses(ctx, "rebuild", r.dirA)
}

// backlogRebuild replays the backlog scenario's ledger as rebuild replays
// the shared one. Its deliveries were attempted long after they were
// scheduled (a backlog drained after an outage), so the fold reads each
// delivery's record back from the tables of the view store it is building,
// which the shared ledger, whose deliveries follow their messages closely,
// hardly does.
func (r *runner) backlogRebuild(ctx context.Context) (Result, error) {
	if r.backlogDir == "" {
		return Result{}, errors.New("backlog-rebuild: no backlog ledger (run the backlog scenario before it)")
	}
	return r.rebuildPasses(ctx, "backlog-rebuild", r.backlogDir)
}

// rebuildPasses replays the ledger in ledgerDir RebuildPasses times and
// reports the median pass as scenario.
func (r *runner) rebuildPasses(ctx context.Context, scenario, ledgerDir string) (Result, error) {
	passes := make([]Result, 0, r.cfg.RebuildPasses)
	for i := range r.cfg.RebuildPasses {
		res, err := rebuildPass(ctx, ledgerDir, fmt.Sprintf("%s/%s-views-%d", r.root, scenario, i))
		if err != nil {
			return Result{}, err
		}
		passes = append(passes, res)
	}
	slices.SortFunc(passes, func(a, b Result) int { return cmp.Compare(a.RebuildEventsPerS, b.RebuildEventsPerS) })
	res := passes[len(passes)/2]
	res.Scenario, res.RebuildPasses = scenario, len(passes)
	return res, nil
}

// rebuildPass replays the ledger in ledgerDir into a new view store at dir,
// then removes the view store (the passes would otherwise add up on the
// disk).
func rebuildPass(ctx context.Context, ledgerDir, dir string) (Result, error) {
	debug.FreeOSMemory()
	// Read-only, as `hookledger rebuild` opens it.
	store, err := pebblestore.Open(ledgerDir, pebblestore.Options{ReadOnly: true})
	if err != nil {
		return Result{}, err
	}
	defer store.Close()
	views, err := viewstore.Open(dir, viewstore.Options{Bulk: true})
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	defer views.Close()
	start, cpu0 := time.Now(), cpuTime()
	res, err := pipeline.RebuildInto(ctx, store, views, 0, nil)
	if err != nil {
		return Result{}, err
	}
	el, cpu := time.Since(start), cpuTime()-cpu0
	return Result{Scenario: "rebuild", Messages: res.Messages, Deliveries: res.Deliveries,
		RebuildEventsPerS: float64(res.Views.Events) / el.Seconds(), RebuildEvents: res.Views.Events,
		RebuildCPUUsPerEvent: float64(cpu.Nanoseconds()) / 1e3 / float64(max(res.Views.Events, 1))}, nil
}

// backlog publishes while the receiver is down (its subscription paused by
// the operator), then brings it back (resumed) and times the drain.
func (r *runner) backlog(ctx context.Context) (Result, error) {
	dir := r.root + "/backlog"
	st, err := startStack(dir, r.cfg.Workers, r.cfg.Clients, !r.cfg.NoMetrics, r.cfg.NoPayloadEncryption)
	if err != nil {
		return Result{}, err
	}
	defer st.stop()
	recv := receiver.New()
	recv.SeqOf = payloadSeq // the harness's memory must not count in the peak RSS this scenario measures
	p := &probe{}
	recv.OnReceipt = p.onReceipt
	rsrv := httptest.NewServer(recv)
	defer rsrv.Close()
	subs, err := st.setup(recv, rsrv.URL, "app_backlog", 1, []string{"*"}, true)
	if err != nil {
		return Result{}, err
	}
	n := r.cfg.BacklogMessages
	h0 := st.head()
	elapsed, err := st.publish(ctx, "app_backlog", "order.paid", n, r.cfg.Clients, 0, r.cfg.PayloadBytes, func(d int64) {
		if d%20000 == 0 {
			r.say("%-10s published %d/%d (receiver down)", "backlog", d, n)
		}
	})
	if err != nil {
		return Result{}, err
	}
	// Wait until every delivery is scheduled and waiting.
	for {
		scheduled := int(st.ledger.Pipeline.Stats().Scheduled.Load())
		if scheduled >= n {
			if err := st.ledger.Pipeline.WaitFor(ctx, st.head()); err != nil {
				return Result{}, err
			}
			break
		}
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("waiting for %d deliveries to be scheduled (%d so far): %w", n, scheduled, ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := st.ledger.Pipeline.Stats().Acknowledged.Load()
	up := time.Now()
	if err := st.call("POST", "/v1/applications/app_backlog/subscriptions/"+subs[0]+"/resume", nil, nil); err != nil {
		return Result{}, err
	}
	done, err := st.waitAcked(ctx, base, int64(n), func(a int64) { r.say("%-10s drained %d/%d", "backlog", a, n) })
	if err != nil {
		return Result{}, err
	}
	drain := done.Sub(up)
	res := Result{Scenario: "backlog", Messages: n, Subscriptions: 1, Deliveries: n, IngestMsgsPerS: float64(n) / elapsed.Seconds(),
		DeliveriesPerS: float64(n) / drain.Seconds(), DrainSeconds: drain.Seconds(),
		Acknowledged: st.ledger.Pipeline.Stats().Acknowledged.Load() - base, Received: recv.Unique(), Rejected: recv.Rejected(),
		LedgerEventsPerDelivery: float64(st.head()-h0) / float64(n)}
	res.LatencyP50Ms, res.LatencyP95Ms, res.LatencyP99Ms = p.percentiles()
	r.backlogDir = dir // closed by the deferred stop, for backlog-rebuild
	return res, nil
}

// scenario runs one scenario; the cluster's results are many (one per size).
func (r *runner) scenario(ctx context.Context, name string, results []Result) (res Result, many []Result, err error) {
	switch name {
	case "throughput":
		res, err = r.deliver(ctx, "throughput", r.cfg.Messages, 1, 0)
	case "fanout":
		res, err = r.deliver(ctx, "fanout", r.cfg.FanoutMessages, r.cfg.FanoutSubs, 0)
	case "latency":
		res, err = r.deliver(ctx, "latency", r.cfg.LatencyRate*r.cfg.LatencySeconds, 1, r.cfg.LatencyRate)
	case "baseline":
		res, err = r.baseline(ctx)
	case "rebuild":
		res, err = r.rebuild(ctx)
	case "backlog":
		res, err = r.backlog(ctx)
	case "backlog-rebuild":
		res, err = r.backlogRebuild(ctx)
	case "history":
		res, err = r.history(ctx)
	case "baseline2":
		res, err = r.baseline2(ctx)
	case "sustained":
		res, err = r.sustained(ctx, results)
	case "cluster":
		many, err = r.cluster(ctx)
	}
	return res, many, err
}

// startedWithSchedule returns a function that gives the share of the
// attempts made since this call that were started in the write that
// scheduled their delivery.
func startedWithSchedule(s *pipeline.Stats) func() float64 {
	attempts0, with0 := s.Attempts.Load(), s.StartedWithSchedule.Load()
	return func() float64 {
		if a := s.Attempts.Load() - attempts0; a > 0 {
			return float64(s.StartedWithSchedule.Load()-with0) / float64(a)
		}
		return 0
	}
}
