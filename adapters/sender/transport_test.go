package sender_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
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

// countConns starts srv counting the connections it accepts.
func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

// Given a kept connection the endpoint closed while it was idle, when the
// next attempt goes out, then it is sent once on a new connection: the
// endpoint gets it once and the attempt succeeds.
func TestAConnectionClosedWhileIdleIsReplaced(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	s := loopback()
	if res := send(t, s, srv.URL); res.StatusCode != 200 {
		t.Fatal(res)
	}
	srv.CloseClientConnections() // the endpoint drops the idle connection
	time.Sleep(50 * time.Millisecond)
	if res := send(t, s, srv.URL); res.StatusCode != 200 || res.ErrorClass != "" {
		t.Fatalf("after the endpoint closed the idle connection: %+v", res)
	}
	if hits.Load() != 2 || conns.Load() != 2 {
		t.Fatalf("the endpoint got %d requests on %d connections, want 2 on 2", hits.Load(), conns.Load())
	}
}

// Given an endpoint that takes a request whole and closes the connection
// without answering, when the attempt fails, then the request was sent
// once: it may have been acted on, so only the schedule sends it again
// (with the attempt recorded).
func TestARequestWrittenWholeIsNotSentTwice(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			return // the first answers, and leaves its connection idle
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	s := loopback()
	if res := send(t, s, srv.URL); res.StatusCode != 200 {
		t.Fatal(res)
	}
	res := send(t, s, srv.URL) // on the idle connection from the first
	if res.ErrorClass != domain.ErrorClassConnectionReset || hits.Load() != 2 {
		t.Fatalf("%+v; the endpoint got %d requests, want 2", res, hits.Load())
	}
}

// Given answers that end the connection, are chunked, or come after an
// informational 103, when attempts follow one another, then each succeeds,
// and a connection is reused only when its answer was read to the end and
// did not ask for the close.
func TestAnswersOfEveryShapeLeaveTheConnectionRight(t *testing.T) {
	for _, c := range []struct {
		name  string
		h     http.HandlerFunc
		conns int32 // for 5 attempts
	}{
		{"connection close", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Connection", "close") }, 5},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("part one "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		}, 1},
		{"103 first", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 1},
		{"a body past what is kept", func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(c.h)
			conns := countConns(srv)
			srv.Start()
			defer srv.Close()
			s := loopback()
			for i := range 5 {
				res := send(t, s, srv.URL)
				if res.ErrorClass != "" || res.StatusCode < 200 || res.StatusCode > 202 {
					t.Fatalf("attempt %d: %+v", i, res)
				}
				if c.name == "chunked" && res.ResponseExcerpt != "part one part two" {
					t.Fatalf("excerpt %q", res.ResponseExcerpt)
				}
				if c.name == "a body past what is kept" && len(res.ResponseExcerpt) != 64<<10 {
					t.Fatalf("excerpt of %d bytes, want the first 64 KiB", len(res.ResponseExcerpt))
				}
			}
			if conns.Load() != c.conns {
				t.Fatalf("5 attempts opened %d connections, want %d", conns.Load(), c.conns)
			}
		})
	}
}

// Given an endpoint that has not answered, when the attempt's context ends
// (a cluster's lease, a shutdown's grace), then the attempt ends at once.
func TestAnAttemptEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := sender.New(sender.Options{AllowPrivate: true, Timeout: 30 * time.Second})
	for _, c := range []struct {
		name  string
		ctx   func() (context.Context, context.CancelFunc)
		class string
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, domain.ErrorClassTimeout},
		{"cancelled, no deadline", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, domain.ErrorClassNetwork},
	} {
		ctx, cancel := c.ctx()
		start := time.Now()
		res := s.Send(ctx, sender.Request{URL: srv.URL, MessageID: "msg_1", Body: []byte(`{}`), Timestamp: time.Now()})
		cancel()
		if took := time.Since(start); took > 2*time.Second || res.ErrorClass != c.class {
			t.Fatalf("%s: after %s: %+v", c.name, took, res)
		}
	}
}

// Given an HTTPS endpoint, when attempts follow one another, then they go
// over one TLS connection that asked for HTTP/1.1.
func TestHTTPSConnectionsAreReused(t *testing.T) {
	var proto atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proto.Store(r.Proto) }))
	srv.EnableHTTP2 = true
	conns := countConns(srv)
	srv.StartTLS()
	defer srv.Close()
	trust := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	s := sender.New(sender.Options{AllowPrivate: true, TLSConfig: &tls.Config{RootCAs: trust.RootCAs}, Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second})
	defer s.Close()
	for i := range 5 {
		if res := send(t, s, srv.URL); res.ErrorClass != "" || res.StatusCode != 200 {
			t.Fatalf("attempt %d: %+v", i, res)
		}
	}
	if conns.Load() != 1 || !strings.HasPrefix(proto.Load().(string), "HTTP/1.1") {
		t.Fatalf("%d connections, protocol %v; want 1, HTTP/1.1", conns.Load(), proto.Load())
	}
}

// Given a closed sender, when it still sends, then every attempt goes on a
// new connection that is not kept (nothing stays open after Close).
func TestAClosedSenderKeepsNoConnection(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	conns := countConns(srv)
	srv.Start()
	defer srv.Close()
	s := loopback()
	send(t, s, srv.URL)
	s.Close()
	for range 3 {
		if res := send(t, s, srv.URL); res.StatusCode != 200 {
			t.Fatal(res)
		}
	}
	if conns.Load() != 4 {
		t.Fatalf("%d connections for 4 attempts around a Close, want 4", conns.Load())
	}
}

// Given an endpoint that answers as soon as it has read the headers (413
// for a body it will not take) and closes without reading the body, when
// the body cannot be written whole, then the attempt records the endpoint's
// answer: it recorded "connection reset by peer" and no status, where
// net/http's Transport, which reads while it writes, gave the 413.
func TestAnAnswerBeforeTheBodyIsRecorded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 4096)
				var head []byte
				for !bytes.Contains(head, []byte("\r\n\r\n")) {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					head = append(head, buf[:n]...)
				}
				c.Write([]byte("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large"))
			}(c)
		}
	}()
	s := loopback()
	body := bytes.Repeat([]byte("x"), 16<<20) // past what the sockets' buffers take
	for range 3 {
		res := s.Send(context.Background(), sender.Request{URL: "http://" + ln.Addr().String() + "/hook", MessageID: "msg_1", Body: body, Timestamp: time.Now()})
		if res.StatusCode != 413 || res.ErrorClass != domain.ErrorClassHTTPStatus || res.ResponseExcerpt != "too large" {
			t.Fatalf("result %+v, want the endpoint's 413", res)
		}
	}
}

// Given an endpoint that answers with headers that never end, when the
// attempt reads them, then it stops at a bound (the header of an answer is
// at most maxAnswerHeader) and fails, having read no more than that: the
// endpoint is anyone's to run, and the own transport read headers without
// a limit (net/http's Transport stops at 10 MB), so one endpoint could
// grow the ledger's memory until the attempt's timeout.
func TestAnAnswersHeaderIsBounded(t *testing.T) {
	endlessAnswerIsCut(t, []byte("HTTP/1.1 200 OK\r\nX-Endless: "), bytes.Repeat([]byte("a"), 64<<10))
}

// Given an endpoint that answers informational answers without end (103
// Early Hints), when the attempt reads them, then it stops at the same
// bound as one header (they count together, as in net/http's Transport).
func TestInformationalAnswersCountTowardsTheBound(t *testing.T) {
	endlessAnswerIsCut(t, nil, bytes.Repeat([]byte("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"), 1024))
}

// endlessAnswerIsCut starts an endpoint that answers head, then chunk over
// and over (up to 256 MB), sends it an attempt and checks that the attempt
// fails saying the answer's header is too large, before the endpoint got
// 64 MB in.
func endlessAnswerIsCut(t *testing.T, head, chunk []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var sent atomic.Int64
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
		c.Write(head)
		for sent.Load() < 256<<20 {
			n, err := c.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	s := sender.New(sender.Options{AllowPrivate: true, Timeout: 20 * time.Second})
	res := s.Send(context.Background(), sender.Request{URL: "http://" + ln.Addr().String() + "/hook", MessageID: "msg_1", Body: []byte(`{}`), Timestamp: time.Now()})
	if res.ErrorClass == "" || res.StatusCode != 0 || !strings.Contains(res.Error, "header") {
		t.Fatalf("result %+v, want a failure saying the answer's header is too large", res)
	}
	if n := sent.Load(); n > 64<<20 {
		t.Fatalf("the endpoint got %d MB in before the attempt stopped", n>>20)
	}
}
