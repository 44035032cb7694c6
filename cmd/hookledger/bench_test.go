package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchCommandJSONAndTable runs `hookledger bench` at a tiny scale: --json
// prints one object per scenario with the fields the issue names, and the
// table has a row per scenario. It does not judge speed.
func TestBenchCommandJSONAndTable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the harness; skipped under -short")
	}
	tiny := []string{"--messages", "60", "--fanout-messages", "10", "--fanout-subs", "3", "--latency-rate", "50",
		"--latency-seconds", "1", "--backlog-messages", "80", "--sustained-seconds", "1", "--clients", "4", "--workers", "8", "--quiet"}
	var out, errb bytes.Buffer
	if rc := benchCmd(context.Background(), append(tiny, "--json"), &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	fields := []string{"scenario", "messages", "subscriptions", "ingest_msgs_per_s", "deliveries_per_s", "latency_p50_ms",
		"latency_p99_ms", "ledger_events_per_delivery", "baseline_deliveries_per_s", "ratio_to_baseline",
		"rebuild_events_per_s", "peak_rss_mb"}
	var seen []string
	dec := json.NewDecoder(&out)
	for dec.More() {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			if _, ok := obj[f]; !ok {
				t.Errorf("%v: no field %s", obj["scenario"], f)
			}
		}
		seen = append(seen, obj["scenario"].(string))
	}
	if got := strings.Join(seen, ","); got != "throughput,fanout,latency,baseline,baseline2,rebuild,backlog,sustained" {
		t.Fatalf("scenarios %s", got)
	}

	out.Reset()
	if rc := benchCmd(context.Background(), append(tiny, "--scenarios", "throughput,baseline", "--runs", "2"), &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// Header, then per scenario its median row and its min..max row.
	if len(lines) != 5 || !strings.Contains(lines[0], "deliveries/s") || !strings.HasPrefix(strings.TrimSpace(lines[1]), "throughput") ||
		!strings.Contains(lines[2], "..") || !strings.HasPrefix(strings.TrimSpace(lines[3]), "baseline") {
		t.Fatalf("table:\n%s", out.String())
	}
}

func TestBenchCommandRefusesBadFlagsAllAtOnce(t *testing.T) {
	var out, errb bytes.Buffer
	rc := benchCmd(context.Background(), []string{"--messages", "-1", "--scenarios", "warp", "--runs", "0"}, &out, &errb)
	if rc != 2 {
		t.Fatalf("rc %d", rc)
	}
	for _, want := range []string{"--messages", `unknown scenario "warp"`, "--runs"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
