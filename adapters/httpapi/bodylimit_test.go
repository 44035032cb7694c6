package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/httpapi"
)

// countingReader counts what the client managed to send.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestABodyDeclaredTooLargeIsRefusedUnread: a body whose declared length is
// over the limit gets its 413 problem before it is sent (the server never
// answers 100 Continue), where it used to be read up to the limit and the
// connection reset under the client, with no answer at all.
func TestABodyDeclaredTooLargeIsRefusedUnread(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) { d.MaxPayload = 1024 })
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_a", "name": "A"})
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	for _, path := range []string{"/v1/applications/app_a/messages", "/v1/applications/app_a/subscriptions"} {
		body := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 8<<20))}
		req, _ := http.NewRequest("POST", e.srv.URL+path, body)
		req.ContentLength = 8 << 20
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+A)
		req.Header.Set("Expect", "100-continue")
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: no answer: %v", path, err)
		}
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		if res.StatusCode != 413 || p.Code != "payload_too_large" || !strings.Contains(p.Detail, "bytes") {
			t.Fatalf("%s: %d %+v", path, res.StatusCode, p)
		}
		if body.n != 0 {
			t.Fatalf("%s: the client was made to send %d bytes of a body refused by its length", path, body.n)
		}
	}
}
