package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// TestPointInTimeAndExplain scripts a subscription's history (created,
// filter changed, paused, messages, resumed, deleted) and asks, at each
// point, what the subscription looked like and why each message was or was
// not delivered.
func TestPointInTimeAndExplain(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_b", "name": "B"})
	base := "/v1/applications/app_a"
	pub := func(typ string) (string, uint64) {
		r := e.must(202, "POST", base+"/messages", A, map[string]any{"event_type": typ, "payload": map[string]any{"t": typ}})
		return r.str("id"), uint64(r.json()["position"].(float64))
	}
	head := func() uint64 {
		h, _ := e.store.Head(context.Background())
		return uint64(h)
	}
	m0, _ := pub("order.paid")
	e.must(201, "POST", base+"/subscriptions", A, map[string]any{"id": "sub_x", "url": "http://127.0.0.1:1/x", "event_types": []string{"order.paid"}})
	afterCreate := head()
	m1, _ := pub("order.paid")
	m2, _ := pub("user.created")
	e.must(200, "PATCH", base+"/subscriptions/sub_x", A, map[string]any{"event_types": []string{"user.*"}})
	afterPatch := head()
	m3, _ := pub("user.created")
	m4, _ := pub("order.paid")
	e.must(200, "POST", base+"/subscriptions/sub_x/pause", A, nil)
	afterPause := head()
	m5, _ := pub("user.created")
	e.must(200, "POST", base+"/subscriptions/sub_x/resume", A, nil)
	afterResume := head()
	m6, _ := pub("user.deleted")
	e.must(201, "POST", "/v1/applications/app_b/subscriptions", A, map[string]any{"id": "sub_y", "url": "http://127.0.0.1:1/y", "event_types": []string{"*"}})
	e.must(204, "DELETE", base+"/subscriptions/sub_x", A, nil)
	afterDelete := head()
	m7, _ := pub("user.created")

	// As of each point.
	for _, c := range []struct {
		at      uint64
		status  string
		filters string
	}{
		{afterCreate, "active", "[order.paid]"},
		{afterPatch, "active", "[user.*]"},
		{afterPause, "paused", "[user.*]"},
		{afterResume, "active", "[user.*]"},
		{afterDelete, "deleted", "[user.*]"},
	} {
		r := e.must(200, "GET", fmt.Sprintf("%s/subscriptions/sub_x?as_of=%d", base, c.at), A, nil)
		if r.str("status") != c.status || fmt.Sprint(r.json()["event_types"]) != c.filters || uint64(r.json()["as_of_position"].(float64)) != c.at {
			t.Errorf("as of %d: %s %v, want %s %s", c.at, r.str("status"), r.json()["event_types"], c.status, c.filters)
		}
		if r.str("current_key_id") == "" {
			t.Errorf("as of %d: the signing key id active then is missing", c.at)
		}
	}
	// Before it was created: not found, and said so (it exists now).
	if r := e.must(404, "GET", fmt.Sprintf("%s/subscriptions/sub_x?as_of=%d", base, afterCreate-1), A, nil); !strings.Contains(r.str("detail"), fmt.Sprintf("subscription sub_x did not exist yet at %d (created ", afterCreate-1)) || r.str("field") != "as_of" {
		t.Errorf("as of before its creation: %s", r.body)
	}
	if n := len(e.must(200, "GET", fmt.Sprintf("%s/subscriptions?as_of=%d", base, afterCreate-1), A, nil).items()); n != 0 {
		t.Errorf("before creation the listing has %d subscriptions", n)
	}
	if n := len(e.must(200, "GET", fmt.Sprintf("%s/subscriptions?as_of=%d", base, afterPause), A, nil).items()); n != 1 {
		t.Errorf("as of the pause the listing has %d subscriptions", n)
	}
	// As of a time: the commit time of the pause.
	ev := e.must(200, "GET", fmt.Sprintf("/v1/ledger/events?from=%d&limit=1", afterPause), A, nil).items()[0]
	r := e.must(200, "GET", base+"/subscriptions/sub_x?as_of="+ev["created"].(string), A, nil)
	if r.str("status") != "paused" {
		t.Errorf("as of the pause's time: %s", r.str("status"))
	}
	e.must(400, "GET", base+"/subscriptions/sub_x?as_of=last-tuesday", A, nil)

	// Explain each message.
	for _, c := range []struct {
		msg, decision, reason string
	}{
		{m0, "not_scheduled", "not_created_yet"},
		{m1, "scheduled", "matched"},
		{m2, "not_scheduled", "no_filter_match"},
		{m3, "scheduled", "matched"},
		{m4, "not_scheduled", "no_filter_match"},
		{m5, "scheduled", "matched"}, // paused subscriptions hold their deliveries
		{m6, "scheduled", "matched"},
		{m7, "not_scheduled", "deleted"},
	} {
		r := e.must(200, "GET", base+"/messages/"+c.msg+"/explain?subscription_id=sub_x", A, nil)
		j := r.json()
		if j["decision"] != c.decision || j["reason"] != c.reason {
			t.Errorf("explain %s: %v/%v (%v), want %s/%s", c.msg, j["decision"], j["reason"], j["detail"], c.decision, c.reason)
		}
		if c.msg == m5 && !strings.Contains(fmt.Sprint(j["detail"]), "paused") {
			t.Errorf("explain %s: the detail does not say the subscription was paused: %v", c.msg, j["detail"])
		}
		hasDelivery := j["delivery"] != nil
		if hasDelivery != (c.decision == "scheduled") {
			t.Errorf("explain %s: delivery present %v, decision %s", c.msg, hasDelivery, c.decision)
		}
		if hasDelivery && len(j["timeline"].([]any)) == 0 {
			t.Errorf("explain %s: no timeline", c.msg)
		}
	}
	if j := e.must(200, "GET", base+"/messages/"+m1+"/explain?subscription_id=sub_y", A, nil).json(); j["reason"] != "other_application" && j["reason"] != "not_created_yet" {
		t.Errorf("other application's subscription: %v", j["reason"])
	}
	own := e.key("application", "app_a")
	e.must(404, "GET", base+"/messages/"+m1+"/explain?subscription_id=sub_y", own, nil)
	e.must(400, "GET", base+"/messages/"+m1+"/explain", A, nil)
}

// TestAuditRoutes: the public key, a streamed verification, and an export
// that verifies offline with the pinned key.
func TestAuditRoutes(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	pubKey := key.Public().(ed25519.PublicKey)
	e := newEnv(t, func(d *httpapi.Deps) { d.SealPublicKey, d.SealKey = pubKey, key })
	ctx, cancel := context.WithCancel(context.Background())
	sealer := &audit.Sealer{Store: e.store, Key: key, Every: 5, Interval: 20 * time.Millisecond, NewEventID: ids.NewEventID, Log: zerolog.Nop()}
	done := make(chan error, 1)
	go func() { done <- sealer.Run(ctx) }()
	defer func() { cancel(); <-done }()
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_b", "name": "B"})
	for i := 0; i < 6; i++ {
		e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"i": i}})
		e.must(202, "POST", "/v1/applications/app_b/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"note": "b-only"}})
	}
	pk := e.must(200, "GET", "/v1/audit/public-key", A, nil)
	trusted, err := audit.ParsePublicKey(pk.str("public_key"))
	if err != nil || !trusted.Equal(pubKey) {
		t.Fatalf("public key %s", pk.body)
	}
	waitFor(t, "everything sealed", func() bool {
		last, _, ok, _ := audit.LastSeal(context.Background(), e.store)
		if !ok {
			return false
		}
		after, _ := e.store.ReadAll(context.Background(), last.ToPosition+1, 1000)
		for _, ev := range after {
			if ev.Stream != "audit-seals" {
				return false
			}
		}
		return true
	})
	st := e.must(200, "GET", "/v1/audit/status", A, nil).json()
	last, _, _, _ := audit.LastSeal(context.Background(), e.store)
	head, _ := e.store.Head(context.Background())
	seal, _ := st["last_seal"].(map[string]any)
	if seal == nil || st["head"] != float64(head) || seal["to_position"].(float64) < float64(last.ToPosition) ||
		seal["chain_hash"] == "" || seal["age_seconds"].(float64) < 0 || st["public_key"] != pk.str("public_key") {
		t.Fatalf("audit status %v (head %d, last seal to %d)", st, head, last.ToPosition)
	}
	e.must(200, "GET", "/v1/audit/status", e.key("auditor", ""), nil)
	e.must(403, "GET", "/v1/audit/status", e.key("application", "app_a"), nil)
	r := e.must(200, "GET", "/v1/audit/verify", A, nil)
	var result map[string]any
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		json.Unmarshal(sc.Bytes(), &result)
	}
	if result["kind"] != "result" || result["ok"] != true || result["events"].(float64) < 14 {
		t.Fatalf("verify stream ended with %v", result)
	}
	// A range from past the head verifies nothing: refused, not "ok".
	if r := e.must(400, "GET", fmt.Sprintf("/v1/audit/verify?from=%d", head+100), A, nil); r.str("field") != "from" || !strings.Contains(r.str("detail"), "past the ledger's head") {
		t.Errorf("verify from past the head: %s", r.body)
	}
	if r := e.must(200, "GET", fmt.Sprintf("/v1/audit/verify?from=%d", head), A, nil); !bytes.Contains(r.body, []byte(`"ok":true`)) {
		t.Errorf("verify from the head itself: %s", r.body)
	}
	exp := e.must(200, "GET", "/v1/audit/export?application=app_a", A, nil)
	rep, err := audit.VerifyExport(bytes.NewReader(exp.body), trusted)
	if err != nil || !rep.OK || rep.Events < 7 {
		t.Fatalf("export: %+v %v", rep, err)
	}
	if bytes.Contains(exp.body, []byte("b-only")) || bytes.Contains(exp.body, []byte("app_b")) {
		t.Fatal("app_a's export holds app_b's data")
	}
	// Bounded: app_a's events from a position on, and none before it.
	mid := head / 2
	bounded := e.must(200, "GET", fmt.Sprintf("/v1/audit/export?application=app_a&from=%d&since=2001-01-01T00:00:00%%2B01:00", mid), A, nil)
	rep, err = audit.VerifyExport(bytes.NewReader(bounded.body), trusted)
	if err != nil || !rep.OK || rep.Events == 0 || rep.Events >= uint64(bytes.Count(exp.body, []byte(`"kind":"event"`))) ||
		rep.Scope != (audit.Scope{Application: "app_a", From: mid, Since: "2000-12-31T23:00:00Z"}) {
		t.Fatalf("bounded export: %+v %v", rep, err)
	}
	for _, l := range bytes.Split(bounded.body, []byte("\n")) {
		var ev struct {
			Kind     string
			Position domain.Position
		}
		if json.Unmarshal(l, &ev) == nil && ev.Kind == "event" && ev.Position < mid {
			t.Fatalf("the export from %d holds the event at %d", mid, ev.Position)
		}
	}
	// Each export through the API is recorded, with its scope and the key
	// that took it.
	if rec := lastAccess(t, e); rec["type"] != "ledger.exported" || rec["actor"] != domain.KeyIDForHash(domain.HashAPIKey(A)) ||
		rec["data"].(map[string]any)["application"] != "app_a" || rec["data"].(map[string]any)["from"] != float64(mid) ||
		rec["data"].(map[string]any)["events"] != float64(rep.Events) || rec["data"].(map[string]any)["complete"] != true {
		t.Fatalf("the bounded export's record: %v", rec)
	}
	// A HEAD is answered without an export: nothing taken, nothing recorded.
	if r := e.do("HEAD", "/v1/audit/export?application=app_a", A, nil); r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("HEAD of an export: %d %v %d bytes", r.status, r.header, len(r.body))
	}
	// (The last record is still the bounded export's: a record of the HEAD
	// would have no from.)
	if again := lastAccess(t, e); again["data"].(map[string]any)["from"] != float64(mid) {
		t.Fatalf("a HEAD of an export was recorded: %v", again)
	}
	for q, field := range map[string]string{"from=9&to=3": "to", "since=yesterday": "since", "until=2026-01-01T00:00:00Z&since=2026-01-01T00:00:00Z": "until", "to=-1": "to"} {
		if r := e.must(400, "GET", "/v1/audit/export?"+q, A, nil); r.str("code") != "invalid_parameter" || r.str("field") != field {
			t.Errorf("export?%s: %s", q, r.body)
		}
	}
	own := e.key("application", "app_a")
	e.must(200, "GET", "/v1/audit/export?application=app_a", own, nil)
	e.must(403, "GET", "/v1/audit/export?application=app_b", own, nil)
	e.must(403, "GET", "/v1/audit/verify", own, nil)
	// An application or subscription the ledger never had is not exported
	// as an empty, valid export.
	for _, q := range []string{"application=app_typo", "subscription=sub_typo"} {
		if r := e.must(404, "GET", "/v1/audit/export?"+q, A, nil); r.str("code") != "not_found" || !strings.Contains(r.str("detail"), "typo") {
			t.Errorf("export of %s: %s", q, r.body)
		}
	}
	// An application key asking for another application's subscription is
	// answered as for one there is none of, and told which.
	e.must(201, "POST", "/v1/applications/app_b/subscriptions", A, map[string]any{"id": "sub_of_b", "url": "https://hooks.example.com/b", "event_types": []string{"*"}})
	var details []string
	for _, sub := range []string{"sub_of_b", "sub_typo"} {
		r := e.must(404, "GET", "/v1/audit/export?subscription="+sub, own, nil)
		details = append(details, strings.ReplaceAll(r.str("detail"), sub, "X"))
		if !strings.Contains(r.str("detail"), "app_a has no subscription "+sub) || r.str("field") != "subscription" {
			t.Errorf("an application key's export of %s: %s", sub, r.body)
		}
	}
	if details[0] != details[1] {
		t.Errorf("another application's subscription is told apart from none: %q", details)
	}
}
