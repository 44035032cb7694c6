package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
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

// TestBenchClusterScenario runs `hookledger bench --scenarios cluster` at a
// tiny scale: one row per cluster size (1, 2, 3 node processes), every
// message delivered, each node's CPU reported. It does not judge speed.
func TestBenchClusterScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node processes; skipped under -short")
	}
	out, code := runCLI(t, "bench", "--scenarios", "cluster", "--cluster-messages", "300", "--cluster-subs", "10", "--clients", "4", "--json", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for dec.More() {
		var r struct {
			Scenario string    `json:"scenario"`
			Nodes    int       `json:"nodes"`
			Received int       `json:"received"`
			PerNode  []float64 `json:"node_cpu_ms_per_delivery"`
			CPU      float64   `json:"cpu_ms_per_delivery"`
			Rate     float64   `json:"deliveries_per_s"`
		}
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%v in:\n%s", err, out)
		}
		n++
		if r.Scenario != "cluster-"+strconv.Itoa(n)+"n" || r.Nodes != n || r.Received != 300 || len(r.PerNode) != n || r.CPU <= 0 || r.Rate <= 0 {
			t.Fatalf("row %d: %+v", n, r)
		}
	}
	if n != 3 {
		t.Fatalf("%d rows, want 3:\n%s", n, out)
	}
}

// TestBenchCommandRecordings: --cpuprofile, --trace and --memprofile each
// leave their file (pprof's gzip, the trace's header), and a path that
// cannot be created fails before the run, not after it.
func TestBenchCommandRecordings(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the harness; skipped under -short")
	}
	dir := t.TempDir()
	tiny := []string{"--scenarios", "throughput", "--messages", "20", "--clients", "2", "--workers", "2", "--quiet", "--json"}
	var out, errb bytes.Buffer
	args := append(tiny, "--cpuprofile", dir+"/cpu", "--trace", dir+"/trace", "--memprofile", dir+"/mem")
	if rc := benchCmd(context.Background(), args, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	for name, magic := range map[string]string{"cpu": "\x1f\x8b", "mem": "\x1f\x8b", "trace": "go 1."} {
		b, err := os.ReadFile(dir + "/" + name)
		if err != nil || !bytes.HasPrefix(b, []byte(magic)) {
			t.Errorf("%s: %d bytes, err %v, want it to start %q", name, len(b), err, magic)
		}
	}
	for _, flag := range []string{"--cpuprofile", "--trace", "--memprofile"} {
		out.Reset()
		errb.Reset()
		rc := benchCmd(context.Background(), append(tiny, flag, dir+"/missing/x"), &out, &errb)
		if rc != 1 || out.Len() != 0 || !strings.Contains(errb.String(), "missing/x") {
			t.Errorf("%s to a missing directory: rc %d, stdout %q, stderr %q; want 1, no run, the path named", flag, rc, out.String(), errb.String())
		}
	}
}
