package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/adapters/httpapi"
)

// TestBadInputIsRefusedPrecisely: each bad request gets a 4xx problem+json
// with a precise code, and nothing is appended to the ledger.
func TestBadInputIsRefusedPrecisely(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) { d.MaxPayload = 1024; d.AllowPrivateTargets = false })
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": "https://hooks.example.com/a", "event_types": []string{"*"}})
	sub := "/v1/applications/app_a/subscriptions"
	msgs := "/v1/applications/app_a/messages"
	big := `{"event_type":"a.b","payload":{"x":"` + strings.Repeat("x", 2048) + `"}}`
	huge := `{"event_type":"a.b","payload":{"x":"` + strings.Repeat("x", 200<<10) + `"}}`
	cases := []struct {
		name, method, path, key string
		body                    any
		status                  int
		code, field             string
	}{
		{"malformed JSON", "POST", msgs, A, `{"event_type":`, 400, "invalid_json", ""},
		{"not an object", "POST", msgs, A, `[1,2]`, 400, "invalid_type", ""},
		{"payload an array", "POST", msgs, A, `{"event_type":"a.b","payload":[1]}`, 400, "invalid_type", "payload"},
		{"payload a string", "POST", msgs, A, `{"event_type":"a.b","payload":"x"}`, 400, "invalid_type", "payload"},
		{"payload a number", "POST", msgs, A, `{"event_type":"a.b","payload":7}`, 400, "invalid_type", "payload"},
		{"url decimal IPv4", "POST", sub, A, `{"url":"http://2130706433/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url hex IPv4", "POST", sub, A, `{"url":"http://0x7f000001/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url octal IPv4", "POST", sub, A, `{"url":"http://017700000001/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url short IPv4", "POST", sub, A, `{"url":"http://127.1/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url with credentials", "POST", sub, A, `{"url":"http://user:pass@example.com/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url port 0", "POST", sub, A, `{"url":"https://example.com:0/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url port past 65535", "POST", sub, A, `{"url":"https://example.com:99999/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url host with an empty label", "POST", sub, A, `{"url":"https://example..com/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"url host not a valid internationalized name", "POST", sub, A, `{"url":"https://a\u200db.example/","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"patch to port 0", "PATCH", sub + "/sub_a", A, `{"url":"https://example.com:0/"}`, 422, "validation_failed", "url"},
		{"trailing data", "POST", msgs, A, `{"event_type":"a.b","payload":{}} {}`, 400, "invalid_json", ""},
		{"empty body", "POST", msgs, A, ``, 400, "invalid_json", ""},
		{"unknown field", "POST", msgs, A, `{"event_type":"a.b","payload":{},"priority":9}`, 400, "unknown_field", "priority"},
		{"wrong type", "POST", msgs, A, `{"event_type":["a"],"payload":{}}`, 400, "invalid_type", "event_type"},
		{"missing payload", "POST", msgs, A, `{"event_type":"a.b"}`, 422, "validation_failed", "payload"},
		{"bad event type", "POST", msgs, A, `{"event_type":"a b","payload":{}}`, 422, "validation_failed", "event_type"},
		{"payload over the configured limit", "POST", msgs, A, big, 413, "payload_too_large", ""},
		{"body far over the limit", "POST", msgs, A, huge, 413, "payload_too_large", ""},
		{"invalid URL", "POST", sub, A, map[string]any{"url": "not a url", "event_types": []string{"*"}}, 422, "validation_failed", "url"},
		{"ftp URL", "POST", sub, A, map[string]any{"url": "ftp://example.com/x", "event_types": []string{"*"}}, 422, "validation_failed", "url"},
		{"loopback target", "POST", sub, A, map[string]any{"url": "http://127.0.0.1:9000/x", "event_types": []string{"*"}}, 422, "forbidden_target", "url"},
		{"metadata target", "POST", sub, A, map[string]any{"url": "http://169.254.169.254/latest", "event_types": []string{"*"}}, 422, "forbidden_target", "url"},
		{"mapped loopback target", "POST", sub, A, map[string]any{"url": "http://[::ffff:127.0.0.1]/x", "event_types": []string{"*"}}, 422, "forbidden_target", "url"},
		{"localhost target", "POST", sub, A, map[string]any{"url": "http://localhost:9000/x", "event_types": []string{"*"}}, 422, "forbidden_target", "url"},
		{"patch to a forbidden target", "PATCH", sub + "/sub_a", A, map[string]any{"url": "http://10.0.0.1/x"}, 422, "forbidden_target", "url"},
		{"unknown pattern", "POST", sub, A, map[string]any{"url": "https://e.example/x", "event_types": []string{"order*"}}, 422, "validation_failed", "event_types"},
		{"no patterns", "POST", sub, A, map[string]any{"url": "https://e.example/x", "event_types": []string{}}, 422, "validation_failed", "event_types"},
		{"bad secret", "POST", sub, A, map[string]any{"url": "https://e.example/x", "event_types": []string{"*"}, "secret": "hunter2"}, 422, "validation_failed", "secret"},
		{"reserved header", "POST", sub, A, map[string]any{"url": "https://e.example/x", "event_types": []string{"*"}, "headers": map[string]string{"Webhook-Signature": "x"}}, 422, "validation_failed", "headers"},
		{"id with path tricks", "GET", sub + "/..%2F..%2Fetc", A, nil, 404, "route_not_found", ""},
		{"id with bad characters", "GET", sub + "/sub;drop", A, nil, 400, "invalid_id", "sub"},
		{"application id with bad characters", "GET", "/v1/applications/app%20a", A, nil, 400, "invalid_id", "app"},
		{"application id in body", "POST", "/v1/applications", A, map[string]any{"id": "../x", "name": "x"}, 422, "validation_failed", "id"},
		{"bad limit", "GET", sub + "?limit=0", A, nil, 400, "invalid_parameter", "limit"},
		{"limit too large", "GET", sub + "?limit=5000", A, nil, 400, "invalid_parameter", "limit"},
		{"forged cursor", "GET", "/v1/applications/app_a/deliveries?cursor=abc", A, nil, 400, "invalid_parameter", "cursor"},
		{"bad status filter", "GET", "/v1/applications/app_a/deliveries?status=lost", A, nil, 400, "invalid_parameter", "status"},
		{"bad time filter", "GET", "/v1/applications/app_a/deliveries?since=yesterday", A, nil, 400, "invalid_parameter", "since"},
		{"bad ledger position", "GET", "/v1/ledger/events?from=-1", A, nil, 400, "invalid_parameter", "from"},
		{"missing key", "GET", sub, "", nil, 401, "unauthorized", ""},
		{"wrong key", "GET", sub, "hlk_wrong", nil, 401, "unauthorized", ""},
		{"unknown role", "POST", "/v1/keys", A, map[string]any{"role": "root"}, 422, "validation_failed", "role"},
		{"application key without its application", "POST", "/v1/keys", A, map[string]any{"role": "application"}, 422, "validation_failed", "application"},
		{"application key for a missing application", "POST", "/v1/keys", A, map[string]any{"role": "application", "application": "app_zz"}, 404, "not_found", ""},
		{"recover without since", "POST", sub + "/sub_a/recover", A, map[string]any{}, 422, "validation_failed", "since"},
		{"recover since a future time", "POST", sub + "/sub_a/recover", A, map[string]any{"since": "2999-01-01T00:00:00Z"}, 422, "validation_failed", "since"},
		{"recover until before since", "POST", sub + "/sub_a/recover", A, map[string]any{"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422, "validation_failed", "until"},
		{"a negative retry delay", "POST", sub, A, map[string]any{"url": "https://hooks.example.com/b", "event_types": []string{"*"}, "retry_schedule_ms": []int64{-1}}, 422, "validation_failed", "retry_schedule_ms"},
		{"grace too long", "POST", sub + "/sub_a/rotate-secret", A, map[string]any{"grace_seconds": 999999999}, 422, "validation_failed", "grace_seconds"},
		{"resume deleted", "POST", sub + "/sub_missing/resume", A, nil, 404, "not_found", ""},
		{"wrong method", "PUT", sub, A, nil, 405, "method_not_allowed", ""},
		{"unknown route", "GET", "/v2/anything", A, nil, 404, "route_not_found", ""},
	}
	for _, c := range cases {
		before, _ := e.store.Head(context.Background())
		got := e.do(c.method, c.path, c.key, c.body)
		if got.status != c.status || got.str("code") != c.code || (c.field != "" && got.str("field") != c.field) {
			t.Errorf("%s: %d %s (field %q), want %d %s (field %q): %s", c.name, got.status, got.str("code"), got.str("field"), c.status, c.code, c.field, got.body)
			continue
		}
		if ct := got.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: content type %q", c.name, ct)
		}
		if got.str("title") == "" || got.str("detail") == "" {
			t.Errorf("%s: problem without title or detail: %s", c.name, got.body)
		}
		if after, _ := e.store.Head(context.Background()); after != before {
			t.Errorf("%s: the refused request appended %d events", c.name, after-before)
		}
	}
	// A publish far over the limit names the payload's limit, not only the
	// body's (which is the payload's plus room for the rest).
	for _, body := range []string{big, huge} {
		if got := e.do("POST", msgs, A, body); !strings.Contains(got.str("detail"), "1024") || !strings.Contains(got.str("detail"), "payload") {
			t.Errorf("a publish of %d bytes: %s, want the payload's limit (1024) named", len(body), got.body)
		}
	}
	// Wrong content type.
	if got := e.doRaw("POST", msgs, A, "text/plain", `{"event_type":"a.b","payload":{}}`); got.status != 415 || got.str("code") != "unsupported_media_type" {
		t.Errorf("text/plain body: %d %s", got.status, got.body)
	}
}

// TestTypeErrorsSpeakJSON: a value of the wrong type is named in JSON's
// words, never in our Go types', and a body that is not an object (null
// included) is refused as such, whichever decoder read it.
func TestTypeErrorsSpeakJSON(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	sub := "/v1/applications/app_a/subscriptions"
	msgs := "/v1/applications/app_a/messages"
	cases := []struct {
		name, path, body, field, detail string
	}{
		{"publish body an array", msgs, `[1,2]`, "", "the request body must be a JSON object, not an array"},
		{"publish body a string", msgs, `"x"`, "", "the request body must be a JSON object, not a string"},
		{"publish body null", msgs, ` null `, "", "the request body must be a JSON object, not null"},
		{"subscription body null", sub, `null`, "", "the request body must be a JSON object, not null"},
		{"subscription body a number", sub, `7`, "", "the request body must be a JSON object, not a number"},
		{"event type an array", msgs, `{"event_type":["a"],"payload":{}}`, "event_type", `field "event_type" must be a string, not an array`},
		{"patterns a string", sub, `{"url":"https://e.example/x","event_types":"order.*"}`, "event_types", `field "event_types" must be an array of strings, not a string`},
		{"a pattern a number", sub, `{"url":"https://e.example/x","event_types":[1]}`, "event_types.0", `field "event_types.0" must be a string, not a number`},
		{"headers an array", sub, `{"url":"https://e.example/x","event_types":["*"],"headers":["x"]}`, "headers", `field "headers" must be an object of strings, not an array`},
		{"retry schedule a number", sub, `{"url":"https://e.example/x","event_types":["*"],"retry_schedule_ms":5}`, "retry_schedule_ms", `field "retry_schedule_ms" must be an array of integers, not a number`},
		{"rate limit a string", sub, `{"url":"https://e.example/x","event_types":["*"],"rate_limit":"fast"}`, "rate_limit", `field "rate_limit" must be an object, not a string`},
	}
	for _, c := range cases {
		before, _ := e.store.Head(context.Background())
		got := e.doRaw("POST", c.path, A, "application/json", c.body)
		if got.status != 400 || got.str("code") != "invalid_type" || got.str("field") != c.field || got.str("detail") != c.detail {
			t.Errorf("%s: %d %s field %q detail %q, want 400 invalid_type field %q detail %q", c.name, got.status, got.str("code"), got.str("field"), got.str("detail"), c.field, c.detail)
		}
		if after, _ := e.store.Head(context.Background()); after != before {
			t.Errorf("%s: the refused request appended %d events", c.name, after-before)
		}
	}
}

// TestNotFoundNamesWhatIsMissing: a 404 for a resource says which one.
func TestNotFoundNamesWhatIsMissing(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	for path, want := range map[string]string{
		"/v1/applications/app_none":                     "application app_none not found",
		"/v1/applications/app_a/subscriptions/sub_none": "no subscription sub_none in application app_a",
		"/v1/applications/app_a/messages/msg_none":      "no message msg_none in application app_a",
		"/v1/deliveries/dlv_none":                       "no delivery dlv_none",
		"/v1/deliveries/dlv_none/timeline":              "no delivery dlv_none",
		"/v1/event-types/none.here":                     "no event type none.here",
		"/v1/ledger/streams/application-app_none":       "no stream application-app_none",
		// A stream named by its entity's id: the answer names the stream.
		"/v1/ledger/streams/app_a": "no stream app_a: the stream of application app_a is application-app_a",
	} {
		if r := e.must(404, "GET", path, A, nil); r.str("code") != "not_found" || r.str("detail") != want {
			t.Errorf("GET %s: %s, want the detail %q", path, r.body, want)
		}
	}
	// A deleted subscription is not one that never was: the answer says so,
	// and where its history is.
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_gone", "url": "https://hooks.example.com/g", "event_types": []string{"*"}})
	e.must(204, "DELETE", "/v1/applications/app_a/subscriptions/sub_gone", A, nil)
	for _, r := range []resp{
		e.must(404, "GET", "/v1/applications/app_a/subscriptions/sub_gone", A, nil),
		e.must(404, "POST", "/v1/applications/app_a/subscriptions/sub_gone/pause", A, nil),
	} {
		if d := r.str("detail"); r.str("code") != "not_found" || !strings.Contains(d, "subscription sub_gone was deleted") || !strings.Contains(d, "/v1/ledger/streams/subscription-sub_gone") {
			t.Errorf("a deleted subscription: %s", r.body)
		}
	}
	if r := e.must(404, "GET", "/v1/applications/app_none/subscriptions/sub_gone", A, nil); strings.Contains(r.str("detail"), "deleted") {
		t.Errorf("another application's path says what became of the subscription: %s", r.body)
	}
	// A message explained against a subscription that does not exist: the
	// subscription is what is missing, not the message.
	msg := e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{}}).str("id")
	if r := e.must(400, "GET", "/v1/applications/app_a/messages/"+msg+"/explain", A, nil); r.str("detail") != "subscription_id is required: the subscription whose delivery of this message to explain" {
		t.Errorf("explain without a subscription: %s", r.body)
	}
	if r := e.must(400, "GET", "/v1/applications/app_a/messages/"+msg+"/explain?subscription_id=sub%20x", A, nil); strings.Contains(r.str("detail"), "required") || r.str("field") != "subscription_id" {
		t.Errorf("explain with a malformed subscription id: %s", r.body)
	}
	if r := e.must(404, "GET", "/v1/applications/app_a/messages/"+msg+"/explain?subscription_id=sub_none", A, nil); r.str("detail") != "no subscription sub_none" || r.str("field") != "subscription_id" {
		t.Errorf("explain against a missing subscription: %s", r.body)
	}
	// Creating what exists says what exists.
	for path, body := range map[string]map[string]any{
		"/v1/applications": {"id": "app_a", "name": "again"},
		"/v1/event-types":  {"name": "a.b"},
	} {
		e.do("POST", path, A, body) // the event type may not exist yet
		want := map[string]string{"/v1/applications": "application app_a already exists", "/v1/event-types": "event type a.b already exists"}[path]
		if r := e.must(409, "POST", path, A, body); r.str("code") != "already_exists" || r.str("detail") != want {
			t.Errorf("POST %s again: %s, want the detail %q", path, r.body, want)
		}
	}
}
