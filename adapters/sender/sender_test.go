package sender_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func send(t *testing.T, s *sender.Sender, url string) domain.AttemptResult {
	t.Helper()
	signer, err := domain.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s.Send(context.Background(), sender.Request{URL: url, MessageID: "msg_1", Body: []byte(`{"a":1}`),
		Headers: map[string]string{"X-Tenant": "t1"}, Signer: signer, Timestamp: time.Now()})
}

func loopback() *sender.Sender {
	return sender.New(sender.Options{AllowPrivate: true, Timeout: 500 * time.Millisecond, ConnectTimeout: 200 * time.Millisecond})
}

func TestSignedRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body = make([]byte, r.ContentLength)
		r.Body.Read(body)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	res := send(t, loopback(), srv.URL)
	if res.ErrorClass != "" || res.StatusCode != 204 {
		t.Fatalf("result %+v", res)
	}
	if got.Header.Get("Content-Type") != "application/json" || got.Header.Get("X-Tenant") != "t1" || got.Header.Get("webhook-id") != "msg_1" {
		t.Fatalf("headers %v", got.Header)
	}
	err := domain.Verify(secret, got.Header.Get("webhook-id"), got.Header.Get("webhook-timestamp"), got.Header.Get("webhook-signature"), body, time.Now())
	if err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

func TestOutcomesAreClassified(t *testing.T) {
	var redirectedHit atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirectedHit.Store(true) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/500":
			w.WriteHeader(500)
			w.Write([]byte("boom"))
		case "/410":
			w.WriteHeader(410)
		case "/429":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		case "/503":
			w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
		case "/302":
			http.Redirect(w, r, target.URL, http.StatusFound)
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/reset":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case "/huge":
			w.WriteHeader(200)
			chunk := bytes.Repeat([]byte("x"), 1<<20)
			for i := 0; i < 10; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedURL := "http://" + closed.Addr().String() + "/"
	closed.Close()

	s := loopback()
	cases := []struct {
		path       string
		class      string
		status     int
		retryAfter time.Duration
	}{
		{"/500", domain.ErrorClassHTTPStatus, 500, 0},
		{"/410", domain.ErrorClassGone, 410, 0},
		{"/429", domain.ErrorClassThrottled, 429, 7 * time.Second},
		{"/503", domain.ErrorClassThrottled, 503, 90 * time.Second},
		{"/302", domain.ErrorClassRedirect, 302, 0},
		{"/slow", domain.ErrorClassTimeout, 0, 0},
		{"/reset", domain.ErrorClassConnectionReset, 0, 0},
	}
	for _, c := range cases {
		res := send(t, s, srv.URL+c.path)
		if res.ErrorClass != c.class || res.StatusCode != c.status {
			t.Errorf("%s: class %q status %d (%s), want %q %d", c.path, res.ErrorClass, res.StatusCode, res.Error, c.class, c.status)
		}
		if c.retryAfter != 0 && (res.RetryAfter < c.retryAfter-2*time.Second || res.RetryAfter > c.retryAfter) {
			t.Errorf("%s: Retry-After %s, want about %s", c.path, res.RetryAfter, c.retryAfter)
		}
	}
	if redirectedHit.Load() {
		t.Error("the redirect was followed")
	}
	if res := send(t, s, refusedURL); res.ErrorClass != domain.ErrorClassConnectionRefused {
		t.Errorf("closed port: %+v", res)
	} else if want := fmt.Sprintf("Post %q: ", refusedURL); !strings.HasPrefix(res.Error, want) {
		// The attempt's recorded error names the request, as http.Client's do.
		t.Errorf("closed port: error %q, want it to start %q", res.Error, want)
	}
	res := send(t, s, srv.URL+"/huge")
	if res.ErrorClass != "" || len(res.ResponseExcerpt) != 64<<10 {
		t.Errorf("10 MiB body: class %q, %d bytes kept, want the 64 KiB cap", res.ErrorClass, len(res.ResponseExcerpt))
	}
}

func TestTLSFailureClassified(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	srv.Config.ErrorLog = nil
	// A handshake under the race detector on a loaded 2-core machine can
	// take longer than loopback()'s 200 ms: this test is about the class of
	// a failed certificate check, not about timeouts.
	s := sender.New(sender.Options{AllowPrivate: true, Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second})
	if res := send(t, s, srv.URL); res.ErrorClass != domain.ErrorClassTLS {
		t.Fatalf("untrusted certificate: %+v", res)
	}
}

func TestGuardRefusesAtConnectTime(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	guarded := sender.New(sender.Options{Timeout: time.Second})
	for _, url := range []string{
		srv.URL,                          // 127.0.0.1
		"http://localhost:" + port + "/", // a name that resolves to loopback
		"http://[::ffff:127.0.0.1]:" + port + "/", // IPv4-mapped IPv6
	} {
		res := send(t, guarded, url)
		if res.ErrorClass != domain.ErrorClassBlockedTarget || !strings.Contains(res.Error, "not allowed") {
			t.Errorf("%s: %+v, want blocked_target", url, res)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the guarded sender reached the loopback server %d times", hits.Load())
	}
}

func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s := loopback()
	for i := 0; i < 20; i++ {
		if res := send(t, s, srv.URL); res.StatusCode != 200 {
			t.Fatal(res)
		}
	}
	if conns.Load() != 1 {
		t.Fatalf("20 sequential attempts opened %d connections, want 1 (keep-alive)", conns.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-5":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:01:00 GMT": time.Minute,
		"Wed, 31 Dec 2025 00:00:00 GMT": 0,
	} {
		if got := sender.ParseRetryAfter(v, now); got != want {
			t.Errorf("%q: %s, want %s", v, got, want)
		}
	}
}

func TestClassifyDNS(t *testing.T) {
	if c := sender.Classify(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}); c != domain.ErrorClassDNS {
		t.Fatalf("DNS error classified %q", c)
	}
}

// TestReservedCustomHeadersAreNotSent: a subscription stored before a header
// name was reserved (Content-Encoding, Expect, Connection...) keeps it, but
// the sender does not send it; other custom headers go as they are.
func TestReservedCustomHeadersAreNotSent(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(204)
	}))
	defer srv.Close()
	res := loopback().Send(context.Background(), sender.Request{URL: srv.URL, MessageID: "msg_1", Body: []byte(`{"a":1}`), Timestamp: time.Now(),
		Headers: map[string]string{"content-encoding": "gzip", "Expect": "100-continue", "Keep-Alive": "timeout=5", "Webhook-Id": "forged", "X-Tenant": "t1"}})
	if res.StatusCode != 204 {
		t.Fatalf("result %+v", res)
	}
	for _, h := range []string{"Content-Encoding", "Expect", "Keep-Alive"} {
		if v := got.Get(h); v != "" {
			t.Errorf("the reserved header %s was sent: %q", h, v)
		}
	}
	if got.Get("X-Tenant") != "t1" || got.Get("Webhook-Id") != "msg_1" {
		t.Errorf("headers %v", got)
	}
}
