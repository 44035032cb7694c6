package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/adapters/httpapi"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestRequestContentEncoding: a gzip-compressed body is read inflated, and
// bounded inflated (a small body that inflates past the limit is a 413); a
// coding the server does not take is refused with 415 and Accept-Encoding,
// where it used to be read as if it were not encoded.
func TestRequestContentEncoding(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) { d.MaxPayload = 4096 })
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	send := func(path, coding string, body []byte) resp {
		t.Helper()
		h := map[string]string{"Content-Type": "application/json"}
		if coding != "" {
			h["Content-Encoding"] = coding
		}
		return e.doWith("POST", path, A, body, h)
	}
	msg := []byte(`{"event_type":"order.paid","payload":{"order":"o-1","note":"` + strings.Repeat("z", 1000) + `"}}`)
	for _, coding := range []string{"gzip", "GZIP", "x-gzip"} {
		r := send("/v1/applications/app_a/messages", coding, gzipped(t, msg))
		if r.status != 202 {
			t.Fatalf("a publish sent with Content-Encoding: %s: %d %s", coding, r.status, r.body)
		}
		got := e.must(200, "GET", "/v1/applications/app_a/messages/"+r.str("id"), A, nil)
		var m struct {
			Payload json.RawMessage `json:"payload"`
		}
		json.Unmarshal(got.body, &m)
		if !bytes.Contains(m.Payload, []byte(`"order":"o-1"`)) {
			t.Fatalf("the message recorded from a gzip body: %s", got.body)
		}
	}
	// The other decoder (every route but publish) reads it too.
	if r := send("/v1/applications/app_a/subscriptions", "gzip", gzipped(t, []byte(`{"id":"sub_z","url":"https://hooks.example.com/z","event_types":["*"]}`))); r.status != 201 {
		t.Fatalf("a subscription created from a gzip body: %d %s", r.status, r.body)
	}

	// Inflating past the limit: refused as too large, not read on.
	bomb := gzipped(t, append(append([]byte(`{"event_type":"order.paid","payload":{"x":"`), bytes.Repeat([]byte("a"), 64<<20)...), `"}}`...))
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	if r := send("/v1/applications/app_a/messages", "gzip", bomb); r.status != 413 {
		t.Fatalf("a body inflating to 64 MiB: %d %s", r.status, r.body)
	}
	// Not gzip, or cut short: 400 saying so.
	if r := send("/v1/applications/app_a/messages", "gzip", msg); r.status != 400 || !strings.Contains(r.str("detail"), "not gzip") {
		t.Fatalf("plain JSON labelled gzip: %d %s", r.status, r.body)
	}
	z := gzipped(t, msg)
	if r := send("/v1/applications/app_a/messages", "gzip", z[:len(z)/2]); r.status != 400 || !strings.Contains(r.str("detail"), "gzip-compressed body") {
		t.Fatalf("a gzip body cut short: %d %s", r.status, r.body)
	}
	// Another coding: 415 and what is taken, and nothing published.
	before := len(e.must(200, "GET", "/v1/applications/app_a/messages", A, nil).items())
	for _, coding := range []string{"br", "deflate", "gzip, br", "zstd"} {
		r := send("/v1/applications/app_a/messages", coding, msg)
		if r.status != 415 || r.str("code") != "unsupported_media_type" || r.header.Get("Accept-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding: %s: %d Accept-Encoding %q %s", coding, r.status, r.header.Get("Accept-Encoding"), r.body)
		}
	}
	if after := len(e.must(200, "GET", "/v1/applications/app_a/messages", A, nil).items()); after != before {
		t.Fatalf("a refused body was published: %d messages, were %d", after, before)
	}
	if r := send("/v1/applications/app_a/messages", "identity", msg); r.status != 202 {
		t.Fatalf("Content-Encoding: identity: %d %s", r.status, r.body)
	}
}
