package app

// Serving: the ledger, its pipeline, sealer and HTTP API run until the
// context ends or one of them fails, then stop in order.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/backup"
	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/cluster"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/console"
	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/metrics"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Serve runs the ledger until ctx ends or a part of it fails, then stops it
// in order: no new requests, then the pipeline, then the sealer (so that
// the pipeline's last events are sealed too), then the cluster node (its
// leases are handed over once nothing acts under them).
func Serve(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	slog := log.With().Str("component", "serve").Logger()
	// The listeners first: a busy port must fail before anything is created
	// on disk (data directory, seal key), and say how to choose another.
	ln, mln, err := listeners(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	if mln != nil {
		defer mln.Close()
	}
	var m *metrics.Metrics
	if !cfg.NoMetrics {
		m = metrics.New()
	}
	store, raw, err := openServingStore(cfg, log, m)
	if err != nil {
		return err
	}
	defer func() {
		if err := raw.Close(); err != nil {
			slog.Error().Err(err).Msg("the ledger did not close cleanly")
		}
	}()
	if err := CheckLedgerKeys(ctx, cfg, store, slog); errors.Is(err, domain.ErrUnavailable) {
		// A remote store may be down at the start: serve all the same (503s
		// until it is back). The sealer still refuses another key.
		slog.Warn().Err(err).Msg("the ledger's keys could not be checked against it: the store is unavailable")
	} else if err != nil {
		return err
	}
	node, err := startNode(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	l, err := buildServing(cfg, store, log, m, node)
	if err != nil {
		return err
	}
	defer func() {
		if err := l.Close(); err != nil {
			slog.Error().Err(err).Msg("the views did not close cleanly (the next start replays more of the ledger)")
		}
	}()
	stopNode := func() {}
	if node != nil {
		stopNode = runNode(node, l.Pipeline)
	}
	if !cfg.AllowPrivateTargets {
		slog.Info().Msg("webhooks to loopback, private and link-local addresses are refused (--allow-private-targets to allow)")
	}
	sealKey, err := loadSealKey(cfg, slog)
	if err != nil {
		return err
	}
	sealer := &audit.Sealer{Store: store, Key: sealKey, Every: cfg.SealEvery, Interval: cfg.SealInterval,
		NewEventID: ids.NewEventID, Log: log.With().Str("component", "sealer").Logger(), OnFailure: l.Pipeline.AnnounceSealFailure}
	api, sweeper := newAPI(cfg, store, l, sealKey, m, log, backupOf(cfg, raw, l, log))
	if m != nil {
		watch(m, store, l.Pipeline, sealer, cfg.ViewsDir(), node)
	}
	stopSealer := startSealer(node, sealer)
	defer stopSealer()
	if mln != nil {
		defer serveMetrics(mln, m, slog)()
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}

	pipeCtx, stopPipe := context.WithCancel(context.Background())
	defer stopPipe()
	pipeErr := make(chan error, 1)
	go func() { pipeErr <- l.Pipeline.Run(pipeCtx) }()
	sweepDone := startSweeper(pipeCtx, sweeper, l.Pipeline, node)
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	go bootstrapAdminKey(ctx, cfg, l, slog)
	announce(slog, ln, cfg, isEmpty(ctx, store))

	runErr := untilStop(ctx, pipeErr, httpErr)
	slog.Info().Msg("shutting down: no new requests")
	shCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv.Shutdown(shCtx)
	stopPipe()
	<-sweepDone
	if err := <-pipeErr; err != nil && runErr == nil {
		runErr = err
	}
	stopSealer()
	stopNode()
	slog.Info().Msg("hookledger stopped")
	return runErr
}

// listeners binds the API's address and the metrics' (nil when not asked
// for).
func listeners(cfg config.Config) (api, mln net.Listener, err error) {
	if api, err = listen("--listen", cfg.Listen); err != nil {
		return nil, nil, err
	}
	if cfg.MetricsListen != "" {
		if mln, err = listen("--metrics-listen", cfg.MetricsListen); err != nil {
			api.Close()
			return nil, nil, err
		}
	}
	return api, mln, nil
}

// openServingStore opens the configured store, instrumented when metrics
// are on; raw is the store opened (to close, and to back up).
func openServingStore(cfg config.Config, log zerolog.Logger, m *metrics.Metrics) (store, raw domain.EventStore, err error) {
	var onCommit func(int, time.Duration)
	if m != nil {
		onCommit = m.Committed
	}
	raw, err = OpenStore(cfg, log, onCommit)
	if err != nil {
		return nil, nil, err
	}
	if m != nil {
		return m.InstrumentStore(raw), raw, nil
	}
	return raw, raw, nil
}

// buildServing builds the ledger, its pipeline owned by the cluster node's
// partitions when there is a node.
func buildServing(cfg config.Config, store domain.EventStore, log zerolog.Logger, m *metrics.Metrics, node *cluster.Keeper) (*Ledger, error) {
	var observer pipeline.Observer
	if m != nil {
		observer = m
	}
	var own pipeline.Ownership
	worker := ""
	if node != nil {
		own, worker = node, "delivery-worker@"+node.NodeID()
	}
	return BuildNode(cfg, store, log, observer, own, worker)
}

// loadSealKey reads the key that signs seals and exports, made on first use.
func loadSealKey(cfg config.Config, log zerolog.Logger) (ed25519.PrivateKey, error) {
	key, created, err := audit.LoadOrCreateKey(cfg.SealKeyPath())
	if err != nil {
		return nil, fmt.Errorf("seal signing key: %w", err)
	}
	if created {
		log.Info().Str("path", cfg.SealKeyPath()).Str("key_id", domain.KeyIDFor(key.Public().(ed25519.PublicKey))).Msg("created the seal signing key; auditors should keep a copy of its public key (GET /v1/audit/public-key)")
	}
	return key, nil
}

// newAPI builds the HTTP API over the ledger, and the retention sweeper
// where payloads are encrypted (nil otherwise: nothing to erase).
func newAPI(cfg config.Config, store domain.EventStore, l *Ledger, sealKey ed25519.PrivateKey, m *metrics.Metrics, log zerolog.Logger,
	takeBackup func(context.Context, io.Writer) (backup.Manifest, error)) (*httpapi.Server, *erasure.Sweeper) {
	deps := httpapi.Deps{
		Store: store, Commands: l.Commands, Views: l.Pipeline, Log: log,
		MaxPayload: cfg.MaxPayloadBytes, AllowPrivateTargets: cfg.AllowPrivateTargets, SealPublicKey: sealKey.Public().(ed25519.PublicKey), SealKey: sealKey,
		ReadyMaxLag: cfg.ReadyMaxLag, Console: console.Handler(), MaxIngestLag: uint64(cfg.MaxIngestLag),
		Backup: takeBackup,
	}
	var sweeper *erasure.Sweeper
	if l.Keys != nil {
		eraser := &erasure.Eraser{Store: store, Commands: l.Commands, Keys: l.Keys, Open: erasure.OpenFromViews(l.Pipeline.Read),
			Log: log.With().Str("component", "erasure").Logger()}
		deps.Cipher, deps.Eraser = l.Keys, eraser
		sweeper = &erasure.Sweeper{Eraser: eraser, Policies: retentionPolicies(l.Pipeline), Clock: clock.Real{}, Interval: cfg.RetentionInterval}
	}
	if m != nil {
		deps.Observer, deps.Metrics = m, m.Handler()
	}
	return httpapi.New(deps), sweeper
}

// startSealer runs the sealer, under the sealing lease in a cluster. The
// stop it returns ends it and waits; calling it again does nothing.
func startSealer(node *cluster.Keeper, sealer *audit.Sealer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if node != nil {
			underSealerLease(ctx, node, sealer.Log, "sealing", sealer.Run)
		} else {
			sealer.Run(ctx)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// serveMetrics serves /metrics, without auth, on its own listener; the
// function it returns closes that server.
func serveMetrics(ln net.Listener, m *metrics.Metrics, log zerolog.Logger) (closeServer func()) {
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info().Str("url", "http://"+ln.Addr().String()+"/metrics").Msg("metrics served without auth")
	return func() { srv.Close() }
}

// startSweeper runs the retention sweeper (when there is one) once the views
// caught up, since the policies are in them; in a cluster, on the node that
// holds the sealer's lease (one sweep for the cluster, not one per node);
// done closes when it ends.
func startSweeper(ctx context.Context, sweeper *erasure.Sweeper, p *pipeline.Runner, node *cluster.Keeper) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		if sweeper == nil {
			return
		}
		for !p.Ready() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		if node != nil {
			underSealerLease(ctx, node, sweeper.Eraser.Log, "the retention sweeps", sweeper.Run)
			return
		}
		sweeper.Run(ctx)
	}()
	return done
}

// untilStop waits for ctx to end, the pipeline to fail or the HTTP server to
// fail, and says which failed (nil: ctx ended). The pipeline's error is put
// back for the shutdown, which waits for it.
func untilStop(ctx context.Context, pipeErr chan error, httpErr <-chan error) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-pipeErr:
		pipeErr <- err
		return err
	case err := <-httpErr:
		return fmt.Errorf("http server: %w", err)
	}
}

// isEmpty reports whether the ledger holds no event yet (false when the
// store does not say so within a second: a remote store may be down).
func isEmpty(ctx context.Context, store domain.EventStore) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	head, err := store.Head(ctx)
	return err == nil && head == 0
}

// announce says where the ledger serves and, on an empty ledger, how to
// begin.
func announce(log zerolog.Logger, ln net.Listener, cfg config.Config, empty bool) {
	url := "http://" + ln.Addr().String()
	log.Info().Str("url", url).Str("data_dir", cfg.DataDir).Msg("hookledger is serving; stop with Ctrl-C")
	if !empty {
		return
	}
	log.Info().Msg("first steps: POST " + url + "/v1/applications {\"name\":\"Shop\"}, then POST " + url +
		"/v1/applications/<app>/subscriptions {\"url\":...,\"event_types\":[\"order.*\"]} with Authorization: Bearer $HOOKLEDGER_ADMIN_KEY (README: \"Try it\")")
}

// bootstrapAdminKey issues the admin key given in the environment on a ledger
// that has no keys yet.
func bootstrapAdminKey(ctx context.Context, cfg config.Config, l *Ledger, log zerolog.Logger) {
	for !l.Pipeline.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	hash := domain.HashAPIKey(cfg.AdminKey)
	var keys int
	var known bool
	l.Pipeline.Read(func(v *projections.Views) {
		keys = len(v.Keys)
		known = cfg.AdminKey != "" && v.KeyByHash(hash) != nil
	})
	switch {
	case keys == 0 && cfg.AdminKey == "":
		log.Warn().Msg("this ledger has no API keys: set HOOKLEDGER_ADMIN_KEY (24+ characters) and restart to create the first admin key")
	case keys == 0:
		_, out, err := l.Commands.CreateAPIKey(ctx, domain.CreateAPIKey{KeyID: domain.KeyIDForHash(hash), Role: domain.RoleAdmin, Hash: hash, Name: "bootstrap (HOOKLEDGER_ADMIN_KEY)"},
			domain.Metadata{Actor: "bootstrap"})
		if err != nil && !errors.Is(err, domain.ErrAlreadyExists) {
			log.Error().Err(err).Msg("could not create the bootstrap admin key")
			return
		}
		l.Pipeline.WaitFor(ctx, out.Result.Position)
		log.Info().Str("key_id", domain.KeyIDForHash(hash)).Msg("admin key from HOOKLEDGER_ADMIN_KEY created")
	case cfg.AdminKey != "" && !known:
		log.Warn().Msg("HOOKLEDGER_ADMIN_KEY is ignored: this ledger already has keys (create more with POST /v1/keys)")
	}
}

// listen binds addr, explaining a busy port.
func listen(flagName, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		msg := fmt.Sprintf("%s %s: the port is taken (another hookledger?): choose another", flagName, addr)
		if free := freeAddrNear(addr); free != "" {
			msg += fmt.Sprintf(", e.g. %s %s (make run ARGS=\"%s %s\")", flagName, free, flagName, free)
		}
		return nil, errors.New(msg)
	}
	return nil, fmt.Errorf("%s %s: %w", flagName, addr, err)
}

// freeAddrNear is an address on addr's host whose port was free a moment
// ago, the next few ports first, for the suggestion of a taken port's
// error ("" if none was found).
func freeAddrNear(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return ""
	}
	for i := 1; i <= 20 && p+i <= 65535; i++ {
		if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p+i))); err == nil {
			free := ln.Addr().String()
			ln.Close()
			return free
		}
	}
	return ""
}

// watch registers the gauges read at each scrape.
func watch(m *metrics.Metrics, store domain.EventStore, p *pipeline.Runner, sealer *audit.Sealer, viewsDir string, node *cluster.Keeper) {
	var nodeState func() metrics.Node
	lastSeal := sealer.Sealed
	if node != nil {
		nodeState = func() metrics.Node {
			return metrics.Node{Total: node.Partitions(), Partitions: len(node.Owned()), Members: len(node.Members()), Sealer: node.Sealer() != nil}
		}
		// Only the node sealing now tells the seal's age: a former sealer's
		// last seal only grows older, and would raise a false alert.
		lastSeal = func() (domain.Position, time.Time, bool) {
			if node.Sealer() == nil {
				return 0, time.Time{}, false
			}
			return sealer.Sealed()
		}
	}
	m.Watch(metrics.State{
		Node: nodeState,
		Head: store.Head,
		Fold: func() metrics.Fold {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, folded, behind, _ := p.Lag(ctx)
			return metrics.Fold{Position: folded, Behind: behind}
		},
		Backlog: func() metrics.Backlog {
			b := p.Backlog()
			return metrics.Backlog{Pending: b.Pending, Parked: b.Parked, InFlight: b.InFlight, OldestPending: b.OldestPending, OldestParked: b.OldestParked}
		},
		Disabled:  p.DisabledByReason,
		ViewBytes: func() int64 { return DirBytes(viewsDir) },
		LastSeal:  lastSeal,
		Starts: func() (int64, int64) {
			st := p.Stats()
			return st.Attempts.Load(), st.StartedWithSchedule.Load()
		},
	})
}

// retentionPolicies reads the applications' payload retention from the views.
func retentionPolicies(p *pipeline.Runner) func() []erasure.Retention {
	return func() []erasure.Retention {
		var out []erasure.Retention
		p.Read(func(v *projections.Views) {
			for id, a := range v.Applications {
				if a.PayloadRetentionDays > 0 {
					out = append(out, erasure.Retention{ApplicationID: id, Days: a.PayloadRetentionDays})
				}
			}
		})
		return out
	}
}
