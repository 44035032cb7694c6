package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"

	"github.com/hookledger/hookledger/adapters/bench"
)

// benchCmd runs the benchmark harness (adapters/bench): a table on stdout,
// progress on stderr, or with --json one object per scenario and run.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := bench.Defaults()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Messages, "messages", cfg.Messages, "throughput: messages to 1 subscription")
	fs.IntVar(&cfg.FanoutMessages, "fanout-messages", cfg.FanoutMessages, "fan-out: messages")
	fs.IntVar(&cfg.FanoutSubs, "fanout-subs", cfg.FanoutSubs, "fan-out: matching subscriptions")
	fs.IntVar(&cfg.LatencyRate, "latency-rate", cfg.LatencyRate, "latency: messages per second")
	fs.IntVar(&cfg.LatencySeconds, "latency-seconds", cfg.LatencySeconds, "latency: seconds")
	fs.IntVar(&cfg.BacklogMessages, "backlog-messages", cfg.BacklogMessages, "backlog: messages published while the receiver is down (backlog-rebuild, not in the default list, then replays that ledger)")
	fs.IntVar(&cfg.RebuildPasses, "rebuild-passes", cfg.RebuildPasses, "rebuild and backlog-rebuild: replays of the ledger into fresh views (the median pass is reported)")
	fs.IntVar(&cfg.SustainedRate, "sustained-rate", cfg.SustainedRate, "sustained: messages per second (0: 70% of this run's throughput)")
	fs.IntVar(&cfg.SustainedSeconds, "sustained-seconds", cfg.SustainedSeconds, "sustained: seconds of publishing")
	fs.IntVar(&cfg.HistoryMessages, "history-messages", cfg.HistoryMessages, "history: messages delivered before measuring what the history costs (scenario not in the default list)")
	fs.IntVar(&cfg.ClusterMessages, "cluster-messages", cfg.ClusterMessages, "cluster: messages (one delivery each) per cluster size (scenario not in the default list)")
	fs.IntVar(&cfg.ClusterSubs, "cluster-subs", cfg.ClusterSubs, "cluster: subscriptions the messages are spread over")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent publishing clients")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "the pipeline's concurrent attempts (and the baseline's senders)")
	fs.IntVar(&cfg.PayloadBytes, "payload-bytes", cfg.PayloadBytes, "approximate payload size")
	fs.BoolVar(&cfg.NoMetrics, "no-metrics", cfg.NoMetrics, "run the ledger without Prometheus metrics (to measure their cost)")
	fs.BoolVar(&cfg.NoPayloadEncryption, "no-payload-encryption", cfg.NoPayloadEncryption, "store payloads in the clear (to measure what encryption at rest costs)")
	scenarios := fs.String("scenarios", strings.Join(cfg.Scenarios, ","), "comma-separated scenarios to run, in order")
	runs := fs.Int("runs", 1, "run everything this many times; the table shows the median and min..max")
	asJSON := fs.Bool("json", false, "print one JSON object per scenario (and run) instead of the table")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	traceFile := fs.String("trace", "", "write an execution trace of the whole run to this file (go tool trace; large: keep the run short)")
	memProfile := fs.String("memprofile", "", "write the run's allocation profile to this file at the end (go tool pprof -sample_index=alloc_space)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	cfg.Scenarios = strings.Split(*scenarios, ",")
	if exe, err := os.Executable(); err == nil {
		cfg.Binary = exe // the cluster scenario starts nodes of this binary
	}
	err := cfg.Validate()
	if *runs < 1 {
		err = errors.Join(err, fmt.Errorf("--runs must be at least 1, got %d", *runs))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	for _, rec := range []struct {
		path  string
		start func(io.Writer) error
		stop  func()
	}{
		{*cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile},
		{*traceFile, trace.Start, trace.Stop},
	} {
		if rec.path == "" {
			continue
		}
		stop, err := record(rec.path, rec.start, rec.stop)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer stop()
	}
	if *memProfile != "" {
		// Created now, so that a bad path fails before a long run, not after.
		f, err := os.Create(*memProfile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer writeMemProfile(f, stderr)
	}
	var all []bench.Result
	enc := json.NewEncoder(stdout)
	for i := 1; i <= *runs; i++ {
		if *runs > 1 && !*quiet {
			fmt.Fprintf(stderr, "run %d of %d\n", i, *runs)
		}
		results, err := bench.Run(ctx, cfg)
		for j := range results {
			results[j].Run = i
			if *asJSON {
				enc.Encode(results[j])
			}
		}
		all = append(all, results...)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if !*asJSON {
		if err := bench.WriteTable(stdout, bench.Summarize(all)); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	return 0
}

// record starts a recording of the run (a CPU profile, a trace) into a new
// file at path; the returned stop ends it and closes the file.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

// writeMemProfile writes the allocations since the start (the "allocs"
// profile) to f and closes it; a failure is reported, not fatal, since the
// run's results are already out.
func writeMemProfile(f *os.File, stderr io.Writer) {
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(stderr, err)
	}
}
