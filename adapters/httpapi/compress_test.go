package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/adapters/httpapi"
)

// TestReadsAreCompressed: a large read (an export, a listing) is sent
// gzip-compressed to a client that accepts it, and inflates to exactly the
// uncompressed answer; a client that does not ask gets it plain, and a
// write's answer is never compressed.
func TestReadsAreCompressed(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	e := newEnv(t, func(d *httpapi.Deps) { d.SealPublicKey, d.SealKey = key.Public().(ed25519.PublicKey), key })
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	for i := range 40 {
		e.must(202, "POST", "/v1/applications/app_a/messages", A, map[string]any{"event_type": "order.paid", "payload": map[string]any{"order": fmt.Sprint("o-", i)}})
	}
	get := func(method, path, acceptEncoding string) (resp, []byte) {
		t.Helper()
		if acceptEncoding == "" {
			acceptEncoding = "identity"
		}
		// Set by hand, the transport leaves the answer as it came.
		r := e.doWith(method, path, A, nil, map[string]string{"Accept-Encoding": acceptEncoding})
		return r, r.body
	}
	for _, path := range []string{"/v1/audit/export?application=app_a", "/v1/applications/app_a/messages?limit=40", "/v1/ledger/events"} {
		plainRes, plain := get("GET", path, "")
		if plainRes.status != 200 || plainRes.header.Get("Content-Encoding") != "" || len(plain) < 4096 {
			t.Fatalf("%s without Accept-Encoding: %d %q, %d bytes", path, plainRes.status, plainRes.header.Get("Content-Encoding"), len(plain))
		}
		res, z := get("GET", path, "gzip")
		if res.status != 200 || res.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s with Accept-Encoding: gzip: %d Content-Encoding %q", path, res.status, res.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		inflated, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		// The export's header carries the time it was taken and, with its
		// footer, the head, which the record of the first export moved;
		// its seals and events are the same bytes.
		if path == "/v1/audit/export?application=app_a" {
			inflated, plain = exportBody(inflated), exportBody(plain)
		}
		if !bytes.Equal(inflated, plain) {
			t.Fatalf("%s: the gzip answer inflates to %d bytes that differ from the plain %d", path, len(inflated), len(plain))
		}
		if len(z)*2 > len(plain) {
			t.Errorf("%s: %d bytes compressed from %d", path, len(z), len(plain))
		}
	}
	// A write's answer, even to a client that accepts gzip, is plain.
	pub := e.doWith("POST", "/v1/applications/app_a/messages", A, []byte(`{"event_type":"order.paid","payload":{"pad":"`+strings.Repeat("p", 2000)+`"}}`),
		map[string]string{"Content-Type": "application/json", "Accept-Encoding": "gzip"})
	if pub.status != 202 || pub.header.Get("Content-Encoding") != "" {
		t.Fatalf("a publish's answer: %d Content-Encoding %q", pub.status, pub.header.Get("Content-Encoding"))
	}
	// HEAD says what GET would send.
	if res, body := get("HEAD", "/v1/ledger/events", "gzip"); res.header.Get("Content-Encoding") != "gzip" || len(body) != 0 {
		t.Fatalf("HEAD with Accept-Encoding: gzip: %q, %d bytes", res.header.Get("Content-Encoding"), len(body))
	}
}

// exportBody is an export's seal and event lines.
func exportBody(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(l, []byte(`"kind":"seal"`)) || bytes.Contains(l, []byte(`"kind":"event"`)) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
