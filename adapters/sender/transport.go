package sender

// The sender's connections: HTTP/1.1 on pooled TCP or TLS connections, each
// request written and its answer read on the goroutine that sends it.
//
// Why not net/http's Transport: it gives every connection two goroutines of
// its own (one writes requests, one reads answers) and hands each request
// and answer between them and the caller. For a webhook, a small request and
// a small answer, those hand-offs and their allocations were about a tenth
// of the whole process's CPU per delivery where many attempts are in flight
// (9-15% in docs/benchmarks.md, eighteenth session). The wire format is
// still net/http's: requests are written by http.Request.Write and answers
// read by http.ReadResponse; only the connections are managed here. The
// price: no HTTP/2 (endpoints are asked for HTTP/1.1 by ALPN, which every
// HTTPS server speaks).

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// transport sends requests on connections it keeps open between them.
type transport struct {
	dialer         *net.Dialer
	connectTimeout time.Duration // TCP connect and TLS handshake
	idleTimeout    time.Duration // an idle connection older than this is closed, not used
	maxIdle        int           // idle connections kept per endpoint and certificate
	maxIdleTotal   int

	mu        sync.Mutex
	idle      map[connKey][]*conn // the most recently used last
	idleCount int
	lastSweep time.Time
	closed    bool // no connection is kept any more (Sender.Close)
}

// connKey is what a connection may be reused for: the same address, scheme
// and client certificate.
type connKey struct {
	addr string // host:port
	tls  bool
	cert [32]byte // the client certificate's id; zero: none
}

type conn struct {
	net.Conn
	key       connKey
	br        *bufio.Reader // reads through lim
	bw        *bufio.Writer
	lim       capped
	idleSince time.Time
}

// maxAnswerHeader bounds an answer's status line and header, as net/http's
// server bounds a request's (1 MiB): the endpoint is anyone's to run, and a
// header that never ends would otherwise grow the ledger's memory until the
// attempt's timeout. (net/http's Transport stops at 10 MB.) The body is
// bounded where it is read (Options.MaxResponseBytes).
const maxAnswerHeader = 1 << 20

var errAnswerHeaderTooLarge = errors.New("the answer's header is over 1 MiB")

// capped reads from r, at most left bytes while left >= 0 (then it fails
// with errAnswerHeaderTooLarge); unbounded while left < 0.
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return c.r.Read(p)
	}
	if c.left == 0 {
		return 0, errAnswerHeaderTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// readAnswer reads the final answer's status line and header, past any
// informational answers (103 Early Hints, an unasked-for 100 Continue),
// within maxAnswerHeader for all of them together, as net/http's Transport
// counts them (what the reader holds already counts as read).
func (c *conn) readAnswer(req *http.Request) (*http.Response, error) {
	c.lim.left = maxAnswerHeader
	defer func() { c.lim.left = -1 }()
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			if c.lim.left == 0 {
				return nil, errAnswerHeaderTooLarge
			}
			return nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

func newTransport(dialer *net.Dialer, connectTimeout time.Duration, maxIdle int) *transport {
	return &transport{dialer: dialer, connectTimeout: connectTimeout, idleTimeout: 90 * time.Second,
		maxIdle: maxIdle, maxIdleTotal: 4 * maxIdle, idle: map[connKey][]*conn{}}
}

// roundTrip writes req on a connection for key and reads the answer's
// header. The caller reads the answer's body and closes it, which gives
// the connection back when the body was read to its end. tlsConfig is used
// when key.tls: it must name no protocols (NextProtos is set here).
//
// An idle connection the endpoint closed is found before it is used
// (alive). One it closes in the instant between is found when the request
// cannot be written on it: then, and only then, the request goes once more
// on a new connection. A request written whole is never sent twice, since
// the endpoint may have taken it: a failure after that is the attempt's
// outcome, recorded and retried by the schedule (net/http's rule for a POST).
func (t *transport) roundTrip(ctx context.Context, req *http.Request, key connKey, tlsConfig *tls.Config) (*http.Response, error) {
	for try := 0; ; try++ {
		c, reused, err := t.get(ctx, key, tlsConfig)
		if err != nil {
			return nil, err
		}
		resp, written, err := t.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		c.Conn.Close()
		if !reused || written || try > 0 || ctx.Err() != nil || !closedByPeer(err) || req.GetBody == nil {
			return nil, err
		}
		if req.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
}

// closedByPeer says whether err is how a write fails on a connection the
// other end closed.
func closedByPeer(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrClosedPipe)
}

// exchange writes req on c and reads the answer's header, and says whether
// the request was written whole. Until the body is closed, ctx ending (its
// deadline, or a cancel) ends the exchange: the connection's deadline is
// moved to the past, which fails its reads and writes at once, and the
// connection is not used again. A connection that is reused never had a
// deadline set, so none is set per request (timers cost).
func (t *transport) exchange(ctx context.Context, c *conn, req *http.Request) (resp *http.Response, written bool, err error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	err = req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		written = true
		resp, err = c.readAnswer(req)
	} else if early := earlyAnswer(ctx, c, req); early != nil {
		// The endpoint answered before it read the whole body (a 413 for
		// a body it will not take, a 401) and closed: its answer is the
		// attempt's outcome, as net/http's Transport, which reads while
		// it writes, gives it. The connection is not used again.
		resp, err = early, nil
		resp.Close = true
	}
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, written, ctx.Err()
		}
		return nil, written, err
	}
	resp.Body = &body{ReadCloser: resp.Body, c: c, t: t, stop: stop, reusable: !resp.Close}
	return resp, written, nil
}

// earlyAnswerWait bounds the wait, after a write failed, for an answer the
// endpoint sent before it stopped reading. Such an answer came before the
// reset that failed the write (TCP keeps the order), so it is read at once;
// the bound only keeps a silent peer from holding the attempt.
const earlyAnswerWait = 50 * time.Millisecond

// earlyAnswer reads the answer an endpoint gave before the request could be
// written whole (nil: none, or ctx ended).
func earlyAnswer(ctx context.Context, c *conn, req *http.Request) *http.Response {
	if ctx.Err() != nil {
		return nil // the deadline in the past stays: ctx ended the attempt
	}
	c.SetReadDeadline(time.Now().Add(earlyAnswerWait))
	resp, err := c.readAnswer(req)
	// A 408 is what servers send when they close a connection left idle
	// (net/http ignores it too): on a kept connection it answers no request
	// of ours, and the request goes again on a new one (roundTrip).
	if err != nil || resp.StatusCode == http.StatusRequestTimeout {
		return nil
	}
	return resp
}

// body is an answer's body: closed after it was read to its end, it gives
// its connection back to the pool; closed before, it closes the connection
// rather than read the rest (which could be large, or never end).
type body struct {
	io.ReadCloser
	c        *conn
	t        *transport
	stop     func() bool
	eof      bool
	reusable bool
	closed   bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("sender: read of a closed body")
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	// stop is false when ctx ended first: the connection's deadline is in
	// the past, and it is not used again.
	if b.stop() && b.eof && b.reusable {
		b.ReadCloser.Close() // read to its end: nothing left to drain
		b.t.put(b.c)
		return nil
	}
	return b.c.Conn.Close()
}

// get returns an idle connection for key, the most recently used one, or a
// new one (reused false).
func (t *transport) get(ctx context.Context, key connKey, tlsConfig *tls.Config) (c *conn, reused bool, err error) {
	for c = t.takeIdle(key); c != nil; c = t.takeIdle(key) {
		// Checked outside the lock: the peek is a system call.
		if time.Since(c.idleSince) < t.idleTimeout && alive(c) {
			return c, true, nil
		}
		c.Conn.Close()
	}
	c, err = t.dial(ctx, key, tlsConfig)
	return c, false, err
}

// takeIdle takes the most recently used idle connection for key (nil: none).
func (t *transport) takeIdle(key connKey) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[key]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	t.idle[key] = list[:len(list)-1]
	t.idleCount--
	return c
}

func (t *transport) dial(ctx context.Context, key connKey, tlsConfig *tls.Config) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.connectTimeout)
	defer cancel()
	nc, err := t.dialer.DialContext(ctx, "tcp", key.addr)
	if err != nil {
		return nil, err
	}
	if key.tls {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tlsConfig != nil {
			cfg = tlsConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(key.addr) // the name in its ASCII form (dialAddr)
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{Conn: nc, key: key, bw: bufio.NewWriterSize(nc, 4<<10), lim: capped{r: nc, left: -1}}
	c.br = bufio.NewReaderSize(&c.lim, 4<<10)
	return c, nil
}

// put keeps c for the next request to its endpoint, unless as many are kept
// already; now and then it closes those idle too long.
func (t *transport) put(c *conn) {
	now := time.Now()
	c.idleSince = now
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) > t.idleTimeout/2 {
		t.closeIdleLocked(func(x *conn) bool { return now.Sub(x.idleSince) >= t.idleTimeout })
		t.lastSweep = now
	}
	if t.closed || len(t.idle[c.key]) >= t.maxIdle || t.idleCount >= t.maxIdleTotal {
		c.Conn.Close()
		return
	}
	t.idle[c.key] = append(t.idle[c.key], c)
	t.idleCount++
}

// closeIdle closes the idle connections that match (all when nil).
func (t *transport) closeIdle(match func(*conn) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeIdleLocked(match)
}

// close closes the idle connections, and those in use as their answers end.
func (t *transport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.closeIdleLocked(nil)
}

func (t *transport) closeIdleLocked(match func(*conn) bool) {
	for key, list := range t.idle {
		kept := list[:0]
		for _, c := range list {
			if match == nil || match(c) {
				c.Conn.Close()
				t.idleCount--
			} else {
				kept = append(kept, c)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = kept
		}
	}
}
