package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeadIsServedAsGet: every GET route answers HEAD with the GET's status
// and header and no body (RFC 9110 asks it of every GET resource; monitors
// probe with it), behind the same authentication; a route without GET
// still refuses it, saying HEAD.
func TestHeadIsServedAsGet(t *testing.T) {
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	e.must(201, "POST", "/v1/applications/app_a/subscriptions", A, map[string]any{"id": "sub_a", "url": "https://hooks.example.com/a", "event_types": []string{"*"}})
	head := func(path, key string) (resp, []byte) {
		t.Helper()
		r := e.doWith(http.MethodHead, path, key, nil, nil)
		return r, r.body
	}
	for _, c := range []struct {
		path, key string
		status    int
	}{
		{"/healthz", "", 200},
		{"/v1/me", A, 200},
		{"/v1/applications", A, 200},
		{"/v1/applications/app_a/subscriptions/sub_a", A, 200},
		{"/v1/applications", "", 401},
		{"/v1/applications/app_a/subscriptions/sub_none", A, 404},
	} {
		get := e.do("GET", c.path, c.key, nil)
		res, body := head(c.path, c.key)
		if res.status != c.status || get.status != c.status {
			t.Errorf("HEAD %s: %d (GET %d), want %d", c.path, res.status, get.status, c.status)
		}
		if len(body) != 0 {
			t.Errorf("HEAD %s sent a body: %q", c.path, body)
		}
		if res.header.Get("Content-Type") != get.header.Get("Content-Type") {
			t.Errorf("HEAD %s: Content-Type %q, GET's %q", c.path, res.header.Get("Content-Type"), get.header.Get("Content-Type"))
		}
	}
	res, _ := head("/v1/applications/app_a/subscriptions/sub_a", A)
	if res.header.Get("ETag") != `"0"` {
		t.Errorf("HEAD of a subscription: ETag %q", res.header.Get("ETag"))
	}

	// A POST-only route: 405, naming HEAD, and Allow as it is.
	put := e.do("PUT", "/healthz", "", nil)
	if put.status != 405 || put.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("PUT /healthz: %d Allow %q, want 405 with Allow: GET, HEAD", put.status, put.header.Get("Allow"))
	}
	if r := e.doWith(http.MethodHead, "/v1/keys/key_x", A, nil, nil); r.status != 405 || strings.Contains(r.header.Get("Allow"), "HEAD") || !strings.Contains(r.header.Get("Allow"), "DELETE") {
		t.Errorf("HEAD of a DELETE-only route: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	if r := e.do("OPTIONS", "/v1/keys/key_x", A, nil); !strings.Contains(r.str("detail"), "OPTIONS is not allowed") {
		t.Errorf("OPTIONS: %s", r.body)
	}
}
