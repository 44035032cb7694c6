package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
)

// TestUnknownQueryParametersAreRefused: every route answers 400 naming a
// query parameter it does not implement, instead of ignoring it.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	e := newEnv(t)
	hook := httptest.NewServer(receiver.New())
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_q", "name": "Q"})
	e.must(201, "POST", "/v1/applications/app_q/subscriptions", A, map[string]any{"id": "sub_q", "url": hook.URL, "event_types": []string{"*"}})
	msg := e.must(202, "POST", "/v1/applications/app_q/messages", A, map[string]any{"event_type": "invoice.paid", "payload": map[string]any{"n": 1}}).str("id")
	dlv := domain.DeliveryIDFor(msg, "sub_q")
	waitFor(t, "scheduled", func() bool { return e.do("GET", "/v1/deliveries/"+dlv, A, nil).status == 200 })
	for _, path := range []string{
		"/v1/keys", "/v1/applications", "/v1/applications/app_q", "/v1/applications/app_q/subscriptions",
		"/v1/applications/app_q/subscriptions/sub_q", "/v1/applications/app_q/messages", "/v1/applications/app_q/messages/" + msg,
		"/v1/applications/app_q/messages/" + msg + "/explain?subscription_id=sub_q", "/v1/applications/app_q/deliveries",
		"/v1/deliveries/" + dlv, "/v1/deliveries/" + dlv + "/timeline", "/v1/audit/public-key", "/v1/ledger/events",
		"/v1/ledger/streams/subscription-sub_q",
	} {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		r := e.do("GET", path+sep+"q=x&zzz=1", A, nil)
		if r.status != 400 || r.str("code") != "invalid_parameter" || r.str("field") != "q" || !strings.Contains(r.str("detail"), "zzz") {
			t.Errorf("GET %s with unknown parameters: %d %s", path, r.status, r.body)
		}
	}
	if r := e.do("GET", "/v1/applications/app_q/deliveries?as_of=1", A, nil); r.status != 400 || r.str("field") != "as_of" {
		t.Errorf("deliveries?as_of: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/applications/app_q/messages?dry_run=1", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}}); r.status != 400 {
		t.Errorf("publish with an unknown parameter: %d %s", r.status, r.body)
	}
	// A known parameter given twice would be read once: refused.
	for _, q := range []string{"status=failed&status=exhausted", "limit=5&limit=10", "status=failed&status=failed"} {
		field := strings.SplitN(q, "=", 2)[0]
		if r := e.do("GET", "/v1/applications/app_q/deliveries?"+q, A, nil); r.status != 400 || r.str("field") != field || !strings.Contains(r.str("detail"), "given 2 times") {
			t.Errorf("deliveries?%s: %d %s", q, r.status, r.body)
		}
	}
}

// TestEventTypeFiltersOnListings: messages and deliveries filter by an exact
// event type or a pattern, like subscriptions.
func TestEventTypeFiltersOnListings(t *testing.T) {
	e := newEnv(t)
	hook := httptest.NewServer(receiver.New())
	defer hook.Close()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_f", "name": "F"})
	e.must(201, "POST", "/v1/applications/app_f/subscriptions", A, map[string]any{"id": "sub_f", "url": hook.URL, "event_types": []string{"*"}})
	for _, typ := range []string{"invoice.paid", "invoice.voided", "order.paid"} {
		e.must(202, "POST", "/v1/applications/app_f/messages", A, map[string]any{"event_type": typ, "payload": map[string]any{"n": 1}})
	}
	waitFor(t, "three deliveries", func() bool { return len(e.must(200, "GET", "/v1/applications/app_f/deliveries", A, nil).items()) == 3 })
	for query, want := range map[string]int{"invoice.*": 2, "invoice.paid": 1, "order.*": 1, "*": 3, "user.*": 0} {
		if n := len(e.must(200, "GET", "/v1/applications/app_f/messages?event_type="+query, A, nil).items()); n != want {
			t.Errorf("messages?event_type=%s: %d, want %d", query, n, want)
		}
		items := e.must(200, "GET", "/v1/applications/app_f/deliveries?event_type="+query, A, nil).items()
		if len(items) != want {
			t.Errorf("deliveries?event_type=%s: %d, want %d", query, len(items), want)
		}
	}
	if r := e.do("GET", "/v1/applications/app_f/deliveries?event_type=in%20valid", A, nil); r.status != 400 || r.str("field") != "event_type" {
		t.Errorf("a malformed pattern: %d %s", r.status, r.body)
	}
}

// TestListingReportsEveryBadValueAtOnce: one answer names all the bad
// values of a listing's query, not only the first.
func TestListingReportsEveryBadValueAtOnce(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/v1/applications", e.admin, map[string]any{"id": "app_v", "name": "V"})
	r := e.do("GET", "/v1/applications/app_v/deliveries?limit=0&since=yesterday&event_type=a%20b", e.admin, nil)
	d := r.str("detail")
	if r.status != 400 || r.str("code") != "invalid_parameter" || !strings.Contains(d, "limit") || !strings.Contains(d, "since") || !strings.Contains(d, "event_type") {
		t.Fatalf("three bad values: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/v1/applications/app_v/messages?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", e.admin, nil)
	if r.status != 400 || r.str("field") != "until" {
		t.Fatalf("until before since: %d %s", r.status, r.body)
	}
}
