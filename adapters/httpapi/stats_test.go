package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSubscriptionStats: attempts and deliveries by outcome, success rate,
// latency percentiles, pending and the oldest pending age, per window; bad
// windows are refused; another application's key sees nothing.
func TestSubscriptionStats(t *testing.T) {
	e := newEnv(t)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer bad.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_s", "name": "S"})
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_other", "name": "O"})
	base := "/v1/applications/app_s/subscriptions"
	e.must(201, "POST", base, A, map[string]any{"id": "sub_ok", "url": ok.URL, "event_types": []string{"*"}})
	e.must(201, "POST", base, A, map[string]any{"id": "sub_bad", "url": bad.URL, "event_types": []string{"*"}, "retry_schedule_ms": []int64{0, 3600000}})
	for i := 0; i < 5; i++ {
		e.must(202, "POST", "/v1/applications/app_s/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": i}})
	}
	stats := func(sub, window string) map[string]any {
		return e.must(200, "GET", base+"/"+sub+"/stats?window="+window, A, nil).json()
	}
	num := func(m map[string]any, path ...string) float64 {
		var v any = m
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		f, _ := v.(float64)
		return f
	}
	waitFor(t, "5 acknowledged on sub_ok", func() bool { return num(stats("sub_ok", "1h"), "attempts", "acknowledged") == 5 })
	waitFor(t, "5 failed on sub_bad", func() bool { return num(stats("sub_bad", "1h"), "attempts", "failed") >= 5 })

	good := stats("sub_ok", "24h")
	if num(good, "deliveries", "delivered") != 5 || good["success_rate"] != 1.0 || good["latency_ms"].(map[string]any)["p50"] == nil || num(good, "pending") != 0 || good["oldest_pending_age_seconds"] != nil {
		t.Fatalf("sub_ok stats: %v", good)
	}
	failing := stats("sub_bad", "7d")
	if failing["success_rate"] != 0.0 || num(failing, "attempts", "failed_by_class", "http_status") < 5 || num(failing, "pending") != 5 || failing["oldest_pending_age_seconds"] == nil {
		t.Fatalf("sub_bad stats: %v", failing)
	}
	var acked, failed float64
	for _, slot := range failing["series"].([]any) {
		failed += num(slot.(map[string]any), "failed")
	}
	for _, slot := range good["series"].([]any) {
		m := slot.(map[string]any)
		acked += num(m, "acknowledged")
		if m["latency_p50_ms"] == nil || m["from"] == nil {
			t.Fatalf("a slot with acknowledgements has no latency or start: %v", m)
		}
	}
	if acked != 5 || failed != num(failing, "attempts", "failed") {
		t.Fatalf("the series does not add up to the totals: %v acknowledged, %v failed (%v)", acked, failed, failing)
	}
	if w := failing["window"]; w != "7d" {
		t.Fatalf("window: %v", w)
	}
	e.must(400, "GET", base+"/sub_ok/stats?window=2h", A, nil)
	e.must(400, "GET", base+"/sub_ok/stats?since=1", A, nil)
	e.must(404, "GET", base+"/sub_none/stats", A, nil)
	e.must(404, "GET", base+"/sub_ok/stats", e.key("application", "app_other"), nil)
	e.must(200, "GET", base+"/sub_ok/stats", e.key("application", "app_s"), nil)
}
