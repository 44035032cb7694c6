// Package app is hookledger's composition root: it builds the store, the
// projections, the pipeline and the HTTP API from a validated configuration,
// runs them until the context ends, and shuts them down in order.
package app

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// OpenStore opens the store the configuration names.
func OpenStore(cfg config.Config, log zerolog.Logger) (domain.EventStore, error) {
	if cfg.StoreURL != "" {
		return nil, fmt.Errorf("--store-url %s: the EventStoreDB adapter is not built yet; use the embedded store (--data-dir)", cfg.RedactedStoreURL())
	}
	return pebblestore.Open(cfg.DataDir, pebblestore.Options{Logger: log.With().Str("component", "store").Logger()})
}

// Serve runs the ledger until ctx ends.
func Serve(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	store, err := OpenStore(cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	log.Info().Str("data_dir", cfg.DataDir).Uint64("head", uint64(head)).Msg("hookledger is running on the embedded store; stop with Ctrl-C")
	<-ctx.Done()
	log.Info().Msg("shutting down")
	return nil
}
