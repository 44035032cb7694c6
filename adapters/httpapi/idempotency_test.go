package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// TestIdempotencyKeyHeader: the Idempotency-Key header makes a publish
// idempotent as the body's idempotency_key does; the two must agree, and a
// header given twice is refused (which one a retry would send is unknown),
// with nothing published.
func TestIdempotencyKeyHeader(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	msgs := "/v1/applications/app_a/messages"
	body := []byte(`{"event_type":"order.paid","payload":{"order":1}}`)
	publish := func(key string) resp {
		t.Helper()
		return e.doWith("POST", msgs, A, body, map[string]string{"Content-Type": "application/json", "Idempotency-Key": key})
	}
	first := publish("ord-1")
	if first.status != 202 || first.str("id") != domain.MessageIDForKey("app_a", "ord-1") {
		t.Fatalf("a publish with Idempotency-Key: %d %s", first.status, first.body)
	}
	if again := publish("ord-1"); again.status != 200 || again.str("id") != first.str("id") {
		t.Fatalf("the same publish again: %d %s", again.status, again.body)
	}
	withKey := []byte(`{"event_type":"order.paid","payload":{"order":1},"idempotency_key":"other"}`)
	if r := e.doWith("POST", msgs, A, withKey, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "ord-1"}); r.status != 422 || r.str("field") != "idempotency_key" {
		t.Fatalf("header and body keys that differ: %d %s", r.status, r.body)
	}

	before := len(e.must(200, "GET", msgs, A, nil).items())
	req, _ := http.NewRequest("POST", e.srv.URL+msgs, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+A)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Idempotency-Key", "ord-2")
	req.Header.Add("Idempotency-Key", "ord-3")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var p struct{ Code, Field string }
	json.Unmarshal(b, &p)
	if res.StatusCode != 400 || p.Code != "invalid_header" || p.Field != "Idempotency-Key" {
		t.Fatalf("Idempotency-Key given twice: %d %s", res.StatusCode, b)
	}
	if after := len(e.must(200, "GET", msgs, A, nil).items()); after != before {
		t.Fatalf("a refused publish was recorded: %d messages, were %d", after, before)
	}
}
