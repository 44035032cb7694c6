package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestEveryScenarioAtTinyScale keeps the harness from rotting: every scenario
// runs with small numbers, the figures are positive, and what the receiver
// verified equals what the ledger acknowledged. It does not judge speed.
func TestEveryScenarioAtTinyScale(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole harness; skipped under -short")
	}
	cfg := Defaults()
	cfg.Messages, cfg.FanoutMessages, cfg.FanoutSubs = 200, 30, 4
	cfg.LatencyRate, cfg.LatencySeconds, cfg.BacklogMessages = 100, 1, 300
	cfg.SustainedSeconds = 2
	cfg.Clients, cfg.Workers = 8, 16
	cfg.Progress = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	results, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 8 {
		t.Fatalf("%d results, want 8", len(results))
	}
	for _, r := range results {
		if r.Rejected != 0 {
			t.Errorf("%s: %d signatures rejected", r.Scenario, r.Rejected)
		}
		if r.PeakRSSMB <= 0 {
			t.Errorf("%s: peak RSS %v", r.Scenario, r.PeakRSSMB)
		}
		switch r.Scenario {
		case "throughput", "fanout", "latency", "backlog":
			if r.DeliveriesPerS <= 0 || r.IngestMsgsPerS <= 0 || r.LatencyP50Ms <= 0 || r.LatencyP99Ms < r.LatencyP50Ms {
				t.Errorf("%s: figures %+v", r.Scenario, r)
			}
			if int(r.Acknowledged) != r.Deliveries || r.Received != r.Acknowledged {
				t.Errorf("%s: receiver verified %d, ledger acknowledged %d, expected %d", r.Scenario, r.Received, r.Acknowledged, r.Deliveries)
			}
			if r.LedgerEventsPerDelivery < 3 {
				t.Errorf("%s: %.2f ledger events per delivery (scheduled, started, acknowledged at least)", r.Scenario, r.LedgerEventsPerDelivery)
			}
			// The embedded store writes a delivery due at once with its
			// attempt's start (the backlog's subscription is paused).
			if (r.Scenario == "backlog") != (r.StartedWithSchedule == 0) || r.StartedWithSchedule > 1 {
				t.Errorf("%s: %.2f of the attempts started with their schedule", r.Scenario, r.StartedWithSchedule)
			}
			if r.Scenario != "backlog" && (r.BaselineDeliveriesPerS <= 0 || r.RatioToBaseline <= 0) {
				t.Errorf("%s: no ratio to the baseline: %+v", r.Scenario, r)
			}
			if r.RatioToTwoHop <= 0 || r.CPUMsPerDelivery <= 0 || r.AllocKBPerDelivery <= 0 || r.GCCPUMsPerDelivery < 0 {
				t.Errorf("%s: no ratio to the two-hop baseline or no CPU per delivery: %+v", r.Scenario, r)
			}
		case "baseline", "baseline2":
			if r.DeliveriesPerS <= 0 || int(r.Received) != r.Messages || r.CPUMsPerDelivery <= 0 || r.AllocKBPerDelivery <= 0 {
				t.Errorf("%s: %+v", r.Scenario, r)
			}
		case "sustained":
			if r.StartedWithSchedule <= 0 || r.StartedWithSchedule > 1 {
				t.Errorf("sustained: %.2f of the attempts started with their schedule", r.StartedWithSchedule)
			}
			if r.PublishRate <= 0 || r.DeliveryRateDuringPublish <= 0 || r.LagAtEnd < 0 || r.LatencyP99Ms < r.LatencyP50Ms ||
				int(r.Received) != r.Deliveries || int(r.Acknowledged) != r.Deliveries || r.RatioToTwoHop <= 0 {
				t.Errorf("sustained: %+v", r)
			}
			if want := int(0.7*results[0].DeliveriesPerS) * 2; r.Messages != want {
				t.Errorf("sustained published %d, want 70%% of throughput for 2 s = %d", r.Messages, want)
			}
		case "rebuild":
			if r.RebuildEventsPerS <= 0 || r.Deliveries != 200+30*4+100 || r.RebuildCPUUsPerEvent <= 0 || r.RebuildPasses != cfg.RebuildPasses {
				t.Errorf("rebuild: %+v", r)
			}
			// The ledger of the three delivery scenarios: each message's
			// published event and three per delivery, plus the set-up.
			if min := uint64(r.Messages + 3*r.Deliveries); r.RebuildEvents < min {
				t.Errorf("rebuild replayed %d events, fewer than the %d the deliveries need", r.RebuildEvents, min)
			}
		}
	}
	if r := results[0]; r.Subscriptions != 1 || results[1].Subscriptions != 4 || results[1].Deliveries != 120 {
		t.Errorf("scenario shapes: %+v %+v", r, results[1])
	}
}

func TestUnknownScenarioRefused(t *testing.T) {
	cfg := Defaults()
	cfg.Scenarios = []string{"throughput", "warp"}
	if _, err := Run(context.Background(), cfg); !errors.Is(err, errUnknownScenario) {
		t.Fatalf("got %v", err)
	}
}

// TestBacklogRebuildReplaysTheBacklogsLedger: the backlog-rebuild scenario
// replays what the backlog scenario wrote (every message and delivery of
// it), and is refused without the backlog before it.
func TestBacklogRebuildReplaysTheBacklogsLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the backlog scenario; skipped under -short")
	}
	cfg := Defaults()
	cfg.Scenarios, cfg.BacklogMessages, cfg.RebuildPasses = []string{"backlog", "backlog-rebuild"}, 150, 2
	cfg.Clients, cfg.Workers = 8, 16
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[1].Scenario != "backlog-rebuild" {
		t.Fatalf("results %+v", results)
	}
	r := results[1]
	if r.Messages != 150 || r.Deliveries != 150 || r.RebuildPasses != 2 || r.RebuildEventsPerS <= 0 || r.RebuildCPUUsPerEvent <= 0 {
		t.Errorf("backlog-rebuild figures %+v", r)
	}
	// Each message's published event and three per delivery, plus the set-up.
	if min := uint64(150 * 4); r.RebuildEvents < min {
		t.Errorf("replayed %d events, fewer than the %d the backlog wrote", r.RebuildEvents, min)
	}
	if r.CPUMsPerDelivery != 0 {
		t.Errorf("a rebuild delivers nothing, yet CPU per delivery %v", r.CPUMsPerDelivery)
	}

	for _, scenarios := range [][]string{{"backlog-rebuild"}, {"backlog-rebuild", "backlog"}} {
		cfg.Scenarios = scenarios
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "run backlog before it") {
			t.Errorf("%v: got %v", scenarios, err)
		}
	}
}

func TestRebuildPassesMustBePositive(t *testing.T) {
	cfg := Defaults()
	cfg.RebuildPasses = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--rebuild-passes") {
		t.Errorf("zero passes: got %v", err)
	}
	cfg.Scenarios = []string{"throughput"} // not asked for: not checked
	if err := cfg.Validate(); err != nil {
		t.Errorf("without the rebuild scenario: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestSummarizeTakesMedianMinMaxPerScenario(t *testing.T) {
	rs := []Result{
		{Scenario: "throughput", DeliveriesPerS: 300}, {Scenario: "baseline", DeliveriesPerS: 10},
		{Scenario: "throughput", DeliveriesPerS: 100}, {Scenario: "baseline", DeliveriesPerS: 30},
		{Scenario: "throughput", DeliveriesPerS: 200},
	}
	sums := Summarize(rs)
	if len(sums) != 2 || sums[0].Scenario != "throughput" || sums[1].Scenario != "baseline" {
		t.Fatalf("%+v", sums)
	}
	if got := sums[0].Figures["deliveries_per_s"]; got != (Spread{Median: 200, Min: 100, Max: 300}) || sums[0].Runs != 3 {
		t.Errorf("throughput %+v", got)
	}
	if got := sums[1].Figures["deliveries_per_s"]; got != (Spread{Median: 20, Min: 10, Max: 30}) {
		t.Errorf("baseline (even count: mean of the middle two) %+v", got)
	}
}

// TestHistoryScenarioAtTinyScale: the history scenario delivers everything,
// restarts, and reports every figure it promises.
func TestHistoryScenarioAtTinyScale(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a ledger twice; skipped under -short")
	}
	cfg := Defaults()
	cfg.Scenarios, cfg.HistoryMessages, cfg.Clients, cfg.Workers = []string{"history"}, 300, 8, 16
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := results[0]
	if r.Received != 300 || r.Acknowledged != 300 || r.Rejected != 0 {
		t.Fatalf("history delivered %d, acknowledged %d, rejected %d of 300", r.Received, r.Acknowledged, r.Rejected)
	}
	if r.RestartMs <= 0 || r.AsOfMs <= 0 || r.ViewBytesPerMessage <= 0 || r.RSSAfterMB <= 0 || r.ListingP50Ms <= 0 || r.ListingP99Ms < r.ListingP50Ms {
		t.Fatalf("history figures missing: %+v", r)
	}
}

func TestHistoryMessagesValidated(t *testing.T) {
	cfg := Defaults()
	cfg.Scenarios, cfg.HistoryMessages = []string{"history"}, 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--history-messages") {
		t.Fatalf("history with 0 messages: %v", err)
	}
}

func TestPayloadSeqReadsWhatAppendPayloadWrote(t *testing.T) {
	for _, n := range []int64{0, 7, 999_999} {
		got, ok := payloadSeq(appendPayload(nil, n, payload(64)))
		if !ok || got != n {
			t.Errorf("payloadSeq(appendPayload(%d)) = %d, %v", n, got, ok)
		}
	}
	if _, ok := payloadSeq([]byte(`{"other":1}`)); ok {
		t.Error("a body without n read as numbered")
	}
}
