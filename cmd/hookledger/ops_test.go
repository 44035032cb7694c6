package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/receiver"
)

// scrape reads a /metrics page into metric families.
func scrape(t *testing.T, url, key string) (map[string]*dto, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil, res.StatusCode
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("%s is not the Prometheus text format: %v", url, err)
	}
	out := map[string]*dto{}
	for name, f := range fams {
		d := &dto{}
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Histogram != nil:
				v = float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				v = m.Untyped.GetValue()
			}
			d.samples = append(d.samples, sample{labels, v})
		}
		out[name] = d
	}
	return out, 200
}

type sample struct {
	labels map[string]string
	value  float64
}

type dto struct{ samples []sample }

// value sums the samples whose labels include want.
func (d *dto) value(want map[string]string) float64 {
	if d == nil {
		return -1
	}
	total := 0.0
	for _, s := range d.samples {
		ok := true
		for k, v := range want {
			ok = ok && s.labels[k] == v
		}
		if ok {
			total += s.value
		}
	}
	return total
}

// TestMetricsAndLogs runs serve with its output redirected: /metrics (on
// its own listener, and on the API behind admin/auditor keys) shows the
// delivery, the ledger appends, the requests and the runtime; every log line
// is a JSON object with time, level, component and message, and no secret
// appears in any of them, at debug level.
func TestMetricsAndLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	dir := t.TempDir()
	addr, maddr := freePort(t), freePort(t)
	const key = "ops-test-admin-key-0123456789abcdef"
	srv := exec.Command(binary(t), "serve", "--data-dir", dir, "--listen", addr, "--metrics-listen", maddr,
		"--allow-private-targets", "--seal-interval", "100ms", "--log-level", "debug")
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+key)
	var logs syncBuffer
	srv.Stdout, srv.Stderr = &logs, &logs // not a terminal: --log-format auto means JSON
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	api := apiClient{t: t, base: "http://" + addr, key: key}
	api.waitReady(20*time.Second, &logs)
	recv := receiver.New()
	hook := httptest.NewServer(recv)
	defer hook.Close()
	api.call("POST", "/v1/applications", map[string]any{"id": "app_m", "name": "m"})
	sub := api.call("POST", "/v1/applications/app_m/subscriptions", map[string]any{"id": "sub_m", "url": hook.URL + "/sub_m", "event_types": []string{"*"},
		"headers": map[string]string{"Authorization": "Bearer endpoint-credential-42"}})
	secret := sub["secret"].(string)
	recv.Add("sub_m", secret)
	msg := api.call("POST", "/v1/applications/app_m/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"n": 1}})["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	for recv.Count("sub_m", msg) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	aud := api.call("POST", "/v1/keys", map[string]any{"role": "auditor"})["key"].(string)
	own := api.call("POST", "/v1/keys", map[string]any{"role": "application", "application": "app_m"})["key"].(string)
	req, _ := http.NewRequest("GET", api.base+"/v1/keys", nil)
	req.Header.Set("Authorization", "Bearer wrong-key")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}

	var m map[string]*dto
	for {
		m, _ = scrape(t, "http://"+maddr+"/metrics", "")
		if m["hookledger_delivery_attempts_total"].value(map[string]string{"outcome": "acknowledged"}) >= 1 && m["hookledger_seal_last_position"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery never showed in the metrics")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, want := range map[string]map[string]string{
		"hookledger_deliveries_scheduled_total":          nil,
		"hookledger_delivery_attempt_duration_seconds":   {"result": "acknowledged"},
		"hookledger_ledger_appends_total":                nil,
		"hookledger_ledger_events_appended_total":        nil,
		"hookledger_ledger_append_duration_seconds":      nil,
		"hookledger_ledger_commit_batch_events":          nil,
		"hookledger_ledger_commit_sync_duration_seconds": nil,
		"hookledger_ledger_head_position":                nil,
		"hookledger_fold_position":                       nil,
		"hookledger_http_requests_total":                 {"route": "/v1/applications/:app/messages", "method": "POST", "status": "202"},
		"hookledger_http_request_duration_seconds":       {"route": "/v1/applications/:app/messages"},
		"hookledger_http_auth_failures_total":            nil,
		"hookledger_seal_last_position":                  nil,
		"go_goroutines":                                  nil,
		"process_resident_memory_bytes":                  nil,
	} {
		if v := m[name].value(want); v < 1 {
			t.Errorf("%s%v = %v, want >= 1", name, want, v)
		}
	}
	for _, name := range []string{"hookledger_deliveries_pending", "hookledger_deliveries_parked", "hookledger_deliveries_in_flight",
		"hookledger_deliveries_oldest_pending_age_seconds", "hookledger_fold_lag_events", "hookledger_fold_lag_seconds",
		"hookledger_subscriptions_disabled", "hookledger_view_store_bytes", "hookledger_seal_last_age_seconds",
		"hookledger_delivery_retries_scheduled_total", "hookledger_ledger_append_errors_total", "hookledger_attempts_started_total"} {
		if m[name] == nil {
			t.Errorf("%s is not exposed", name)
		}
	}
	for name, f := range m {
		for _, s := range f.samples {
			for _, v := range s.labels {
				if strings.HasPrefix(v, "msg_") || strings.HasPrefix(v, "dlv_") || strings.HasPrefix(v, "sub_") || strings.Contains(v, "/v1/applications/app_") {
					t.Errorf("%s carries an id in a label: %v", name, s.labels)
				}
			}
		}
	}
	checkDashboards(t, m)
	// On the API listener: admin and auditor keys only.
	if _, code := scrape(t, api.base+"/metrics", ""); code != 401 {
		t.Errorf("/metrics without a key: %d", code)
	}
	if _, code := scrape(t, api.base+"/metrics", own); code != 403 {
		t.Errorf("/metrics with an application key: %d", code)
	}
	if _, code := scrape(t, api.base+"/metrics", aud); code != 200 {
		t.Errorf("/metrics with an auditor key: %d", code)
	}

	seal, _ := os.ReadFile(audit.KeyPath(dir))
	srv.Process.Signal(os.Interrupt)
	srv.Wait()
	secrets := []string{key, secret, strings.TrimPrefix(secret, "whsec_"), "endpoint-credential-42", strings.TrimSpace(string(seal)), aud, own}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		lines++
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		for _, f := range []string{"time", "level", "message", "component"} {
			if _, ok := obj[f]; !ok {
				t.Errorf("a log line has no %q: %s", f, line)
			}
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Fatalf("a log line carries a secret (%.12s...): %s", s, line)
			}
		}
		if strings.Contains(line, "\x1b[") {
			t.Fatalf("colour codes in a redirected log: %q", line)
		}
	}
	if lines < 10 {
		t.Fatalf("only %d log lines at debug level", lines)
	}
}

// TestBusyPortLeavesNothingBehind: serve binds its port before it creates
// the data directory or the seal key, and says how to pick another port.
func TestBusyPortLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "fresh")
	out, code := runCLI(t, "serve", "--data-dir", dir, "--listen", ln.Addr().String())
	if code == 0 || !strings.Contains(out, "the port is taken") || !strings.Contains(out, "--listen") {
		t.Fatalf("serve on a busy port: %d %s", code, out)
	}
	// The port it suggests is one of the next few, and was free (it
	// suggested 18080 whichever was taken, 18080 too).
	taken := ln.Addr().(*net.TCPAddr).Port
	if m := regexp.MustCompile(`e\.g\. --listen 127\.0\.0\.1:(\d+) `).FindStringSubmatch(out); m == nil {
		t.Errorf("no address suggested: %s", out)
	} else if p, _ := strconv.Atoi(m[1]); p <= taken || p > taken+20 {
		t.Errorf("suggested port %d, taken %d: %s", p, taken, out)
	} else if l2, err := net.Listen("tcp", "127.0.0.1:"+m[1]); err != nil {
		t.Errorf("the suggested port %s cannot be bound: %v", m[1], err)
	} else {
		l2.Close()
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("serve created the data directory before finding its port busy")
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"nonsense"}} {
		out, _ := runCLI(t, args...)
		if !strings.Contains(out, "commands:") || strings.Contains(out, "-max-payload-bytes") {
			t.Errorf("hookledger %v shows %q, want the list of commands", args, out)
		}
	}
}

// checkDashboards loads docs/grafana/hookledger.json and
// docs/prometheus/alerts.yml and requires every metric they name to be in
// the scrape.
func checkDashboards(t *testing.T, scraped map[string]*dto) {
	t.Helper()
	var exprs []string
	raw, err := os.ReadFile("../../docs/grafana/hookledger.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana/hookledger.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	raw, err = os.ReadFile("../../docs/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("docs/prometheus/alerts.yml: %v", err)
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("an alert rule without a name or an expression: %+v", r)
			}
			exprs = append(exprs, r.Expr)
			alerts++
		}
	}
	if len(dash.Panels) < 8 || alerts < 5 {
		t.Fatalf("%d panels and %d alerts: the files are not the ones documented", len(dash.Panels), alerts)
	}
	name := regexp.MustCompile(`hookledger_[a-z_]+`)
	if n := len(name.FindAllString(strings.Join(exprs, " "), -1)); n < 15 {
		t.Fatalf("only %d metric names found in the dashboard and alerts", n)
	}
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			if strings.HasPrefix(n, "hookledger_cluster_") {
				continue // cluster nodes only: TestClusterOfThreeNodes scrapes them
			}
			base := n
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if strings.HasSuffix(n, suffix) && scraped[n] == nil {
					base = strings.TrimSuffix(n, suffix)
				}
			}
			if scraped[base] == nil {
				t.Errorf("%q names %s, which a scrape does not have", e, n)
			}
		}
	}
}
