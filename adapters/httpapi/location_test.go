package httpapi_test

import (
	"testing"
)

// TestCreatedAnswersSayWhere: every answer that creates something names it
// in Location, and a GET of that Location reads it.
func TestCreatedAnswersSayWhere(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	for _, c := range []struct {
		path   string
		body   map[string]any
		status int
		want   string
	}{
		{"/v1/applications", map[string]any{"id": "app_a", "name": "A"}, 201, "/v1/applications/app_a"},
		{"/v1/applications/app_a/subscriptions", map[string]any{"id": "sub_a", "url": "https://hooks.example.com/a", "event_types": []string{"*"}}, 201, "/v1/applications/app_a/subscriptions/sub_a"},
		{"/v1/event-types", map[string]any{"name": "order.paid"}, 201, "/v1/event-types/order.paid"},
		{"/v1/applications/app_a/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{}}, 202, ""},
		{"/v1/applications/app_a/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{}, "idempotency_key": "k"}, 202, ""},
		{"/v1/applications/app_a/erasures", map[string]any{"id": "era_a", "scope": "application", "reason": "r"}, 201, "/v1/applications/app_a/erasures/era_a"},
	} {
		r := e.must(c.status, "POST", c.path, A, c.body)
		loc := r.header.Get("Location")
		want := c.want
		if want == "" {
			want = "/v1/applications/app_a/messages/" + r.str("id")
		}
		if loc != want {
			t.Errorf("POST %s: Location %q, want %q", c.path, loc, want)
			continue
		}
		e.must(200, "GET", loc, A, nil)
	}
	// A duplicate publish created nothing: no Location.
	if r := e.must(200, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{}, "idempotency_key": "k"}); r.header.Get("Location") != "" {
		t.Errorf("a duplicate publish says it created %q", r.header.Get("Location"))
	}
}
