// Package app is hookledger's composition root: it builds the store, the
// pipeline and the HTTP API from a validated configuration, runs them until
// the context ends, and shuts them down in order.
package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
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
	keys, err := OpenKeys(cfg, store, log.With().Str("component", "keystore").Logger())
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
	s, err := viewstore.Open(cfg.ViewsDir(), viewstore.Options{Logger: log.With().Str("component", "views").Logger()})
	if err != nil {
		// The views are a cache of the ledger: say how to replace them.
		return nil, fmt.Errorf("%w (the views are a cache of the ledger: `hookledger rebuild`, with the flags given here, replaces them)", err)
	}
	return s, nil
}
