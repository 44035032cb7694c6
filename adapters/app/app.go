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
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/adapters/cluster"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/console"
	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/metrics"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/viewstore"
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

// openStoreToRead opens the ledger for a command that only reads it. The
// embedded store is opened read-only: nothing the command does can change a
// file of the ledger, and Pebble neither flushes the log it replays nor
// compacts, which would take the CPU the command needs (a rebuild ran ~5%
// faster on a ledger just written).
func openStoreToRead(cfg config.Config, log zerolog.Logger) (domain.EventStore, error) {
	if cfg.StoreURL != "" {
		return OpenStore(cfg, log, nil)
	}
	return pebblestore.Open(cfg.DataDir, pebblestore.Options{Logger: log.With().Str("component", "store").Logger(), ReadOnly: true})
}

// Ledger is a running hookledger: store, commands, view store and pipeline.
type Ledger struct {
	Store    domain.EventStore
	Commands *domain.Commands
	Views    *viewstore.Store
	Pipeline *pipeline.Runner
	Sender   *sender.Sender
	// Keys holds the data keys of payload encryption (nil: a ledger that
	// never encrypted, with encryption off).
	Keys *keystore.Store
}

// Close releases what Build opened (after the pipeline stopped).
func (l *Ledger) Close() error {
	l.Sender.Close()
	if l.Keys != nil {
		l.Keys.Close()
	}
	return l.Views.Close()
}

// Build wires a ledger on store from cfg. observer (may be nil) is told what
// the delivery process does.
func Build(cfg config.Config, store domain.EventStore, log zerolog.Logger, observer pipeline.Observer) (*Ledger, error) {
	return BuildNode(cfg, store, log, observer, nil, "")
}

// BuildNode is Build for one node of a cluster: own tells which partitions'
// delivery work is this node's, and worker names its attempts' actor.
func BuildNode(cfg config.Config, store domain.EventStore, log zerolog.Logger, observer pipeline.Observer, own pipeline.Ownership, worker string) (*Ledger, error) {
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	keys, err := OpenKeys(cfg, log.With().Str("component", "keystore").Logger())
	if err != nil {
		return nil, err
	}
	var cipher domain.PayloadCipher
	if keys != nil {
		cipher = keys
		if !cfg.NoPayloadEncryption {
			cmds.Cipher, cmds.ErasureScope = keys, domain.ErasureScope(cfg.ErasureScope)
		}
	}
	views, err := OpenViews(cfg, log)
	if err != nil {
		if keys != nil {
			keys.Close()
		}
		return nil, err
	}
	snd := sender.New(sender.Options{
		Timeout: cfg.RequestTimeout, ConnectTimeout: cfg.ConnectTimeout, MaxResponseBytes: cfg.MaxResponseBytes,
		AllowPrivate: cfg.AllowPrivateTargets,
	})
	r, err := pipeline.New(pipeline.Options{
		Store: store, Commands: cmds, Sender: snd, Log: log,
		Workers: cfg.Workers, PerSubscription: cfg.PerSubscription, FailureWindow: cfg.FailureWindow,
		ViewStore: views, Observer: observer, Cipher: cipher, Ownership: own, WorkerName: worker,
	})
	if err != nil {
		views.Close()
		snd.Close()
		if keys != nil {
			keys.Close()
		}
		return nil, err
	}
	return &Ledger{Store: store, Commands: cmds, Views: views, Pipeline: r, Sender: snd, Keys: keys}, nil
}

// OpenViews opens the ledger's view store, removing the whole-views JSON
// snapshot that builds before the view store kept (the views are folded
// again from the ledger).
func OpenViews(cfg config.Config, log zerolog.Logger) (*viewstore.Store, error) {
	for _, old := range []string{"snapshot.json"} {
		p := filepath.Join(cfg.DataDir, "views", old)
		if err := os.Remove(p); err == nil {
			log.Info().Str("path", p).Msg("removed the views snapshot of an earlier version: the view store replaces it")
		}
	}
	return viewstore.Open(cfg.ViewsDir(), viewstore.Options{Logger: log.With().Str("component", "views").Logger()})
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
	node, err := startNode(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	var own pipeline.Ownership
	worker := ""
	if node != nil {
		own, worker = node, "delivery-worker@"+node.NodeID()
	}
	l, err := BuildNode(cfg, store, log, observer, own, worker)
	if err != nil {
		return err
	}
	defer l.Close()
	stopNode := func() {}
	if node != nil {
		stopNode = runNode(node, l.Pipeline)
	}
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
		ReadyMaxLag: cfg.ReadyMaxLag, Console: console.Handler(), MaxIngestLag: uint64(cfg.MaxIngestLag),
	}
	sealer := &audit.Sealer{Store: store, Key: sealKey, Every: cfg.SealEvery, Interval: cfg.SealInterval,
		NewEventID: ids.NewEventID, Log: log.With().Str("component", "sealer").Logger(), OnFailure: l.Pipeline.AnnounceSealFailure}
	var sweeper *erasure.Sweeper
	if l.Keys != nil {
		eraser := &erasure.Eraser{Store: store, Commands: l.Commands, Keys: l.Keys, Open: erasure.OpenFromViews(l.Pipeline.Read),
			Log: log.With().Str("component", "erasure").Logger()}
		deps.Cipher, deps.Eraser = l.Keys, eraser
		sweeper = &erasure.Sweeper{Eraser: eraser, Policies: retentionPolicies(l.Pipeline), Clock: clock.Real{}, Interval: cfg.RetentionInterval}
	}
	if m != nil {
		deps.Observer, deps.Metrics = m, m.Handler()
		watch(m, store, l.Pipeline, sealer, cfg.ViewsDir(), node)
	}
	api := httpapi.New(deps)
	sealCtx, stopSealer := context.WithCancel(context.Background())
	defer stopSealer()
	sealDone := make(chan error, 1)
	if node != nil {
		go func() { sealDone <- sealUnderLease(sealCtx, node, sealer) }()
	} else {
		go func() { sealDone <- sealer.Run(sealCtx) }()
	}
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
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		if sweeper == nil {
			return
		}
		for !l.Pipeline.Ready() { // the policies are in the views
			select {
			case <-pipeCtx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		sweeper.Run(pipeCtx)
	}()
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
	<-sweepDone
	if err := <-pipeErr; err != nil && runErr == nil {
		runErr = err
	}
	stopSealer() // after the pipeline: its last events get sealed too
	<-sealDone
	stopNode() // last: the leases are handed over once nothing acts under them
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

// Rebuild replays the ledger from position 0 into a fresh view store,
// compares it with the live one (brought to the same position) by digest,
// and swaps it in. It writes nothing to the ledger (opened read-only). The server must be stopped (the embedded store allows one
// process; the view store is one process's).
//
// progress (may be nil) is told, per phase ("rebuild", "compare"), the
// position reached and the position the phase ends at.
func Rebuild(ctx context.Context, cfg config.Config, log zerolog.Logger, progress func(phase string, pos, end domain.Position)) (RebuildReport, error) {
	store, err := openStoreToRead(cfg, log)
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
	head, err := store.Head(ctx)
	if err != nil {
		return rep, err
	}
	live := cfg.ViewsDir()
	fresh := live + ".rebuild"
	if err := os.RemoveAll(fresh); err != nil {
		return rep, err
	}
	vopts := viewstore.Options{Logger: log.With().Str("component", "views").Logger()}
	bulk := vopts
	bulk.Bulk = true // fresh, and discarded if the rebuild stops before its end
	next, err := viewstore.Open(fresh, bulk)
	if err != nil {
		return rep, err
	}
	defer func() {
		if next != nil {
			next.Close()
			os.RemoveAll(fresh)
		}
	}()
	start := time.Now()
	res, err := pipeline.RebuildInto(ctx, store, next, head, tell("rebuild", head))
	if err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	rep.Events = res.Views.Events
	rep.Checkpoint = res.Views.Checkpoint
	rep.Deliveries = res.Deliveries
	res.Views.Records().OpenDeliveries(func(*projections.DeliveryView) bool { rep.Pending++; return true })
	rep.Unscheduled = len(res.Unscheduled)
	rep.ViewBytes = DirBytes(fresh)

	if _, err := os.Stat(live); err == nil {
		old, err := viewstore.Open(live, vopts)
		if err != nil {
			log.Warn().Err(err).Msg("the live view store is unreadable; not compared")
		} else {
			if progress != nil {
				progress("compare", 0, head)
			}
			if ov, err := pipeline.CatchUp(ctx, store, old, head); err != nil {
				log.Warn().Err(err).Msg("the live view store could not be brought to the head; not compared")
			} else if ov.Checkpoint > 0 {
				rep.Compared, rep.ComparedAt = true, head
				if rep.Difference, err = viewstore.FirstDifference(old, next); err != nil {
					old.Close()
					return rep, err
				}
				rep.Identical = rep.Difference == ""
				rep.Digest, _ = next.Digest()
			}
			if progress != nil {
				progress("compare", head, head)
			}
			old.Close()
		}
	}
	if err := next.Close(); err != nil {
		return rep, err
	}
	next = nil
	// The swap: a crash between the renames leaves no live store, and the
	// next start folds the ledger from position 0 (slow, never wrong).
	retired := live + ".old"
	os.RemoveAll(retired)
	if err := os.Rename(live, retired); err != nil && !os.IsNotExist(err) {
		return rep, err
	}
	if err := os.Rename(fresh, live); err != nil {
		return rep, err
	}
	return rep, os.RemoveAll(retired)
}

// DirBytes is the size of the files under dir (the view store on disk).
func DirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
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
	Difference  string // the first differing key, when not identical
	Digest      string // of the rebuilt views
	ViewBytes   int64  // the rebuilt view store on disk
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
			return metrics.Backlog{Pending: b.Pending, Parked: b.Parked, InFlight: b.InFlight, OldestScheduled: b.OldestScheduled}
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
