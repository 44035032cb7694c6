package audit_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// sealedBenchLedger is a sealed ledger of 200,000 ~1 KiB events on the
// embedded store (seals of 10,000).
func sealedBenchLedger(b *testing.B) (*pebblestore.Store, ed25519.PrivateKey, uint64) {
	store, err := pebblestore.Open(b.TempDir(), pebblestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	ctx := context.Background()
	const total = 200_000
	batch := make([]domain.EventData, 0, 100)
	for i := 0; i < total; i++ {
		batch = append(batch, domain.EventData{ID: ids.NewEventID(), Type: domain.TypeAttemptAcknowledged,
			Data:     fmt.Appendf(nil, `{"delivery_id":"dlv_%d","attempt":1,"status_code":200,"response_excerpt":"%0900d"}`, i, i),
			Metadata: []byte(`{"schema":1,"actor":"bench"}`)})
		if len(batch) == cap(batch) {
			if _, err := store.Append(ctx, fmt.Sprintf("delivery-%d", i%5000), domain.Any, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	_, key, _ := ed25519.GenerateKey(nil)
	sctx, cancel := context.WithCancel(ctx)
	s := &audit.Sealer{Store: store, Key: key, Every: 10_000, Interval: 50 * time.Millisecond, NewEventID: ids.NewEventID, Log: zerolog.Nop()}
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	for {
		last, _, ok, _ := audit.LastSeal(ctx, store)
		if ok && last.ToSeq == total {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	return store, key, total
}

// BenchmarkVerify verifies a sealed ledger of 200,000 ~1 KiB events on the
// embedded store (seals of 10,000) and reports events/s.
func BenchmarkVerify(b *testing.B) {
	store, key, _ := sealedBenchLedger(b)
	ctx := context.Background()
	pub := key.Public().(ed25519.PublicKey)
	b.ResetTimer()
	start := time.Now()
	var n uint64
	for i := 0; i < b.N; i++ {
		rep, err := audit.Verify(ctx, store, pub, nil)
		if err != nil || !rep.OK {
			b.Fatalf("%+v %v", rep, err)
		}
		n += rep.Events
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkExport exports the whole of the same ledger (NDJSON, to nowhere)
// and reports events/s.
func BenchmarkExport(b *testing.B) {
	store, key, total := sealedBenchLedger(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		sum, err := audit.Export(context.Background(), store, key, audit.Scope{}, io.Discard)
		if err != nil || sum.Events != total {
			b.Fatalf("%+v %v", sum, err)
		}
	}
	b.ReportMetric(float64(b.N)*float64(total)/time.Since(start).Seconds(), "events/s")
}
