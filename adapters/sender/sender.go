package sender

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/idna"

	"github.com/hookledger/hookledger/domain"
)

// Options configure a Sender. Zero values take the defaults.
type Options struct {
	Timeout          time.Duration // total per attempt (default 15 s)
	ConnectTimeout   time.Duration // TCP connect + TLS handshake (default 5 s)
	MaxResponseBytes int64         // response body bytes read (default 64 KiB)
	AllowPrivate     bool          // let webhooks reach private/loopback addresses
	MaxIdlePerHost   int           // idle keep-alive connections per host (default 256)
	UserAgent        string
	// TLSConfig, when set, is used for https targets (tests use it to trust a
	// test certificate authority).
	TLSConfig *tls.Config
	// Resolver, when set, resolves endpoint names (default: the system's
	// resolver). Tests use it to answer names without a DNS server.
	Resolver *net.Resolver
}

// Request is one attempt to send.
type Request struct {
	URL       string
	MessageID string
	// Body is sent as it is, not copied: it must not change during Send.
	Body      []byte
	Headers   map[string]string
	Signer    *domain.Signer
	Timestamp time.Time
	// ClientCert, when set, is presented to endpoints that ask for a client
	// certificate (mutual TLS).
	ClientCert *domain.ClientCertificate
}

// Sender sends webhook requests. It is safe for concurrent use.
type Sender struct {
	t    *transport
	opts Options

	// The TLS configuration presenting each client certificate in use, by
	// the certificate's id; a connection is bound to the certificate it
	// presented, so each has its own connections too (connKey).
	mu   sync.Mutex
	mtls map[[32]byte]*tls.Config
}

// maxClientCerts bounds the per-certificate configurations; past it they
// are dropped and built again on use (a rotation leaves old ones behind).
const maxClientCerts = 1024

// New builds a Sender with its own connection pool.
func New(opts Options) *Sender {
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.MaxResponseBytes == 0 {
		opts.MaxResponseBytes = 64 << 10
	}
	if opts.MaxIdlePerHost == 0 {
		opts.MaxIdlePerHost = 256
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "hookledger/1"
	}
	// Webhooks never go through an environment proxy: the dialer connects
	// to the endpoint itself, and the guard checks the address it connects
	// to.
	dialer := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second, Resolver: opts.Resolver}
	if !opts.AllowPrivate {
		dialer.Control = control
	}
	return &Sender{opts: opts, t: newTransport(dialer, opts.ConnectTimeout, opts.MaxIdlePerHost), mtls: map[[32]byte]*tls.Config{}}
}

// dialAddr is the host:port a request to u connects to: the scheme's port
// when u names none, and the host in its ASCII form, as every HTTP client
// resolves an internationalized name (例え.jp is xn--r8jz45g.jp; no
// resolver accepts the name as typed). The TLS server name is taken from it
// (transport.dial); the Host header is converted by http.Request.Write.
func dialAddr(u *url.URL) (string, error) {
	host, err := ASCIIHost(u.Hostname())
	if err != nil {
		return "", err
	}
	port, converted := u.Port(), host != u.Hostname()
	switch {
	case port != "" && !converted:
		return u.Host, nil // as it is, without a new string per attempt
	case port == "" && u.Scheme == "https":
		port = "443"
	case port == "":
		port = "80"
	}
	return net.JoinHostPort(host, port), nil
}

// ASCIIHost returns host as it is resolved: an internationalized name in
// its ASCII form (IDNA's lookup profile, as net/http converts it), any
// other host unchanged. It fails for a name IDNA does not allow.
func ASCIIHost(host string) (string, error) {
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			ascii, err := idna.Lookup.ToASCII(host)
			if err != nil {
				return "", fmt.Errorf("the host %q is not a valid internationalized name: %w", host, err)
			}
			return ascii, nil
		}
	}
	return host, nil
}

// connFor returns what a request to addr (dialAddr) may reuse a connection
// for, and the TLS configuration to connect with (nil for http, or the
// Options' one).
func (s *Sender) connFor(addr string, https bool, cert *domain.ClientCertificate) (connKey, *tls.Config, error) {
	key := connKey{addr: addr, tls: https}
	if cert == nil || !key.tls {
		return key, s.opts.TLSConfig, nil
	}
	key.cert = sha256.Sum256([]byte(cert.CertPEM + "\x00" + cert.KeyPEM))
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg, ok := s.mtls[key.cert]; ok {
		return key, cfg, nil
	}
	pair, err := tls.X509KeyPair([]byte(cert.CertPEM), []byte(cert.KeyPEM))
	if err != nil {
		return key, nil, err
	}
	if len(s.mtls) >= maxClientCerts {
		clear(s.mtls)
		s.t.closeIdle(func(c *conn) bool { return c.key.cert != [32]byte{} })
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.opts.TLSConfig != nil {
		cfg = s.opts.TLSConfig.Clone()
	}
	cfg.Certificates = []tls.Certificate{pair}
	s.mtls[key.cert] = cfg
	return key, cfg, nil
}

// Close closes the sender's connections: the idle ones now, those in use
// when their answers end. Send still works after it, on new connections
// that are not kept.
func (s *Sender) Close() { s.t.close() }

// Send makes one attempt and classifies its outcome. It never returns an
// error: every failure is an AttemptResult with an ErrorClass.
func (s *Sender) Send(ctx context.Context, r Request) domain.AttemptResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// The body is not copied: the transport reads r.Body as it is (see
	// Request.Body).
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return domain.AttemptResult{ErrorClass: domain.ErrorClassNetwork, Error: "bad request: " + err.Error(), Latency: time.Since(start)}
	}
	ts := r.Timestamp.Unix()
	req.Header = make(http.Header, 8+len(r.Headers))
	for k, v := range r.Headers {
		// A subscription stored before a name was reserved may hold it: a
		// Content-Encoding on a plain body would make the endpoint inflate
		// it, an Expect wait for an answer never asked for.
		if ck := http.CanonicalHeaderKey(k); !domain.ReservedHeader(ck) {
			req.Header[ck] = []string{v}
		}
	}
	// Set would canonicalize each name again, allocating a new string for
	// the lower-case Standard Webhooks ones on every attempt.
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{s.opts.UserAgent}
	req.Header[headerID] = []string{r.MessageID}
	req.Header[headerTimestamp] = []string{strconv.FormatInt(ts, 10)}
	if r.Signer != nil {
		req.Header[headerSignature] = []string{r.Signer.Sign(r.MessageID, ts, r.Body)}
	}
	req.ContentLength = int64(len(r.Body))

	addr, err := dialAddr(req.URL)
	if err != nil {
		return domain.AttemptResult{ErrorClass: domain.ErrorClassDNS, Error: err.Error(), Latency: time.Since(start)}
	}
	key, tlsConfig, err := s.connFor(addr, req.URL.Scheme == "https", r.ClientCert)
	if err != nil {
		return domain.AttemptResult{ErrorClass: domain.ErrorClassTLS, Error: "client certificate: " + err.Error(), Latency: time.Since(start)}
	}
	resp, err := s.roundTrip(ctx, req, key, tlsConfig)
	if err != nil {
		class := Classify(err)
		return domain.AttemptResult{ErrorClass: class, Error: describe(err), Latency: time.Since(start)}
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxResponseBytes))
	// Drain a little more so the connection can be reused; past that, closing
	// is cheaper than reading a huge body we will not keep.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	res := domain.AttemptResult{StatusCode: resp.StatusCode, Latency: time.Since(start), ResponseExcerpt: string(body)}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			// The status arrived: the endpoint accepted the message.
			res.Error = "response body: " + readErr.Error()
		}
		return res
	case code >= 300 && code < 400:
		res.ErrorClass = domain.ErrorClassRedirect
		res.Error = "redirects are not followed (Location: " + resp.Header.Get("Location") + ")"
	case code == http.StatusGone:
		res.ErrorClass = domain.ErrorClassGone
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		res.ErrorClass = domain.ErrorClassThrottled
		res.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		res.ErrorClass = domain.ErrorClassHTTPStatus
	}
	if res.Error == "" {
		res.Error = resp.Status
	}
	return res
}

// roundTrip sends req on the sender's connections; its errors read as
// net/http's ("Post "url": ..."), which the attempts' records have always
// shown.
func (s *Sender) roundTrip(ctx context.Context, req *http.Request, key connKey, tlsConfig *tls.Config) (*http.Response, error) {
	resp, err := s.t.roundTrip(ctx, req, key, tlsConfig)
	if err != nil {
		return nil, &url.Error{Op: "Post", URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

// The Standard Webhooks headers under the names net/http gives them
// (Header.Get and the wire are case-insensitive).
var (
	headerID        = http.CanonicalHeaderKey(domain.HeaderWebhookID)
	headerTimestamp = http.CanonicalHeaderKey(domain.HeaderWebhookTimestamp)
	headerSignature = http.CanonicalHeaderKey(domain.HeaderWebhookSignature)
)

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns 0 when absent or unparseable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		if n > 365*24*3600 {
			n = 365 * 24 * 3600
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// Classify maps a transport error to a domain error class.
func Classify(err error) string {
	var blocked *BlockedError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	var netErr net.Error
	switch {
	case errors.As(err, &blocked):
		return domain.ErrorClassBlockedTarget
	case errors.As(err, &dnsErr):
		return domain.ErrorClassDNS
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidCert), errors.As(err, &recordErr), errors.As(err, &alert):
		return domain.ErrorClassTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return domain.ErrorClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return domain.ErrorClassConnectionRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return domain.ErrorClassConnectionReset
	case strings.Contains(err.Error(), "tls:"):
		return domain.ErrorClassTLS
	}
	return domain.ErrorClassNetwork
}

// describe keeps the error message short and free of the full URL's query.
func describe(err error) string {
	msg := err.Error()
	if len(msg) > 512 {
		msg = msg[:512]
	}
	return msg
}
