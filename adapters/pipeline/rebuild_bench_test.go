package pipeline_test

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
)

// BenchmarkRebuild folds a ledger of 50,000 delivered ~1 KiB messages
// (200,000 events: published, scheduled, attempt started, acknowledged, as the
// pipeline writes them) from position 0, into fresh views held in memory and
// into a fresh view store written to disk as `hookledger rebuild` does, and
// reports events/s and CPU per event for each. The ledger is written once,
// outside the timing.
func BenchmarkRebuild(b *testing.B) {
	const messages = 50_000
	store, err := pebblestore.Open(b.TempDir(), pebblestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	writeDeliveredLedger(b, store, messages)
	time.Sleep(2 * time.Second) // the ledger's own flushes and compactions end
	dir := b.TempDir()
	run := func(b *testing.B, rebuild func() (pipeline.RebuildResult, error)) {
		var events uint64
		start, cpu0 := time.Now(), cpuTime()
		for i := 0; i < b.N; i++ {
			res, err := rebuild()
			if err != nil {
				b.Fatal(err)
			}
			if res.Deliveries != messages {
				b.Fatalf("rebuilt %d deliveries, want %d", res.Deliveries, messages)
			}
			events += res.Views.Events
		}
		b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(events), "cpu-µs/event")
	}
	// The labels let a CPU profile (-cpuprofile, then pprof -tagfocus
	// phase=rebuild) leave out the writing of the ledger; Pebble's own
	// flushes and compactions run unlabelled.
	labelled := func(f func(ctx context.Context) (pipeline.RebuildResult, error)) (res pipeline.RebuildResult, err error) {
		pprof.Do(context.Background(), pprof.Labels("phase", "rebuild"), func(ctx context.Context) { res, err = f(ctx) })
		return res, err
	}
	b.Run("memory", func(b *testing.B) {
		run(b, func() (pipeline.RebuildResult, error) {
			return labelled(func(ctx context.Context) (pipeline.RebuildResult, error) { return pipeline.Rebuild(ctx, store, 0, nil) })
		})
	})
	stores := 0 // the sub-benchmark runs more than once: a new store each time
	b.Run("viewstore", func(b *testing.B) {
		run(b, func() (pipeline.RebuildResult, error) {
			return labelled(func(ctx context.Context) (pipeline.RebuildResult, error) {
				stores++
				into, err := viewstore.Open(fmt.Sprintf("%s/%d", dir, stores), viewstore.Options{Bulk: true})
				if err != nil {
					return pipeline.RebuildResult{}, err
				}
				defer into.Close()
				return pipeline.RebuildInto(ctx, store, into, 0, nil)
			})
		})
	})
}

// cpuTime is the CPU the process used so far (user + system): the rebuild's
// cost on a shared machine, where events/s also measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeDeliveredLedger appends what the pipeline would for n messages to one
// subscription, each delivered at its first attempt.
func writeDeliveredLedger(b testing.TB, store domain.EventStore, n int) {
	ctx := context.Background()
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	if _, _, err := cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_bench", Name: "bench"}, md); err != nil {
		b.Fatal(err)
	}
	if _, _, err := cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: "sub_bench", ApplicationID: "app_bench",
		URL: "http://127.0.0.1:1/x", EventTypes: domain.Filters{"*"}, Secret: ids.NewSecret()}, md); err != nil {
		b.Fatal(err)
	}
	payload := []byte(fmt.Sprintf(`{"type":"order.paid","data":"%0950d"}`, 0))
	policy := domain.PolicyFromMS(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := deliverOne(ctx, cmds, payload, policy); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

func deliverOne(ctx context.Context, cmds *domain.Commands, payload []byte, policy domain.RetryPolicy) error {
	msg, res, err := cmds.PublishNew(ctx, domain.PublishMessage{MessageID: ids.New(domain.PrefixMessage), ApplicationID: "app_bench", EventType: "order.paid", Payload: payload}, md)
	if err != nil {
		return err
	}
	now := time.Now()
	steps := []any{
		domain.ScheduleDelivery{MessageID: msg.MessageID, SubscriptionID: "sub_bench", ApplicationID: "app_bench", EventType: "order.paid",
			MatchedPattern: "*", MessagePosition: res.Position, FirstDelay: policy.Schedule[0]},
		domain.StartAttempt{Worker: "bench"},
		domain.RecordOutcome{Result: domain.AttemptResult{Attempt: 1, StatusCode: 200, Latency: time.Millisecond}, Policy: policy},
	}
	var d domain.Delivery
	var rev uint64
	for i, cmd := range steps {
		evs, err := domain.DecideDelivery(d, cmd, now)
		if err != nil {
			return err
		}
		stream := domain.DeliveryStream(domain.DeliveryIDFor(msg.MessageID, "sub_bench"))
		r, _, err := cmds.AppendDecided(ctx, stream, rev, i > 0, evs, md)
		if err != nil {
			return err
		}
		for _, e := range evs {
			d = domain.EvolveDelivery(d, e)
		}
		rev = r.Revision
	}
	return nil
}
