package app

import (
	"context"
	"io"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/backup"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// backupOf answers how to take a backup of the ledger while it serves: the
// embedded store and its key store, checkpointed in the data directory. Nil
// for a ledger on EventStoreDB, which has backups of its own. Checkpoints a
// crash left behind are removed first.
func backupOf(cfg config.Config, raw domain.EventStore, l *Ledger, log zerolog.Logger) func(context.Context, io.Writer) (backup.Manifest, error) {
	ledger, ok := raw.(*pebblestore.Store)
	if !ok {
		return nil
	}
	if err := backup.RemoveLeftovers(cfg.DataDir); err != nil {
		log.Warn().Err(err).Msg("could not remove the checkpoints an interrupted backup left in the data directory")
	}
	src := backup.Source{Ledger: ledger.Checkpoint, TempDir: cfg.DataDir}
	if l.Keys != nil {
		src.Keys = l.Keys.Checkpoint
	}
	return func(ctx context.Context, w io.Writer) (backup.Manifest, error) { return backup.Write(ctx, src, w) }
}
