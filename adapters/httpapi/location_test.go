package httpapi_test

import (
	"testing"
)

// TestCreatedAnswersSayWhere: every 201 names what it created in Location,
// and a GET of that Location reads it. (A publish's 202 does not: its
// answer holds the message's id, and the path every message takes is kept
// to what it needs.)
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
		{"/v1/applications/app_a/erasures", map[string]any{"id": "era_a", "scope": "application", "reason": "r"}, 201, "/v1/applications/app_a/erasures/era_a"},
	} {
		r := e.must(c.status, "POST", c.path, A, c.body)
		loc := r.header.Get("Location")
		if loc != c.want {
			t.Errorf("POST %s: Location %q, want %q", c.path, loc, c.want)
			continue
		}
		e.must(200, "GET", loc, A, nil)
	}
}
