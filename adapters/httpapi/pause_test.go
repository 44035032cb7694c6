package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// TestPauseAndResumeKeepTheirReason: the operator's reason for a pause or a
// resume is in the ledger with the change, and a body the route does not
// understand is refused rather than dropped from the record.
func TestPauseAndResumeKeepTheirReason(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": "https://hooks.example.com/a", "event_types": []string{"*"}})
	base := "/v1/applications/app_a/subscriptions/sub_a"

	for _, body := range []string{`{"reasn":"typo"}`, `{"reason":3}`, `[]`, strings.Repeat("x", 10)} {
		if r := e.doRaw("POST", base+"/pause", A, "application/json", body); r.status != 400 {
			t.Fatalf("pause with %s: %d %s", body, r.status, r.body)
		}
	}
	if r := e.must(422, "POST", base+"/pause", A, map[string]any{"reason": strings.Repeat("x", 513)}); r.str("field") != "reason" {
		t.Fatalf("a reason too long: %s", r.body)
	}
	if e.must(200, "GET", base, A, nil).str("status") != "active" {
		t.Fatal("a refused pause paused the subscription")
	}

	if r := e.must(200, "POST", base+"/pause", A, map[string]any{"reason": "  endpoint migration "}); r.str("status") != "paused" || r.str("paused_reason") != "endpoint migration" {
		t.Fatalf("pause: %s", r.body)
	}
	if r := e.must(200, "GET", base, A, nil); r.str("paused_reason") != "endpoint migration" {
		t.Fatalf("the paused subscription does not say why: %s", r.body)
	}
	if r := e.must(200, "POST", base+"/resume", A, map[string]any{"reason": "migration done"}); r.str("status") != "active" || strings.Contains(string(r.body), "paused_reason") {
		t.Fatalf("resume: %s", r.body)
	}
	e.must(200, "POST", base+"/pause", A, nil)
	e.must(200, "POST", base+"/resume", A, map[string]any{})

	var stream struct {
		Items []struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		} `json:"items"`
	}
	if err := json.Unmarshal(e.must(200, "GET", "/v1/ledger/streams/subscription-sub_a", A, nil).body, &stream); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range stream.Items {
		var d struct {
			Reason *string `json:"reason"`
		}
		if err := json.Unmarshal(it.Data, &d); err != nil {
			t.Fatal(err)
		}
		switch {
		case it.Type != "subscription.paused" && it.Type != "subscription.resumed":
		case d.Reason == nil:
			got = append(got, it.Type+" (none)")
		default:
			got = append(got, it.Type+" "+*d.Reason)
		}
	}
	want := []string{"subscription.paused endpoint migration", "subscription.resumed migration done", "subscription.paused (none)", "subscription.resumed (none)"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("the ledger holds %q, want %q", got, want)
	}
}

// TestExplainSaysADeletedSubscriptionsDeliveryWasCancelled: a delivery held
// by a pause and cancelled by the deletion is explained as such, not as
// waiting for a resume.
func TestExplainSaysADeletedSubscriptionsDeliveryWasCancelled(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": "https://hooks.example.com/a", "event_types": []string{"*"}})
	e.must(200, "POST", "/v1/applications/app_a/subscriptions/sub_a/pause", A, nil)
	msg := e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{}}).str("id")
	explain := "/v1/applications/app_a/messages/" + msg + "/explain?subscription_id=sub_a"
	waitFor(t, "the held delivery", func() bool {
		d, _ := e.do("GET", explain, A, nil).json()["delivery"].(map[string]any)
		return d != nil && d["status"] == "pending"
	})
	if d := e.must(200, "GET", explain, A, nil).str("detail"); strings.Contains(d, "cancelled") {
		t.Fatalf("a held delivery explained as cancelled: %s", d)
	}
	e.must(204, "DELETE", "/v1/applications/app_a/subscriptions/sub_a", A, nil)
	waitFor(t, "the delivery cancelled", func() bool {
		d, _ := e.do("GET", explain, A, nil).json()["delivery"].(map[string]any)
		return d != nil && d["status"] == "cancelled"
	})
	if d := e.must(200, "GET", explain, A, nil).str("detail"); !strings.Contains(d, "deleted since, and the delivery cancelled") {
		t.Fatalf("explain of the cancelled delivery: %s", d)
	}
}

// TestDeleteKeepsItsReason: the operator's reason for a deletion is in the
// ledger with it; a body the route does not understand is refused and
// deletes nothing; a deletion without a body still works.
func TestDeleteKeepsItsReason(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_d", "name": "D"})
	base := "/v1/applications/app_d/subscriptions/"
	for _, id := range []string{"sub_1", "sub_2"} {
		e.must(201, "POST", base[:len(base)-1], A, map[string]any{"id": id, "url": "https://hooks.example.com/" + id, "event_types": []string{"*"}})
	}
	if r := e.doRaw("DELETE", base+"sub_1", A, "application/json", `{"reasn":"typo"}`); r.status != 400 {
		t.Fatalf("delete with a misspelt field: %d %s", r.status, r.body)
	}
	if e.must(200, "GET", base+"sub_1", A, nil).str("status") != "active" {
		t.Fatal("a refused deletion deleted the subscription")
	}
	e.must(204, "DELETE", base+"sub_1", A, map[string]any{"reason": " customer closed the account "})
	e.must(204, "DELETE", base+"sub_2", A, nil)
	for id, want := range map[string]string{"sub_1": `"reason":"customer closed the account"`, "sub_2": ""} {
		raw := string(e.must(200, "GET", "/v1/ledger/streams/subscription-"+id, A, nil).body)
		if !strings.Contains(raw, "subscription.deleted") || (want != "" && !strings.Contains(raw, want)) || (want == "" && strings.Contains(raw, `"reason"`)) {
			t.Fatalf("%s's stream: %s, want a deletion with %q", id, raw, want)
		}
	}
}

// TestAFailedDeliveryHeldByItsSubscriptionSaysWhy: a delivery whose retry
// is due but whose subscription was disabled (the endpoint answered 410)
// says why it waits, as a pending one does: it read "failed" with a due
// time in the past and nothing more, as if stuck.
func TestAFailedDeliveryHeldByItsSubscriptionSaysWhy(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer hook.Close()
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_g", "name": "G"})
	e.must(201, "POST", "/v1/applications/app_g/subscriptions", A, map[string]any{"id": "sub_g", "url": hook.URL, "event_types": []string{"*"}, "retry_schedule_ms": []int64{0, 50}})
	msg := e.must(202, "POST", "/v1/applications/app_g/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{}}).str("id")
	dlv := domain.DeliveryIDFor(msg, "sub_g")
	waitFor(t, "the subscription disabled by the 410", func() bool {
		return e.do("GET", "/v1/applications/app_g/subscriptions/sub_g", A, nil).str("status") == "disabled"
	})
	var d resp
	waitFor(t, "the retry due and held", func() bool {
		d = e.do("GET", "/v1/deliveries/"+dlv, A, nil)
		return d.str("waiting_reason") != ""
	})
	if d.str("status") != "failed" || d.str("waiting_reason") != "subscription_disabled" {
		t.Fatalf("delivery %s: want failed, waiting_reason subscription_disabled", d.body)
	}
	list := e.must(200, "GET", "/v1/applications/app_g/deliveries", A, nil).items()
	if len(list) != 1 || list[0]["waiting_reason"] != "subscription_disabled" {
		t.Fatalf("the listing: %v", list)
	}
}
