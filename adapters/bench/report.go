package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Validate reports every problem with cfg at once.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	pos("--messages", c.Messages)
	pos("--fanout-messages", c.FanoutMessages)
	pos("--fanout-subs", c.FanoutSubs)
	pos("--latency-rate", c.LatencyRate)
	pos("--latency-seconds", c.LatencySeconds)
	pos("--backlog-messages", c.BacklogMessages)
	if slices.Contains(c.Scenarios, "rebuild") || slices.Contains(c.Scenarios, "backlog-rebuild") {
		pos("--rebuild-passes", c.RebuildPasses)
	}
	if i := slices.Index(c.Scenarios, "backlog-rebuild"); i >= 0 && !slices.Contains(c.Scenarios[:i], "backlog") {
		errs = append(errs, errors.New("backlog-rebuild replays the backlog scenario's ledger: run backlog before it"))
	}
	if slices.Contains(c.Scenarios, "sustained") {
		pos("--sustained-seconds", c.SustainedSeconds)
		if c.SustainedRate < 0 {
			errs = append(errs, fmt.Errorf("--sustained-rate must not be negative, got %d", c.SustainedRate))
		}
		if c.SustainedRate == 0 && !slices.Contains(c.Scenarios, "throughput") {
			errs = append(errs, errors.New("sustained: give --sustained-rate, or run throughput before it (the rate defaults to 70% of it)"))
		}
	}
	if slices.Contains(c.Scenarios, "cluster") {
		pos("--cluster-messages", c.ClusterMessages)
		pos("--cluster-subs", c.ClusterSubs)
	}
	if slices.Contains(c.Scenarios, "history") {
		pos("--history-messages", c.HistoryMessages)
	}
	pos("--clients", c.Clients)
	pos("--workers", c.Workers)
	if c.PayloadBytes < 128 || c.PayloadBytes > 256<<10 {
		errs = append(errs, fmt.Errorf("--payload-bytes must be within 128..262144, got %d", c.PayloadBytes))
	}
	if len(c.Scenarios) == 0 {
		errs = append(errs, errors.New("--scenarios names none"))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			errs = append(errs, fmt.Errorf("%w %q (want %s)", errUnknownScenario, s, strings.Join(allScenarios, ", ")))
		}
	}
	return errors.Join(errs...)
}

var allScenarios = []string{"throughput", "fanout", "latency", "baseline", "baseline2", "sustained", "rebuild", "backlog", "backlog-rebuild", "history", "cluster"}

// Spread is a figure over several runs.
type Spread struct{ Median, Min, Max float64 }

// Summary is one scenario over several runs.
type Summary struct {
	Scenario string
	Runs     int
	Figures  map[string]Spread // by JSON field name
}

// figures are the fields summarised and shown, in table order.
var figures = []struct {
	name string
	get  func(Result) float64
}{
	{"ingest_msgs_per_s", func(r Result) float64 { return r.IngestMsgsPerS }},
	{"deliveries_per_s", func(r Result) float64 { return r.DeliveriesPerS }},
	{"ratio_to_baseline", func(r Result) float64 { return r.RatioToBaseline }},
	{"ratio_to_two_hop", func(r Result) float64 { return r.RatioToTwoHop }},
	{"cpu_ms_per_delivery", func(r Result) float64 { return r.CPUMsPerDelivery }},
	{"latency_p50_ms", func(r Result) float64 { return r.LatencyP50Ms }},
	{"latency_p99_ms", func(r Result) float64 { return r.LatencyP99Ms }},
	{"ledger_events_per_delivery", func(r Result) float64 { return r.LedgerEventsPerDelivery }},
	{"rebuild_events_per_s", func(r Result) float64 { return r.RebuildEventsPerS }},
	{"rebuild_cpu_us_per_event", func(r Result) float64 { return r.RebuildCPUUsPerEvent }},
	{"drain_seconds", func(r Result) float64 { return r.DrainSeconds }},
	{"peak_rss_mb", func(r Result) float64 { return r.PeakRSSMB }},
}

// Summarize groups the results of several runs by scenario (in first-seen
// order) with the median, min and max of every figure.
func Summarize(results []Result) []Summary {
	var order []string
	by := map[string][]Result{}
	for _, r := range results {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	out := make([]Summary, 0, len(order))
	for _, name := range order {
		rs := by[name]
		s := Summary{Scenario: name, Runs: len(rs), Figures: map[string]Spread{}}
		for _, f := range figures {
			vals := make([]float64, len(rs))
			for i, r := range rs {
				vals[i] = f.get(r)
			}
			slices.Sort(vals)
			med := vals[len(vals)/2]
			if len(vals)%2 == 0 {
				med = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
			}
			s.Figures[f.name] = Spread{Median: med, Min: vals[0], Max: vals[len(vals)-1]}
		}
		out = append(out, s)
	}
	return out
}

// WriteTable prints the summaries as a table: the median, and with several
// runs the min..max under it. A figure a scenario does not measure shows "-".
func WriteTable(w io.Writer, sums []Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"scenario", "runs", "ingest msg/s", "deliveries/s", "ratio", "2-hop ratio", "CPU ms/dlv", "p50 ms", "p99 ms", "events/dlv", "rebuild ev/s", "CPU µs/ev", "drain s", "peak RSS MB"}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	format := func(name string, v float64) string {
		if v == 0 {
			return "-"
		}
		switch name {
		case "ratio_to_baseline", "ratio_to_two_hop", "latency_p50_ms", "latency_p99_ms", "ledger_events_per_delivery", "drain_seconds",
			"rebuild_cpu_us_per_event":
			return fmt.Sprintf("%.2f", v)
		case "cpu_ms_per_delivery":
			return fmt.Sprintf("%.3f", v)
		}
		return fmt.Sprintf("%.0f", v)
	}
	for _, s := range sums {
		row := []string{s.Scenario, fmt.Sprint(s.Runs)}
		rng := []string{"", ""}
		for _, f := range figures {
			sp := s.Figures[f.name]
			row = append(row, format(f.name, sp.Median))
			if sp.Min == 0 && sp.Max == 0 {
				rng = append(rng, "")
			} else {
				rng = append(rng, format(f.name, sp.Min)+".."+format(f.name, sp.Max))
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		if s.Runs > 1 {
			fmt.Fprintln(tw, strings.Join(rng, "\t")+"\t")
		}
	}
	return tw.Flush()
}
