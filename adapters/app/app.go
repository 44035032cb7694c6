// Package app is hookledger's composition root: it builds the store, the
// pipeline and the HTTP API from a validated configuration, runs them until
// the context ends, and shuts them down in order.
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
)

// OpenStore opens the store the configuration names.
func OpenStore(cfg config.Config, log zerolog.Logger) (domain.EventStore, error) {
	if cfg.StoreURL != "" {
		return nil, fmt.Errorf("--store-url %s: the EventStoreDB adapter is not built yet; use the embedded store (--data-dir)", cfg.RedactedStoreURL())
	}
	return pebblestore.Open(cfg.DataDir, pebblestore.Options{Logger: log.With().Str("component", "store").Logger()})
}

// Ledger is a running hookledger: store, commands and pipeline.
type Ledger struct {
	Store    domain.EventStore
	Commands *domain.Commands
	Pipeline *pipeline.Runner
	Sender   *sender.Sender
}

// Build wires a ledger on store from cfg.
func Build(cfg config.Config, store domain.EventStore, log zerolog.Logger) (*Ledger, error) {
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	snd := sender.New(sender.Options{
		Timeout: cfg.RequestTimeout, ConnectTimeout: cfg.ConnectTimeout, MaxResponseBytes: cfg.MaxResponseBytes,
		AllowPrivate: cfg.AllowPrivateTargets,
	})
	r, err := pipeline.New(pipeline.Options{
		Store: store, Commands: cmds, Sender: snd, Log: log,
		Workers: cfg.Workers, PerSubscription: cfg.PerSubscription, FailureWindow: cfg.FailureWindow,
		SnapshotPath: pipeline.SnapshotPath(cfg.DataDir),
	})
	if err != nil {
		return nil, err
	}
	return &Ledger{Store: store, Commands: cmds, Pipeline: r, Sender: snd}, nil
}

// Serve runs the ledger until ctx ends.
func Serve(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	store, err := OpenStore(cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	l, err := Build(cfg, store, log)
	if err != nil {
		return err
	}
	defer l.Sender.Close()
	if !cfg.AllowPrivateTargets {
		log.Info().Msg("webhooks to loopback, private and link-local addresses are refused (--allow-private-targets to allow)")
	}
	log.Info().Str("data_dir", cfg.DataDir).Msg("hookledger starting on the embedded store; stop with Ctrl-C")
	err = l.Pipeline.Run(ctx)
	log.Info().Msg("hookledger stopped")
	return err
}

// Rebuild replays the ledger in dataDir from position 0 into fresh views and
// writes them as the pipeline's snapshot. The server must be stopped (the
// embedded store allows one process). When a snapshot exists, the rebuild is
// first compared with it at the snapshot's checkpoint.
func Rebuild(ctx context.Context, cfg config.Config, log zerolog.Logger) (RebuildReport, error) {
	store, err := OpenStore(cfg, log)
	if err != nil {
		return RebuildReport{}, err
	}
	defer store.Close()
	var rep RebuildReport
	path := pipeline.SnapshotPath(cfg.DataDir)
	old, err := pipeline.ReadSnapshotViews(path)
	if err != nil {
		log.Warn().Err(err).Msg("existing snapshot unreadable; not compared")
	}
	if old != nil && old.Checkpoint > 0 {
		res, err := pipeline.Rebuild(ctx, store, old.Checkpoint, nil)
		if err != nil {
			return rep, err
		}
		a, _ := res.Views.Snapshot()
		b, _ := old.Snapshot()
		rep.Compared, rep.Identical, rep.ComparedAt = true, string(a) == string(b), old.Checkpoint
	}
	start := time.Now()
	res, err := pipeline.Rebuild(ctx, store, 0, nil)
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
