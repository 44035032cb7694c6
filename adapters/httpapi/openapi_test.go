package httpapi_test

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/sender/sendertest"
	"github.com/hookledger/hookledger/domain"
)

// TestOpenAPIMatchesRouter: every served route is documented in
// docs/openapi.yaml, and every documented route is served.
func TestOpenAPIMatchesRouter(t *testing.T) {
	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for _, r := range newEnv(t).api.Routes() {
		served[r.Method+" "+r.Path] = true
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("served but not in docs/openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented but not served: %v", extra)
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes served: the check is not looking at the router", len(served))
	}
}

// TestOpenAPISchemasMatchResponses drives a scenario that makes every
// documented field appear, then checks real answers against the schemas in
// docs/openapi.yaml both ways: every field an answer carries is documented,
// and every documented field appears in some answer.
func TestOpenAPISchemasMatchResponses(t *testing.T) {
	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	_, sealKey, _ := ed25519.GenerateKey(nil)
	e := newEnv(t, func(d *httpapi.Deps) { d.SealPublicKey, d.SealKey = sealKey.Public().(ed25519.PublicKey), sealKey })
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			w.WriteHeader(500)
		}
	}))
	defer hook.Close()
	A := e.admin
	seen := map[string]map[string]bool{}
	note := func(schema string, obj any) {
		t.Helper()
		m, ok := obj.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object: %v", schema, obj)
		}
		props, ok := doc.Components.Schemas[schema]
		if !ok {
			t.Fatalf("no schema %s in docs/openapi.yaml", schema)
		}
		if seen[schema] == nil {
			seen[schema] = map[string]bool{}
		}
		for k := range m {
			if _, ok := props.Properties[k]; !ok {
				t.Errorf("%s: the answer carries %q, which docs/openapi.yaml does not document", schema, k)
			}
			seen[schema][k] = true
		}
	}
	items := func(schema string, r resp) {
		t.Helper()
		for _, it := range r.items() {
			note(schema, it)
		}
	}
	note("APIKey", e.must(201, "POST", "/v1/keys", A, map[string]any{"role": "auditor", "name": "a", "expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)}).json())
	gone := e.key("auditor", "")
	e.must(204, "DELETE", "/v1/keys/"+domain.KeyIDForHash(domain.HashAPIKey(gone)), A, nil)
	items("APIKey", e.must(200, "GET", "/v1/keys", A, nil))

	note("Application", e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_o", "name": "O"}).json())
	note("Application", e.must(200, "GET", "/v1/applications/app_o", A, nil).json())
	items("Application", e.must(200, "GET", "/v1/applications", A, nil))
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_gone", "name": "G"})
	e.must(204, "DELETE", "/v1/applications/app_gone", A, map[string]any{"reason": "offboarded"})
	note("Application", e.must(200, "GET", "/v1/applications/app_gone", A, nil).json())
	note("APIKey", e.must(201, "POST", "/v1/keys", A, map[string]any{"role": "application", "application": "app_o"}).json())
	note("EventType", e.must(201, "POST", "/v1/event-types", A, map[string]any{"name": "cat.x", "description": "d", "schema": map[string]any{"type": "object"}, "deprecated": true}).json())
	note("EventType", e.must(200, "GET", "/v1/event-types/cat.x", A, nil).json())
	items("EventType", e.must(200, "GET", "/v1/event-types", A, nil))

	base := "/v1/applications/app_o/subscriptions"
	note("Subscription", e.must(201, "POST", base, A, map[string]any{"id": "sub_o", "url": hook.URL, "event_types": []string{"*"},
		"headers": map[string]string{"X-Api-Key": "k"}, "secret_headers": []string{"X-Other"}, "retry_schedule_ms": []int64{0, 60000}}).json())
	ed := e.must(201, "POST", base, A, map[string]any{"id": "sub_ed", "url": hook.URL, "event_types": []string{"none.*"}, "signing": "ed25519",
		"rate_limit": map[string]any{"per_second": 5, "burst": 5}}).json()
	note("Subscription", ed)
	note("RateLimit", ed["rate_limit"])
	cert := sendertest.NewCA(t).ClientCert(t, "openapi")
	mt := e.must(201, "POST", base, A, map[string]any{"id": "sub_mt", "url": hook.URL, "event_types": []string{"none.*"},
		"client_certificate": map[string]any{"cert_pem": cert.CertPEM, "key_pem": cert.KeyPEM}}).json()
	note("Subscription", mt)
	note("ClientCertificate", mt["client_certificate"])
	msg := e.must(202, "POST", "/v1/applications/app_o/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}, "idempotency_key": "k1"}).str("id")
	msg2 := e.must(202, "POST", "/v1/applications/app_o/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 2}, "subject": "cus_o"}).str("id")
	d1, d2 := domain.DeliveryIDFor(msg, "sub_o"), domain.DeliveryIDFor(msg2, "sub_o")
	waitFor(t, "one acknowledged, one failed", func() bool {
		a, b := e.do("GET", "/v1/deliveries/"+d1, A, nil).json(), e.do("GET", "/v1/deliveries/"+d2, A, nil).json()
		done := func(m map[string]any) bool { return m["status"] == "acknowledged" || m["status"] == "failed" }
		return done(a) && done(b) && a["status"] != b["status"]
	})
	// A paused subscription with a due delivery: held, and it says why.
	e.must(201, "POST", base, A, map[string]any{"id": "sub_p", "url": hook.URL, "event_types": []string{"p.*"}})
	note("Subscription", e.must(200, "POST", base+"/sub_p/pause", A, map[string]any{"reason": "maintenance"}).json())
	pm := e.must(202, "POST", "/v1/applications/app_o/messages", A, map[string]any{"event_type": "p.x", "payload": map[string]any{"p": 1}}).str("id")
	held := domain.DeliveryIDFor(pm, "sub_p")
	waitFor(t, "the paused subscription's delivery held", func() bool {
		return e.do("GET", "/v1/deliveries/"+held, A, nil).str("waiting_reason") == "subscription_paused"
	})
	note("Delivery", e.must(200, "GET", "/v1/deliveries/"+held, A, nil).json())
	// A FIFO subscription whose endpoint fails: the second message waits behind the first.
	e.must(201, "POST", base, A, map[string]any{"id": "sub_fifo", "url": hook.URL, "event_types": []string{"f.*"}, "ordering": "fifo"})
	f1 := e.must(202, "POST", "/v1/applications/app_o/messages", A, map[string]any{"event_type": "f.x", "payload": map[string]any{"f": 1}}).str("id")
	f2 := e.must(202, "POST", "/v1/applications/app_o/messages", A, map[string]any{"event_type": "f.x", "payload": map[string]any{"f": 2}}).str("id")
	behind := domain.DeliveryIDFor(f2, "sub_fifo")
	waitFor(t, "the second FIFO delivery held behind the first", func() bool {
		return e.do("GET", "/v1/deliveries/"+behind, A, nil).str("held_behind") == domain.DeliveryIDFor(f1, "sub_fifo")
	})
	note("Delivery", e.must(200, "GET", "/v1/deliveries/"+behind, A, nil).json())
	note("Subscription", e.must(200, "GET", base+"/sub_o", A, nil).json())
	stats := e.must(200, "GET", base+"/sub_o/stats?window=1h", A, nil).json()
	note("SubscriptionStats", stats)
	series, _ := stats["series"].([]any)
	if len(series) == 0 {
		t.Fatalf("stats of a subscription with attempts have no series: %v", stats)
	}
	for _, slot := range series {
		note("StatsSlot", slot)
	}
	note("AuditStatus", e.must(200, "GET", "/v1/audit/status", A, nil).json())
	note("APIKey", e.must(200, "GET", "/v1/me", A, nil).json())
	note("Subscription", e.must(200, "GET", base+"/sub_o?as_of=1000000", A, nil).json())
	note("Subscription", e.must(200, "POST", base+"/sub_o/disable", A, map[string]any{"reason": "r"}).json())
	items("Subscription", e.must(200, "GET", base, A, nil))
	for _, m := range []string{msg, msg2} {
		note("Message", e.must(200, "GET", "/v1/applications/app_o/messages/"+m, A, nil).json())
	}
	items("Message", e.must(200, "GET", "/v1/applications/app_o/messages", A, nil))
	// A message of more deliveries than its answer lists.
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer ok.Close()
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_many", "name": "Many"})
	for i := range 101 {
		e.must(201, "POST", "/v1/applications/app_many/subscriptions", A, map[string]any{"id": "sub_m" + strconv.Itoa(i), "url": ok.URL, "event_types": []string{"*"}})
	}
	many := e.must(202, "POST", "/v1/applications/app_many/messages", A, map[string]any{"event_type": "m.x", "payload": map[string]any{}}).str("id")
	waitFor(t, "the message fanned out to 101 subscriptions", func() bool {
		return e.must(200, "GET", "/v1/applications/app_many/messages/"+many, A, nil).json()["delivery_count"] == 101.0
	})
	note("Message", e.must(200, "GET", "/v1/applications/app_many/messages/"+many, A, nil).json())
	for _, d := range []string{d1, d2} {
		note("Delivery", e.must(200, "GET", "/v1/deliveries/"+d, A, nil).json())
		items("LedgerEvent", e.must(200, "GET", "/v1/deliveries/"+d+"/timeline", A, nil))
	}
	items("Delivery", e.must(200, "GET", "/v1/applications/app_o/deliveries", A, nil))
	items("LedgerEvent", e.must(200, "GET", "/v1/ledger/events", A, nil))
	ex := e.must(200, "GET", "/v1/applications/app_o/messages/"+msg+"/explain?subscription_id=sub_o", A, nil).json()
	note("Subscription", ex["subscription_as_of"])
	note("Delivery", ex["delivery"])
	note("Subscription", e.must(200, "POST", base+"/sub_o/rotate-secret", A, nil).json())

	// Erasures, each scope, one resumed; an erased message.
	erasures := "/v1/applications/app_o/erasures"
	note("Erasure", e.must(201, "POST", erasures, A, map[string]any{"id": "era_m", "scope": "messages", "message_ids": []string{msg}, "reason": "r"}).json())
	note("Erasure", e.must(200, "POST", erasures, A, map[string]any{"id": "era_m", "scope": "messages", "message_ids": []string{msg}, "reason": "r"}).json())
	// This ledger keys payloads by message: a subject erasure is refused
	// (the subject's messages cannot be found by their keys). The answer of
	// one that is done is noted from a second server, whose eraser keys by
	// subject, on the same ledger.
	e.must(422, "POST", erasures, A, map[string]any{"scope": "subject", "subject": "cus_o", "reason": "r"})
	bySubject := *e.deps.Eraser.(*erasure.Eraser)
	cmds := *bySubject.Commands
	cmds.ErasureScope = domain.ScopeSubject
	bySubject.Commands = &cmds
	d := e.deps
	d.Eraser = &bySubject
	second := *e
	second.srv = httptest.NewServer(httpapi.New(d))
	defer second.srv.Close()
	note("Erasure", second.must(201, "POST", erasures, A, map[string]any{"scope": "subject", "subject": "cus_o", "reason": "r"}).json())
	note("Erasure", e.must(201, "POST", erasures, A, map[string]any{"scope": "published_before", "before": time.Now().Add(48 * time.Hour).Format(time.RFC3339), "reason": "r"}).json())
	note("Erasure", e.must(200, "GET", erasures+"/era_m", A, nil).json())
	note("Message", e.must(200, "GET", "/v1/applications/app_o/messages/"+msg, A, nil).json())
	items("LedgerEvent", e.must(200, "GET", "/v1/ledger/streams/"+domain.MessageStream(msg), A, nil))

	for schema, props := range doc.Components.Schemas {
		if schema == "Problem" || schema == "EndpointAuth" || schema == "ClientCertificateIn" || schema == "OptionalReason" { // write-only: never in an answer
			continue
		}
		for p := range props.Properties {
			if !seen[schema][p] {
				t.Errorf("%s: docs/openapi.yaml documents %q, but no answer in the scenario carried it", schema, p)
			}
		}
	}
}
