package httpapi_test

import (
	"fmt"
	"net/url"
	"testing"
)

// TestLedgerStreamReadsEitherWay: a stream's events oldest first (the
// default) or newest first (direction=backward), a page at a time, each page
// starting where the last one ended; both ways hold every event once.
func TestLedgerStreamReadsEitherWay(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A0"})
	for i := 1; i <= 4; i++ {
		e.must(200, "PATCH", "/v1/applications/app_a", A, map[string]any{"name": fmt.Sprintf("A%d", i)})
	}
	read := func(direction string) []float64 {
		var revs []float64
		cursor := ""
		for pages := 0; pages < 10; pages++ {
			q := url.Values{"limit": {"2"}}
			if direction != "" {
				q.Set("direction", direction)
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			r := e.must(200, "GET", "/v1/ledger/streams/application-app_a?"+q.Encode(), A, nil)
			for _, it := range r.items() {
				revs = append(revs, it["revision"].(float64))
			}
			if cursor = r.str("next_cursor"); cursor == "" {
				return revs
			}
		}
		t.Fatalf("%s: the cursor never ended: %v", direction, revs)
		return nil
	}
	if got := fmt.Sprint(read("")); got != "[0 1 2 3 4]" {
		t.Fatalf("oldest first: %s", got)
	}
	if got := fmt.Sprint(read("forward")); got != "[0 1 2 3 4]" {
		t.Fatalf("forward: %s", got)
	}
	if got := fmt.Sprint(read("backward")); got != "[4 3 2 1 0]" {
		t.Fatalf("newest first: %s", got)
	}
	newest := e.must(200, "GET", "/v1/ledger/streams/application-app_a?direction=backward&limit=1", A, nil).items()
	if len(newest) != 1 || newest[0]["data"].(map[string]any)["name"] != "A4" {
		t.Fatalf("the newest event: %v", newest)
	}
	if r := e.do("GET", "/v1/ledger/streams/application-app_a?direction=newest", A, nil); r.status != 400 || r.str("code") != "invalid_parameter" {
		t.Fatalf("an unknown direction: %d %s", r.status, r.body)
	}
	e.must(404, "GET", "/v1/ledger/streams/application-app_none?direction=backward", A, nil)
}
