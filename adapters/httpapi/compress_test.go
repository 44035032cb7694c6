package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
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
	get := func(method, path, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+A)
		if acceptEncoding != "" {
			// Set by hand, the transport leaves the answer as it came.
			req.Header.Set("Accept-Encoding", acceptEncoding)
		} else {
			req.Header.Set("Accept-Encoding", "identity")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, path := range []string{"/v1/audit/export?application=app_a", "/v1/applications/app_a/messages?limit=40", "/v1/ledger/events"} {
		plainRes, plain := get("GET", path, "")
		if plainRes.StatusCode != 200 || plainRes.Header.Get("Content-Encoding") != "" || len(plain) < 4096 {
			t.Fatalf("%s without Accept-Encoding: %d %q, %d bytes", path, plainRes.StatusCode, plainRes.Header.Get("Content-Encoding"), len(plain))
		}
		res, z := get("GET", path, "gzip")
		if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s with Accept-Encoding: gzip: %d Content-Encoding %q", path, res.StatusCode, res.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		inflated, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		// The export's header carries the time it was taken; the rest is
		// the same bytes.
		if path == "/v1/audit/export?application=app_a" {
			inflated, plain = bytes.SplitN(inflated, []byte("\n"), 2)[1], bytes.SplitN(plain, []byte("\n"), 2)[1]
		}
		if !bytes.Equal(inflated, plain) {
			t.Fatalf("%s: the gzip answer inflates to %d bytes that differ from the plain %d", path, len(inflated), len(plain))
		}
		if len(z)*2 > len(plain) {
			t.Errorf("%s: %d bytes compressed from %d", path, len(z), len(plain))
		}
	}
	// A write's answer, even to a client that accepts gzip, is plain.
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/applications/app_a/messages", bytes.NewReader([]byte(`{"event_type":"order.paid","payload":{"pad":"`+string(bytes.Repeat([]byte("p"), 2000))+`"}}`)))
	req.Header.Set("Authorization", "Bearer "+A)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 202 || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("a publish's answer: %d Content-Encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	// HEAD says what GET would send.
	if res, body := get("HEAD", "/v1/ledger/events", "gzip"); res.Header.Get("Content-Encoding") != "gzip" || len(body) != 0 {
		t.Fatalf("HEAD with Accept-Encoding: gzip: %q, %d bytes", res.Header.Get("Content-Encoding"), len(body))
	}
}
