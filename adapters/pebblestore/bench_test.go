package pebblestore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// event1K is a ~1 KiB JSON event, like a delivery attempt with an excerpt.
func event1K(n uint64) domain.EventData {
	id := domain.FormatUUID(fmt.Appendf(nil, "%016d", n))
	data := fmt.Appendf(nil, `{"delivery_id":"dlv_%d","attempt":1,"status_code":200,"latency_us":%d,"response_excerpt":"%0900d"}`, n, n%9973, n)
	return domain.EventData{ID: id, Type: domain.TypeAttemptAcknowledged, Data: data, Metadata: []byte(`{"schema":1,"actor":"bench"}`)}
}

// benchAppends runs b.N single-event durable appends from `writers`
// goroutines, each on its own streams, and reports appends/s and latency.
func benchAppends(b *testing.B, writers int) {
	s := openTemp(b)
	ctx := context.Background()
	var seq atomic.Uint64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N / writers
	for w := 0; w < writers; w++ {
		n := per
		if w == 0 {
			n += b.N % writers
		}
		wg.Add(1)
		go func(w, n int) {
			defer wg.Done()
			local := make([]time.Duration, 0, n)
			for i := 0; i < n; i++ {
				k := seq.Add(1)
				t0 := time.Now()
				if _, err := s.Append(ctx, fmt.Sprintf("bench-%d-%d", w, i%100), domain.Any, event1K(k)); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(w, n)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	}
}

func BenchmarkAppendDurable1Writer(b *testing.B)    { benchAppends(b, 1) }
func BenchmarkAppendDurable64Writers(b *testing.B)  { benchAppends(b, 64) }
func BenchmarkAppendDurable256Writers(b *testing.B) { benchAppends(b, 256) }

// BenchmarkReadAll reads a ledger of 200,000 ~1 KiB events forward in pages of
// 1,000 (warm: the data was just written) and reports events/s; an op is one
// event. ReadAll reads each page into fresh memory, ReadAllInto into one page
// it reads into again (domain.PageReader): run with -benchmem to see what
// that saves.
func BenchmarkReadAll(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	const total = 200_000
	batch := make([]domain.EventData, 0, 100)
	for i := uint64(0); i < total; i++ {
		batch = append(batch, event1K(i))
		if len(batch) == cap(batch) {
			if _, err := s.Append(ctx, fmt.Sprintf("stream-%d", i%1000), domain.Any, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	var page domain.Page
	for _, read := range []struct {
		name string
		read func(from domain.Position) ([]domain.RecordedEvent, error)
	}{
		{"ReadAll", func(from domain.Position) ([]domain.RecordedEvent, error) { return s.ReadAll(ctx, from, 1000) }},
		{"ReadAllInto", func(from domain.Position) ([]domain.RecordedEvent, error) {
			return s.ReadAllInto(ctx, from, 1000, &page)
		}},
	} {
		b.Run(read.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			start := time.Now()
			from := domain.Position(0)
			for n < b.N {
				recs, err := read.read(from)
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) == 0 {
					from = 0
					continue
				}
				n += len(recs)
				from = recs[len(recs)-1].Position + 1
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkReadOneEvent reads single ~1 KiB events at random out of a ledger
// of 100,000 streams of one event each, as a delivery attempt reads its
// message when the payload cache does not hold it: through the stream's
// index (ReadStream from revision 0) or at the event's position (ReadAt).
func BenchmarkReadOneEvent(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	const streams = 100_000
	pos := make([]domain.Position, 0, streams)
	for i := uint64(0); i < streams; i += 256 {
		parts := make([]domain.StreamAppend, 0, 256)
		for j := i; j < min(i+256, streams); j++ {
			parts = append(parts, domain.StreamAppend{Stream: fmt.Sprintf("message-msg_%08d", j), Expected: domain.NoStream, Events: []domain.EventData{event1K(j)}})
		}
		res, err := s.AppendMulti(ctx, parts...)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			pos = append(pos, r.Position)
		}
	}
	time.Sleep(time.Second) // flushes and compactions settle
	pick := func(i int) int { return (i * 7919) % streams }
	b.Run("by-stream", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			k := pick(i)
			if recs, err := s.ReadStream(ctx, fmt.Sprintf("message-msg_%08d", k), 0, domain.Forward, 1); err != nil || len(recs) != 1 || recs[0].Position != pos[k] {
				b.Fatal(recs, err)
			}
		}
	})
	b.Run("by-position", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			k := pick(i)
			_ = fmt.Sprintf("message-msg_%08d", k) // as the other: the stream's name is made for the check
			if rec, err := s.ReadAt(ctx, pos[k]); err != nil || rec.Position != pos[k] {
				b.Fatal(rec, err)
			}
		}
	})
}
