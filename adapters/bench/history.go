package bench

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/hookledger/hookledger/adapters/app"
	"github.com/hookledger/hookledger/adapters/receiver"
)

// history delivers HistoryMessages to one subscription, then measures what
// the history costs the running process: peak RSS and RSS after the drain,
// the view store per message, restart to ready, an as_of read and listing
// pages.
func (r *runner) history(ctx context.Context) (Result, error) {
	dir := r.root + "/history"
	st, err := startStack(dir, r.cfg.Workers, r.cfg.Clients, !r.cfg.NoMetrics, r.cfg.NoPayloadEncryption)
	if err != nil {
		return Result{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			st.stop()
		}
	}()
	recv := receiver.New()
	recv.SeqOf = payloadSeq // the load generator's own memory must not grow with the history it measures
	rsrv := httptest.NewServer(recv)
	defer rsrv.Close()
	const appID = "app_history"
	subs, err := st.setup(recv, rsrv.URL, appID, 1, []string{"*"}, false)
	if err != nil {
		return Result{}, err
	}
	n := r.cfg.HistoryMessages
	base := st.ledger.Pipeline.Stats().Acknowledged.Load()
	start := time.Now()
	elapsed, err := st.publish(ctx, appID, "order.paid", n, r.cfg.Clients, 0, r.cfg.PayloadBytes, func(d int64) {
		if d%50000 == 0 {
			r.say("%-10s published %d/%d", "history", d, n)
		}
	})
	if err != nil {
		return Result{}, err
	}
	done, err := st.waitAcked(ctx, base, int64(n), func(a int64) { r.say("%-10s delivered %d/%d", "history", a, n) })
	if err != nil {
		return Result{}, err
	}
	mid := st.head() / 2
	res := Result{Scenario: "history", Messages: n, Subscriptions: 1, Deliveries: n,
		IngestMsgsPerS: float64(n) / elapsed.Seconds(), DeliveriesPerS: float64(n) / done.Sub(start).Seconds(),
		Acknowledged: st.ledger.Pipeline.Stats().Acknowledged.Load() - base, Received: recv.Unique(), Rejected: recv.Rejected()}
	res.PeakRSSMB = peakRSS()
	runtime.GC()
	debug.FreeOSMemory()
	res.RSSAfterMB = currentRSS()

	// Restart: a stopped process opened again, until its views are ready.
	st.stop()
	stopped = true
	t0 := time.Now()
	if st, err = startStack(dir, r.cfg.Workers, r.cfg.Clients, !r.cfg.NoMetrics, r.cfg.NoPayloadEncryption); err != nil {
		return Result{}, err
	}
	stopped = false
	res.RestartMs = ms(time.Since(t0))
	res.ViewBytesPerMessage = float64(app.DirBytes(filepath.Join(dir, "views"))) / float64(n)

	var asOf []float64
	for i := 0; i < 20; i++ {
		t := time.Now()
		if err := st.call("GET", fmt.Sprintf("/v1/applications/%s/subscriptions/%s?as_of=%d", appID, subs[0], mid), nil, nil); err != nil {
			return Result{}, fmt.Errorf("as_of: %w", err)
		}
		asOf = append(asOf, ms(time.Since(t)))
	}
	res.AsOfMs = quantile(asOf, 0.5)

	var pages []float64
	cursor := ""
	for i := 0; i < 200; i++ {
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		t := time.Now()
		path := "/v1/applications/" + appID + "/deliveries?limit=50"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := st.call("GET", path, nil, &page); err != nil {
			return Result{}, fmt.Errorf("listing: %w", err)
		}
		pages = append(pages, ms(time.Since(t)))
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	res.ListingP50Ms, res.ListingP99Ms = quantile(pages, 0.5), quantile(pages, 0.99)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
