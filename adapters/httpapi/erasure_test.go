package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/domain"
)

// TestResponseExcerptsAreErasedWithTheirMessage: what an endpoint answers
// (which may quote the payload) is kept encrypted under the message's data
// key: the raw ledger holds ciphertext, the timeline shows it decrypted, and
// after the message's erasure the timeline says the excerpt was erased.
func TestResponseExcerptsAreErasedWithTheirMessage(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	}))
	defer hook.Close()
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_x", "name": "X"})
	e.must(201, "POST", "/v1/applications/app_x/subscriptions", A, map[string]any{"id": "sub_x", "url": hook.URL, "event_types": []string{"*"}})
	msg := e.must(202, "POST", "/v1/applications/app_x/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"email": "quoted-marker"}}).str("id")
	dlv := domain.DeliveryIDFor(msg, "sub_x")
	waitFor(t, "acknowledged", func() bool { return e.do("GET", "/v1/deliveries/"+dlv, A, nil).str("status") == "acknowledged" })

	raw := e.must(200, "GET", "/v1/ledger/streams/"+domain.DeliveryStream(dlv), A, nil)
	if strings.Contains(string(raw.body), "quoted-marker") || !strings.Contains(string(raw.body), "response_excerpt_sealed") {
		t.Fatalf("the ledger holds the response in the clear: %s", raw.body)
	}
	excerpt := func() map[string]any {
		for _, it := range e.must(200, "GET", "/v1/deliveries/"+dlv+"/timeline", A, nil).items() {
			if it["type"] == domain.TypeAttemptAcknowledged {
				return it["data"].(map[string]any)
			}
		}
		t.Fatal("no acknowledgement on the timeline")
		return nil
	}
	if d := excerpt(); d["response_excerpt"] != `got {"email":"quoted-marker"}` || d["response_excerpt_sealed"] != nil {
		t.Fatalf("the timeline's excerpt: %v", d)
	}
	e.must(201, "POST", "/v1/applications/app_x/erasures", A, map[string]any{"id": "era_x", "scope": "messages", "message_ids": []string{msg}, "reason": "r"})
	if d := excerpt(); d["response_excerpt"] != nil || d["response_excerpt_erased_by"] != "era_x" {
		t.Fatalf("the timeline's excerpt after the erasure: %v", d)
	}
}

// TestHeaderValuesAreEncryptedAndErasedWithTheApplication: a subscription's
// custom header values are in the ledger encrypted, shown and sent in the
// clear, kept across an update that leaves them alone, and gone (not shown,
// not sent) once the application is erased.
func TestHeaderValuesAreEncryptedAndErasedWithTheApplication(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("X-Customer-Email")+"|"+r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer hook.Close()
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_h", "name": "H"})
	base := "/v1/applications/app_h/subscriptions"
	e.must(201, "POST", base, A, map[string]any{"id": "sub_h", "url": hook.URL, "event_types": []string{"*"},
		"headers": map[string]string{"X-Customer-Email": "header-marker@example.com"}, "auth": map[string]any{"type": "bearer", "token": "tok-marker"}})
	raw := e.must(200, "GET", "/v1/ledger/streams/subscription-sub_h", A, nil)
	if strings.Contains(string(raw.body), "header-marker") || strings.Contains(string(raw.body), "tok-marker") || !strings.Contains(string(raw.body), "headers_sealed") {
		t.Fatalf("the ledger holds header values in the clear: %s", raw.body)
	}
	if h := e.must(200, "GET", base+"/sub_h", A, nil).json()["headers"].(map[string]any); h["X-Customer-Email"] != "header-marker@example.com" || h["Authorization"] != "[redacted]" {
		t.Fatalf("the subscription's headers: %v", h)
	}
	// An update that does not touch the headers keeps them (the credential too).
	e.must(200, "PATCH", base+"/sub_h", A, map[string]any{"description": "d"})
	publish := func() string {
		m := e.must(202, "POST", "/v1/applications/app_h/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{}}).str("id")
		waitFor(t, "delivered", func() bool {
			return e.do("GET", "/v1/deliveries/"+domain.DeliveryIDFor(m, "sub_h"), A, nil).str("status") == "acknowledged"
		})
		return m
	}
	publish()
	e.must(201, "POST", "/v1/applications/app_h/erasures", A, map[string]any{"scope": "application", "reason": "r"})
	if h := e.must(200, "GET", base+"/sub_h", A, nil).json()["headers"]; h != nil && len(h.(map[string]any)) != 0 {
		t.Fatalf("headers after the application's erasure: %v", h)
	}
	publish()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "header-marker@example.com|Bearer tok-marker" || got[1] != "|" {
		t.Fatalf("the endpoint got %q", got)
	}
}

// TestErasureRequestsAreRefusedPrecisely: a bad erasure request names the
// field at fault and what it wants, and nothing is recorded.
func TestErasureRequestsAreRefusedPrecisely(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_e", "name": "E"})
	path := "/v1/applications/app_e/erasures"
	for _, c := range []struct {
		name, field, detail string
		body                map[string]any
	}{
		{"no scope", "scope", "want application, messages, subject or published_before", map[string]any{"reason": "r"}},
		{"unknown scope", "scope", "want application, messages, subject or published_before", map[string]any{"scope": "everything", "reason": "r"}},
		{"no reason", "reason", "say why", map[string]any{"scope": "application"}},
		{"a subject with another scope", "subject", "only with scope subject", map[string]any{"scope": "application", "subject": "u1", "reason": "r"}},
		{"messages and a time", "message_ids", "only with scope messages", map[string]any{"scope": "published_before", "message_ids": []string{"msg_1"}, "before": "2026-01-01T00:00:00Z", "reason": "r"}},
	} {
		before, _ := e.store.Head(context.Background())
		r := e.do("POST", path, A, c.body)
		if r.status != 422 || r.str("code") != "validation_failed" || r.str("field") != c.field || !strings.Contains(r.str("detail"), c.detail) {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if after, _ := e.store.Head(context.Background()); after != before {
			t.Errorf("%s: the refused request appended %d events", c.name, after-before)
		}
	}
}

// TestAnErasedMessageIsNotSentAgain: a redelivery of a message whose payload
// was erased is refused (409) and records nothing. Recorded, it was
// cancelled at once ("payload erased"), and a delivery the endpoint had
// acknowledged came to read cancelled.
func TestAnErasedMessageIsNotSentAgain(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_r", "name": "R"})
	e.must(201, "POST", "/v1/applications/app_r/subscriptions", A, map[string]any{"id": "sub_r", "url": hook.URL, "event_types": []string{"*"}})
	msg := e.must(202, "POST", "/v1/applications/app_r/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}}).str("id")
	dlv := domain.DeliveryIDFor(msg, "sub_r")
	waitFor(t, "acknowledged", func() bool { return e.do("GET", "/v1/deliveries/"+dlv, A, nil).str("status") == "acknowledged" })
	e.must(201, "POST", "/v1/applications/app_r/erasures", A, map[string]any{"id": "era_r", "scope": "messages", "message_ids": []string{msg}, "reason": "r"})
	before := len(e.must(200, "GET", "/v1/deliveries/"+dlv+"/timeline", A, nil).items())

	r := e.must(409, "POST", "/v1/deliveries/"+dlv+"/redeliver", A, map[string]any{"reason": "again"})
	if r.str("code") != "conflict" || !strings.Contains(r.str("detail"), "era_r") {
		t.Fatalf("refusal %s: want conflict naming the erasure", r.body)
	}
	if got := e.must(200, "GET", "/v1/deliveries/"+dlv, A, nil).str("status"); got != "acknowledged" {
		t.Fatalf("status %s after the refused redelivery, want acknowledged", got)
	}
	if after := len(e.must(200, "GET", "/v1/deliveries/"+dlv+"/timeline", A, nil).items()); after != before {
		t.Fatalf("the timeline grew from %d to %d events: a refused redelivery records nothing", before, after)
	}
}

// TestRecoveryLeavesErasedMessagesAlone: a subscription's recovery sends
// its given-up deliveries again, except those of messages whose payload was
// erased (nothing to send): they stay exhausted and are counted as erased.
func TestRecoveryLeavesErasedMessagesAlone(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(500)
		}
	}))
	defer hook.Close()
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_v", "name": "V"})
	base := "/v1/applications/app_v/subscriptions/sub_v"
	e.must(201, "POST", "/v1/applications/app_v/subscriptions", A, map[string]any{"id": "sub_v", "url": hook.URL, "event_types": []string{"*"}, "retry_schedule_ms": []int64{0}})
	var dlvs []string
	for i := range 2 {
		msg := e.must(202, "POST", "/v1/applications/app_v/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": i}}).str("id")
		dlvs = append(dlvs, domain.DeliveryIDFor(msg, "sub_v"))
		if i == 1 {
			waitFor(t, "exhausted", func() bool { return e.do("GET", "/v1/deliveries/"+dlvs[1], A, nil).str("status") == "exhausted" })
			e.must(201, "POST", "/v1/applications/app_v/erasures", A, map[string]any{"scope": "messages", "message_ids": []string{msg}, "reason": "r"})
		}
	}
	waitFor(t, "exhausted", func() bool { return e.do("GET", "/v1/deliveries/"+dlvs[0], A, nil).str("status") == "exhausted" })
	failing.Store(false)

	r := e.must(200, "POST", base+"/recover", A, map[string]any{"since": "2020-01-01T00:00:00Z"}).json()
	if r["recovered"] != float64(1) || r["erased"] != float64(1) {
		t.Fatalf("recover: %v, want 1 recovered and 1 erased", r)
	}
	waitFor(t, "the kept message acknowledged", func() bool { return e.do("GET", "/v1/deliveries/"+dlvs[0], A, nil).str("status") == "acknowledged" })
	if st := e.must(200, "GET", "/v1/deliveries/"+dlvs[1], A, nil).str("status"); st != "exhausted" {
		t.Fatalf("the erased message's delivery is %s, want it left exhausted", st)
	}
}

// TestVerifyWithErasures: verify?erasures=true ends with the key store held
// to the ledger's erasures: in agreement after an erasure, and naming a key
// destroyed outside any erasure.
func TestVerifyWithErasures(t *testing.T) {
	_, sealKey, _ := ed25519.GenerateKey(nil)
	e := newEnv(t, func(d *httpapi.Deps) { d.SealPublicKey, d.SealKey = sealKey.Public().(ed25519.PublicKey), sealKey })
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_v", "name": "v"})
	gone := e.must(202, "POST", "/v1/applications/app_v/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}}).str("id")
	kept := e.must(202, "POST", "/v1/applications/app_v/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 2}}).str("id")
	e.must(201, "POST", "/v1/applications/app_v/erasures", A, map[string]any{"id": "era_v", "scope": "messages", "message_ids": []string{gone}, "reason": "r"})
	result := func() map[string]any {
		t.Helper()
		r := e.must(200, "GET", "/v1/audit/verify?erasures=true", A, nil)
		var last map[string]any
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		for sc.Scan() {
			last = nil
			json.Unmarshal(sc.Bytes(), &last)
		}
		if last["kind"] != "result" || last["ok"] != true {
			t.Fatalf("verify ended with %v", last)
		}
		er, _ := last["erasures"].(map[string]any)
		if er == nil {
			t.Fatalf("no erasures in the result: %v", last)
		}
		return er
	}
	if er := result(); er["ok"] != true || er["erasures"] != 1.0 || er["keys_named"] != 1.0 || er["tombstones"] != 1.0 {
		t.Fatalf("after an erasure: %v", er)
	}
	recs, _ := e.store.ReadStream(context.Background(), domain.MessageStream(kept), 0, domain.Forward, 1)
	ev, _ := domain.DecodeEvent(recs[0])
	keptKey := ev.(domain.MessagePublished).Sealed.KeyID
	if err := e.deps.Cipher.(*keystore.Store).Destroy([]string{keptKey}, "era_elsewhere"); err != nil {
		t.Fatal(err)
	}
	er := result()
	problems, _ := er["problems"].([]any)
	if er["ok"] != false || len(problems) != 1 || problems[0].(map[string]any)["kind"] != "key_destroyed_unrecorded" || problems[0].(map[string]any)["key_id"] != keptKey {
		t.Fatalf("after a key destroyed outside an erasure: %v", er)
	}
	e.must(400, "GET", "/v1/audit/verify?erasures=yes", A, nil)
	if r := e.must(200, "GET", "/v1/audit/verify", A, nil); bytes.Contains(r.body, []byte(`"erasures"`)) {
		t.Fatalf("verify without erasures=true checked them: %s", r.body)
	}
}
