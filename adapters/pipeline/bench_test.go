package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
)

// BenchmarkPipeline publishes b.N ~1 KiB messages from 16 goroutines through
// the command handlers (no HTTP API) to one subscription whose endpoint is a
// verifying Standard Webhooks receiver on loopback. It reports deliveries/s
// from the first publish to the last acknowledgement in the ledger, and the
// latency from publish to receipt.
func BenchmarkPipeline(b *testing.B) {
	benchPipeline(b, 1)
}

// BenchmarkPipelineFanout10 is the same with 10 matching subscriptions.
func BenchmarkPipelineFanout10(b *testing.B) {
	benchPipeline(b, 10)
}

func benchPipeline(b *testing.B, subs int) {
	dir := b.TempDir()
	store, err := pebblestore.Open(dir+"/store", pebblestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	ctx := context.Background()
	cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_bench", Name: "bench"}, md)

	var published sync.Map
	var latMu sync.Mutex
	lat := make([]time.Duration, 0, b.N*subs)
	recv := receiver.New()
	recv.OnReceipt = func(r receiver.Receipt) {
		if t0, ok := published.Load(r.MessageID); ok {
			latMu.Lock()
			lat = append(lat, r.At.Sub(t0.(time.Time)))
			latMu.Unlock()
		}
	}
	srv := httptest.NewUnstartedServer(recv)
	srv.Config.SetKeepAlivesEnabled(true)
	srv.Config.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	srv.Start()
	defer srv.Close()
	for i := 0; i < subs; i++ {
		secret := ids.NewSecret()
		name := fmt.Sprintf("sub_%d", i)
		recv.Add(name, secret)
		if _, _, err := cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: name, ApplicationID: "app_bench", URL: srv.URL + "/" + name, EventTypes: domain.Filters{"*"}, Secret: secret}, md); err != nil {
			b.Fatal(err)
		}
	}
	r, err := pipeline.New(pipeline.Options{Store: store, Commands: cmds, Sender: sender.New(sender.Options{AllowPrivate: true}),
		Log: zerolog.Nop(), Workers: 128, PerSubscription: 128})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	for !r.Ready() {
		time.Sleep(time.Millisecond)
	}
	payload := []byte(fmt.Sprintf(`{"type":"order.paid","data":"%0950d"}`, 0))

	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				id := ids.New(domain.PrefixMessage)
				published.Store(id, time.Now())
				if _, _, err := cmds.PublishNew(ctx, domain.PublishMessage{MessageID: id, ApplicationID: "app_bench", EventType: "order.paid", Payload: payload}, md); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ingest := time.Since(start)
	want := b.N * subs
	// Acknowledgements appended to the ledger (durable) count; the views
	// follow them.
	for r.Stats().Acknowledged.Load() < int64(want) {
		time.Sleep(200 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	slices.Sort(lat)
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/ingest.Seconds(), "publishes/s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	if recv.Rejected() > 0 {
		b.Fatalf("%d signatures rejected", recv.Rejected())
	}
}
