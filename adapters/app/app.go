// Package app is hookledger's composition root: it builds the store, the
// pipeline and the HTTP API from a validated configuration, runs them until
// the context ends, and shuts them down in order.
package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/metrics"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// OpenStore opens the store the configuration names. onCommit (may be nil)
// is told of the embedded store's group commits.
func OpenStore(cfg config.Config, log zerolog.Logger, onCommit func(int, time.Duration)) (domain.EventStore, error) {
	if cfg.StoreURL != "" {
		s, err := eventstoredb.Open(eventstoredb.Options{URL: cfg.StoreURL, Prefix: cfg.StorePrefix, MaxAppendSize: cfg.ESDBMaxAppendSize, Log: log})
		if err != nil {
			return nil, fmt.Errorf("--store-url %s: %w", cfg.RedactedStoreURL(), err)
		}
		// Bounded: a server that is down is not an access problem, and the
		// API must come up to answer 503 while it is.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := s.CheckAccess(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("--store-url %s: %w", cfg.RedactedStoreURL(), err)
		}
		log.Info().Str("component", "serve").Str("store", cfg.RedactedStoreURL()).Str("prefix", cfg.StorePrefix).Msg("using EventStoreDB")
		return s, nil
	}
	return pebblestore.Open(cfg.DataDir, pebblestore.Options{Logger: log.With().Str("component", "store").Logger(), OnCommit: onCommit})
}

// Ledger is a running hookledger: store, commands and pipeline.
type Ledger struct {
	Store    domain.EventStore
	Commands *domain.Commands
	Pipeline *pipeline.Runner
	Sender   *sender.Sender
}

// Build wires a ledger on store from cfg. observer (may be nil) is told what
// the delivery process does.
func Build(cfg config.Config, store domain.EventStore, log zerolog.Logger, observer pipeline.Observer) (*Ledger, error) {
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	snd := sender.New(sender.Options{
		Timeout: cfg.RequestTimeout, ConnectTimeout: cfg.ConnectTimeout, MaxResponseBytes: cfg.MaxResponseBytes,
		AllowPrivate: cfg.AllowPrivateTargets,
	})
	r, err := pipeline.New(pipeline.Options{
		Store: store, Commands: cmds, Sender: snd, Log: log,
		Workers: cfg.Workers, PerSubscription: cfg.PerSubscription, FailureWindow: cfg.FailureWindow,
		SnapshotPath: cfg.SnapshotPath(), Observer: observer,
	})
	if err != nil {
		return nil, err
	}
	return &Ledger{Store: store, Commands: cmds, Pipeline: r, Sender: snd}, nil
}

// Serve runs the ledger and its HTTP API until ctx ends, then shuts down in
// order: stop accepting requests and finish those in flight, then stop the
// pipeline (in-flight attempts finish or are recorded), then close the store.
func Serve(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	slog := log.With().Str("component", "serve").Logger()
	// The listener first: a busy port must fail before anything is created
	// on disk (data directory, seal key), and say how to choose another.
	ln, err := listen("--listen", cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	var mln net.Listener
	if cfg.MetricsListen != "" {
		if mln, err = listen("--metrics-listen", cfg.MetricsListen); err != nil {
			return err
		}
		defer mln.Close()
	}
	var m *metrics.Metrics
	var onCommit func(int, time.Duration)
	var observer pipeline.Observer
	if !cfg.NoMetrics {
		m = metrics.New()
		onCommit, observer = m.Committed, m
	}
	raw, err := OpenStore(cfg, log, onCommit)
	if err != nil {
		return err
	}
	defer raw.Close()
	store := raw
	if m != nil {
		store = m.InstrumentStore(raw)
	}
	l, err := Build(cfg, store, log, observer)
	if err != nil {
		return err
	}
	defer l.Sender.Close()
	if !cfg.AllowPrivateTargets {
		slog.Info().Msg("webhooks to loopback, private and link-local addresses are refused (--allow-private-targets to allow)")
	}
	sealKey, created, err := audit.LoadOrCreateKey(cfg.SealKeyPath())
	if err != nil {
		return fmt.Errorf("seal signing key: %w", err)
	}
	sealPub := sealKey.Public().(ed25519.PublicKey)
	if created {
		slog.Info().Str("path", cfg.SealKeyPath()).Str("key_id", domain.KeyIDFor(sealPub)).Msg("created the seal signing key; auditors should keep a copy of its public key (GET /v1/audit/public-key)")
	}
	deps := httpapi.Deps{
		Store: store, Commands: l.Commands, Views: l.Pipeline, Log: log,
		MaxPayload: cfg.MaxPayloadBytes, AllowPrivateTargets: cfg.AllowPrivateTargets, SealPublicKey: sealPub, SealKey: sealKey,
		ReadyMaxLag: cfg.ReadyMaxLag,
	}
	sealer := &audit.Sealer{Store: store, Key: sealKey, Every: cfg.SealEvery, Interval: cfg.SealInterval,
		NewEventID: ids.NewEventID, Log: log.With().Str("component", "sealer").Logger()}
	if m != nil {
		deps.Observer, deps.Metrics = m, m.Handler()
		watch(m, store, l.Pipeline, sealer, cfg.SnapshotPath())
	}
	api := httpapi.New(deps)
	sealCtx, stopSealer := context.WithCancel(context.Background())
	defer stopSealer()
	sealDone := make(chan error, 1)
	go func() { sealDone <- sealer.Run(sealCtx) }()
	if mln != nil {
		msrv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln)
		defer msrv.Close()
		slog.Info().Str("url", "http://"+mln.Addr().String()+"/metrics").Msg("metrics served without auth")
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}

	pipeCtx, stopPipe := context.WithCancel(context.Background())
	defer stopPipe()
	pipeErr := make(chan error, 1)
	go func() { pipeErr <- l.Pipeline.Run(pipeCtx) }()
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	go bootstrapAdminKey(ctx, cfg, l, slog)
	url := "http://" + ln.Addr().String()
	slog.Info().Str("url", url).Str("data_dir", cfg.DataDir).Msg("hookledger is serving; stop with Ctrl-C")
	slog.Info().Msg("first steps: POST " + url + "/v1/applications {\"name\":\"Shop\"}, then POST " + url +
		"/v1/applications/<app>/subscriptions {\"url\":...,\"event_types\":[\"order.*\"]} with Authorization: Bearer $HOOKLEDGER_ADMIN_KEY (README: \"Try it\")")

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-pipeErr:
		runErr = err
		pipeErr <- err
	case err := <-httpErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	slog.Info().Msg("shutting down: no new requests")
	shCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv.Shutdown(shCtx)
	stopPipe()
	if err := <-pipeErr; err != nil && runErr == nil {
		runErr = err
	}
	stopSealer() // after the pipeline: its last events get sealed too
	<-sealDone
	slog.Info().Msg("hookledger stopped")
	return runErr
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

// Rebuild replays the ledger in dataDir from position 0 into fresh views and
// writes them as the pipeline's snapshot. The server must be stopped (the
// embedded store allows one process). When a snapshot exists, the rebuild is
// first compared with it at the snapshot's checkpoint.
//
// progress (may be nil) is told, per phase ("compare", "rebuild"), the
// position reached and the position the phase ends at.
func Rebuild(ctx context.Context, cfg config.Config, log zerolog.Logger, progress func(phase string, pos, end domain.Position)) (RebuildReport, error) {
	store, err := OpenStore(cfg, log, nil)
	if err != nil {
		return RebuildReport{}, err
	}
	defer store.Close()
	tell := func(phase string, end domain.Position) func(domain.Position) {
		if progress == nil {
			return nil
		}
		return func(pos domain.Position) { progress(phase, pos, end) }
	}
	var rep RebuildReport
	path := cfg.SnapshotPath()
	old, err := pipeline.ReadSnapshotViews(path)
	if err != nil {
		log.Warn().Err(err).Msg("existing snapshot unreadable; not compared")
	}
	if old != nil && old.Checkpoint > 0 {
		res, err := pipeline.Rebuild(ctx, store, old.Checkpoint, tell("compare", old.Checkpoint))
		if err != nil {
			return rep, err
		}
		a, _ := res.Views.Snapshot()
		b, _ := old.Snapshot()
		rep.Compared, rep.Identical, rep.ComparedAt = true, string(a) == string(b), old.Checkpoint
	}
	head, err := store.Head(ctx)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	res, err := pipeline.Rebuild(ctx, store, head, tell("rebuild", head))
	if err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	rep.Events = res.Views.Events
	rep.Checkpoint = res.Views.Checkpoint
	rep.Deliveries = len(res.Views.Deliveries)
	rep.Pending = len(res.Views.Pending())
	rep.Unscheduled = len(res.Unscheduled)
	if err := res.WriteSnapshot(path); err != nil {
		return rep, fmt.Errorf("write snapshot: %w", err)
	}
	return rep, nil
}

// RebuildReport says what a rebuild did.
type RebuildReport struct {
	Events      uint64
	Checkpoint  domain.Position
	Deliveries  int
	Pending     int
	Unscheduled int
	Elapsed     time.Duration
	Compared    bool
	Identical   bool
	ComparedAt  domain.Position
}

// listen binds addr, explaining a busy port.
func listen(flagName, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s %s: the port is taken (another hookledger?): choose another, e.g. %s 127.0.0.1:18080 (make run ARGS=\"%s 127.0.0.1:18080\")", flagName, addr, flagName, flagName)
	}
	return nil, fmt.Errorf("%s %s: %w", flagName, addr, err)
}

// watch registers the gauges read at each scrape.
func watch(m *metrics.Metrics, store domain.EventStore, p *pipeline.Runner, sealer *audit.Sealer, snapshotPath string) {
	m.Watch(metrics.State{
		Head: store.Head,
		Fold: func() metrics.Fold {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, folded, behind, _ := p.Lag(ctx)
			return metrics.Fold{Position: folded, Behind: behind}
		},
		Backlog: func() metrics.Backlog {
			b := p.Backlog()
			return metrics.Backlog{Pending: b.Pending, Parked: b.Parked, InFlight: b.InFlight, OldestScheduled: b.OldestScheduled}
		},
		Disabled: p.DisabledByReason,
		ViewBytes: func() int64 {
			fi, err := os.Stat(snapshotPath)
			if err != nil {
				return 0
			}
			return fi.Size()
		},
		LastSeal: sealer.Sealed,
	})
}
