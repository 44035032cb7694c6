package httpapi

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/gzhttp"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/backup"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Views is what the API needs of the pipeline's read models.
type Views interface {
	Read(fn func(v *projections.Views))
	WaitFor(ctx context.Context, pos domain.Position) error
	Ready() bool
}

// Deps are the server's collaborators.
type Deps struct {
	Store    domain.EventStore
	Commands *domain.Commands
	Views    Views
	Log      zerolog.Logger
	// MaxPayload bounds a message payload in bytes.
	MaxPayload int
	// AllowPrivateTargets lets subscriptions point at private addresses.
	AllowPrivateTargets bool
	// WriteWait bounds how long a write waits for the views to show it.
	WriteWait time.Duration
	// SealPublicKey verifies the ledger's seals (nil: audit routes answer 503).
	SealPublicKey ed25519.PublicKey
	// SealKey signs exports' footers (nil: exports answer 503).
	SealKey ed25519.PrivateKey
	// Observer is told of every request and failed authentication
	// (metrics); nil: nobody.
	Observer Observer
	// Metrics serves /metrics on the API listener, to admin and auditor
	// keys (nil: no such route).
	Metrics http.Handler
	// ReadyMaxLag: /readyz fails while the views are further behind the
	// ledger than this (0: 30 s).
	ReadyMaxLag time.Duration
	// AuthFailuresPerSecond and AuthFailureBurst bound failed
	// authentications per client address (default 1/s, burst 20); past them
	// the address gets 429 until its bucket refills.
	AuthFailuresPerSecond float64
	AuthFailureBurst      int
	// Cipher opens payloads the ledger holds encrypted (nil: none).
	Cipher domain.PayloadCipher
	// Eraser carries out erasures (nil: POST .../erasures answers 503).
	Eraser Eraser
	// MaxIngestLag is admission control: while the ledger holds more than
	// this many events that this server accepted and the views have not
	// folded yet (the delivery pipeline behind ingest), a publish is answered
	// 503 with Retry-After instead of growing the gap without bound (0: no
	// bound). Needs views that tell their checkpoint.
	MaxIngestLag uint64
	// Backup writes a backup of the ledger to w while it serves (nil: the
	// ledger is not the embedded store, POST /v1/backup answers 409).
	Backup func(ctx context.Context, w io.Writer) (backup.Manifest, error)
	// Console serves the web console under /console/ (nil: no console).
	// It needs no key itself: its pages call /v1 with the user's key.
	Console http.Handler
}

// Observer is told what the API does (the metrics adapter implements it).
type Observer interface {
	// Request: one request answered, by its route template (never the raw
	// path), method and status.
	Request(route, method string, status int, took time.Duration)
	// AuthFailure: a request refused for its API key.
	AuthFailure()
}

type noObserver struct{}

func (noObserver) Request(string, string, int, time.Duration) {}
func (noObserver) AuthFailure()                               {}

// Server is the HTTP API.
type Server struct {
	Deps
	log    zerolog.Logger
	engine *gin.Engine
	// compressed is the engine behind gzhttp, for the reads (see ServeHTTP).
	compressed http.Handler
	// published is the highest position a publish through this server
	// answered. Publishing does not wait for the views (it would slow
	// ingest); reads wait for it instead, so a client sees its messages.
	published atomic.Uint64
	// keysMu serialises key revocations (the last-admin check).
	keysMu   sync.Mutex
	throttle *authThrottle
	schemas  schemaCache
}

// Route is one served route, for the OpenAPI check.
type Route struct{ Method, Path string }

// New builds the API.
func New(d Deps) *Server {
	if d.MaxPayload <= 0 {
		d.MaxPayload = domain.DefaultMaxPayload
	}
	if d.WriteWait <= 0 {
		d.WriteWait = 5 * time.Second
	}
	gin.SetMode(gin.ReleaseMode)
	if d.Observer == nil {
		d.Observer = noObserver{}
	}
	if d.ReadyMaxLag <= 0 {
		d.ReadyMaxLag = 30 * time.Second
	}
	if d.AuthFailuresPerSecond <= 0 {
		d.AuthFailuresPerSecond, d.AuthFailureBurst = 1, 20
	}
	s := &Server{Deps: d, log: d.Log.With().Str("component", "http").Logger(),
		throttle: newAuthThrottle(d.AuthFailuresPerSecond, d.AuthFailureBurst)}
	e := gin.New()
	// The client address is the connection's: X-Forwarded-For is anyone's to
	// write, and the auth throttle keys on it.
	e.SetTrustedProxies(nil)
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.Use(s.requestLog, s.recover, s.readYourPublishes)
	e.NoRoute(func(c *gin.Context) {
		writeProblem(c, http.StatusNotFound, CodeRouteNotFound, "no route "+method(c)+" "+c.Request.URL.Path, "")
	})
	e.NoMethod(func(c *gin.Context) {
		if allow := c.Writer.Header().Get("Allow"); slices.Contains(strings.Split(allow, ", "), http.MethodGet) {
			c.Header("Allow", allow+", "+http.MethodHead) // served as the GET (ServeHTTP)
		}
		writeProblem(c, http.StatusMethodNotAllowed, CodeMethodNotAllowed, method(c)+" is not allowed here", "")
	})
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if d.Console != nil {
		toConsole := func(c *gin.Context) { c.Redirect(http.StatusFound, "/console/") }
		e.GET("/", toConsole)
		e.GET("/console", toConsole)
		e.GET("/console/*file", gin.WrapH(d.Console))
	}

	if d.Metrics != nil {
		e.GET("/metrics", s.throttleAuth, s.authenticate, s.readAll, gin.WrapH(d.Metrics))
	}
	v1 := e.Group("/v1", s.throttleAuth, s.authenticate, s.checkQuery)
	v1.GET("/me", s.me)
	v1.POST("/keys", s.adminOnly, s.createKey)
	v1.GET("/keys", s.adminOnly, s.listKeys)
	v1.DELETE("/keys/:key", s.adminOnly, s.revokeKey)

	v1.POST("/operational-subscriptions", s.adminOnly, s.createOperationalSubscription)
	v1.GET("/operational-subscriptions", s.adminOnly, s.listOperationalSubscriptions)

	v1.POST("/event-types", s.adminOnly, s.createEventType)
	v1.GET("/event-types", s.listEventTypes)
	v1.GET("/event-types/:name", s.getEventType)
	v1.PATCH("/event-types/:name", s.adminOnly, s.updateEventType)

	v1.POST("/applications", s.adminOnly, s.createApplication)
	v1.GET("/applications", s.readAll, s.listApplications)
	app := v1.Group("/applications/:app", s.appScope)
	app.GET("", s.getApplication)
	app.PATCH("", s.adminOnly, s.renameApplication)
	app.DELETE("", s.adminOnly, s.deleteApplication)
	app.POST("/subscriptions", s.canWrite, s.createSubscription)
	app.GET("/subscriptions", s.listSubscriptions)
	app.GET("/subscriptions/:sub", s.getSubscription)
	app.GET("/subscriptions/:sub/signing-key", s.signingKey)
	app.GET("/subscriptions/:sub/stats", s.subscriptionStats)
	app.PATCH("/subscriptions/:sub", s.canWrite, s.updateSubscription)
	app.DELETE("/subscriptions/:sub", s.canWrite, s.deleteSubscription)
	app.POST("/subscriptions/:sub/pause", s.canWrite, s.pauseSubscription)
	app.POST("/subscriptions/:sub/resume", s.canWrite, s.resumeSubscription)
	app.POST("/subscriptions/:sub/rotate-secret", s.canWrite, s.rotateSecret)
	app.POST("/subscriptions/:sub/recover", s.canWrite, s.recoverSubscription)
	app.POST("/subscriptions/:sub/replay", s.canWrite, s.replaySubscription)
	app.POST("/subscriptions/:sub/disable", s.canWrite, s.disableSubscription)
	app.POST("/messages", s.canWrite, s.publish)
	app.GET("/messages", s.listMessages)
	app.GET("/messages/:msg", s.getMessage)
	app.GET("/messages/:msg/explain", s.explain)
	app.GET("/deliveries", s.listDeliveries)
	app.POST("/erasures", s.adminOnly, s.erase)
	app.GET("/erasures/:erasure", s.getErasure)

	v1.GET("/deliveries/:dlv", s.getDelivery)
	v1.GET("/deliveries/:dlv/timeline", s.deliveryTimeline)
	v1.POST("/deliveries/:dlv/redeliver", s.canWrite, s.redeliver)

	v1.GET("/audit/public-key", s.publicKey)
	v1.GET("/audit/status", s.readAll, s.auditStatus)
	v1.GET("/audit/verify", s.readAll, s.auditVerify)
	v1.GET("/audit/export", s.auditExport)
	v1.GET("/ledger/events", s.readAll, s.ledgerEvents)
	v1.GET("/ledger/streams/:stream", s.readAll, s.ledgerStream)
	v1.POST("/backup", s.adminOnly, s.takeBackup)
	s.engine = e
	wrap, err := gzhttp.NewWrapper() // its defaults: 1 KiB at least, gzip or zstd, types not compressed already
	if err != nil {
		panic(err) // the default options are valid
	}
	s.compressed = wrap(e)
	return s
}

// Routes lists the served routes in OpenAPI path syntax ({param}).
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.engine.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		out = append(out, Route{Method: r.Method, Path: strings.Join(parts, "/")})
	}
	return out
}

// requestLog logs one line per request: never secrets or payloads.
func (s *Server) requestLog(c *gin.Context) {
	start := time.Now()
	rid := c.GetHeader("X-Request-Id")
	if !validRequestID(rid) {
		rid = ids.New("req_")
	}
	c.Set("request_id", rid)
	c.Header("X-Request-Id", rid)
	c.Next()
	status := c.Writer.Status()
	ev := s.log.Info()
	if status == http.StatusServiceUnavailable {
		ev = s.log.Warn() // the store or the views not ready: said once by their own logs
	} else if status >= 500 {
		ev = s.log.Error()
	} else if p := c.Request.URL.Path; p == "/healthz" || p == "/readyz" || (status < 400 && strings.HasPrefix(p, "/console/")) {
		ev = s.log.Debug() // probes, and the console's static files (a page load is a dozen)
	}
	route := c.FullPath()
	if route == "" {
		route = "(no route)"
	}
	var keyID string
	if p, ok := c.Get("principal"); ok {
		keyID = p.(principal).keyID
	}
	took := time.Since(start)
	s.Observer.Request(route, method(c), status, took)
	ev.Str("method", method(c)).Str("route", route).Int("status", status).
		Float64("latency_ms", float64(took.Microseconds())/1000).
		Str("key_id", keyID).Str("request_id", rid).Msg("request")
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error().Interface("panic", v).Str("path", c.Request.URL.Path).Msg("handler panicked")
			writeProblem(c, http.StatusInternalServerError, CodeInternal, "internal error; see the server log", "")
		}
	}()
	c.Next()
}

// readYourPublishes makes a read wait (up to WriteWait) until the views hold
// every message this server accepted before the read arrived, and, across
// the nodes of a cluster, the position the client names in X-Min-Position.
func (s *Server) readYourPublishes(c *gin.Context) {
	if c.Request.Method == http.MethodGet {
		if raw := c.GetHeader(HeaderMinPosition); raw != "" && !s.waitMinPosition(c, raw) {
			c.Abort()
			return
		}
		s.settle(c, domain.Position(s.published.Load()))
	}
	c.Next()
}

// Read-your-writes across the nodes of a cluster: every write answers its
// ledger position, and a read naming it waits until this node's views hold it.
const (
	HeaderLedgerPosition = "X-Ledger-Position"
	HeaderMinPosition    = "X-Min-Position"
)

func answerPosition(c *gin.Context, pos domain.Position) {
	c.Header(HeaderLedgerPosition, strconv.FormatUint(uint64(pos), 10))
}

// waitMinPosition waits, up to WriteWait, for the views to hold the position
// raw names; it answers the problem itself and returns false when they do
// not (or raw is no position).
func (s *Server) waitMinPosition(c *gin.Context, raw string) bool {
	pos, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		writeProblem(c, http.StatusBadRequest, CodeInvalidParameter, fmt.Sprintf("%s %q: want a ledger position (the %s of a write)", HeaderMinPosition, raw, HeaderLedgerPosition), "")
		return false
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.WriteWait)
	defer cancel()
	if err := s.Views.WaitFor(ctx, domain.Position(pos)); err == nil {
		return true
	}
	if c.Request.Context().Err() != nil {
		return false // the client left
	}
	folded := "unknown"
	if cp, ok := s.Views.(interface{ Checkpoint() domain.Position }); ok {
		folded = strconv.FormatUint(uint64(cp.Checkpoint()), 10)
	}
	c.Header("Retry-After", "1")
	writeProblem(c, http.StatusServiceUnavailable, CodeViewsBehind, fmt.Sprintf(
		"this node's views did not reach position %d within %s (they hold up to %s): retry, or read from another node", pos, s.WriteWait, folded), "")
	return false
}

func (s *Server) notePublished(pos domain.Position) {
	for {
		cur := s.published.Load()
		if uint64(pos) <= cur || s.published.CompareAndSwap(cur, uint64(pos)) {
			return
		}
	}
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.Store.Head(ctx); err != nil {
		writeProblem(c, http.StatusServiceUnavailable, CodeStoreUnavailable, "store unreachable: "+err.Error(), "")
		return
	}
	if h, ok := s.Store.(interface{ Health() error }); ok {
		if err := h.Health(); err != nil {
			writeProblem(c, http.StatusServiceUnavailable, CodeStoreUnavailable, "store cannot take appends: "+err.Error(), "")
			return
		}
	}
	if !s.Views.Ready() {
		writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, "the views are still catching up with the ledger", "")
		return
	}
	if d, ok := s.Cipher.(interface{ Damaged() error }); ok {
		if err := d.Damaged(); err != nil {
			writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable,
				"the key store is damaged ("+err.Error()+"): payloads under the damaged keys cannot be opened; restore keys/ from a backup (docs/operations.md)", "")
			return
		}
	}
	if d, ok := s.Views.(interface{ Damaged() error }); ok {
		if err := d.Damaged(); err != nil {
			writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable,
				"the views are damaged ("+err.Error()+"): reads may fail or miss records; restart hookledger to rebuild them from the ledger", "")
			return
		}
	}
	if l, ok := s.Views.(interface {
		Lag(context.Context) (domain.Position, domain.Position, time.Duration, error)
	}); ok {
		head, folded, behind, err := l.Lag(ctx)
		if err == nil && behind > s.ReadyMaxLag {
			writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, fmt.Sprintf(
				"the views are %d positions and %s behind the ledger (bound %s): reads are stale", head-folded, behind.Round(time.Second), s.ReadyMaxLag), "")
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// validRequestID accepts a client's X-Request-Id only if it is short and made
// of safe characters: it is stored in the ledger as the causation id of every
// event the request appends, and echoed in logs and headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
