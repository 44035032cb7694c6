package main

// Opening the ledger and its signing keys for the read-only tools (verify,
// export, inspect, history): the embedded store or EventStoreDB.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// storeFlags are the read-only tools' store settings: the embedded store of
// --data-dir, or EventStoreDB when --store-url is given.
type storeFlags struct{ url, prefix *string }

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		url:    fs.String("store-url", envOr("HOOKLEDGER_STORE_URL", ""), "read an EventStoreDB/KurrentDB ledger (esdb://...) instead of the data directory's store"),
		prefix: fs.String("store-prefix", envOr("HOOKLEDGER_STORE_PREFIX", eventstoredb.DefaultPrefix), "EventStoreDB: the ledger's stream prefix"),
	}
}

// openStoreForCLI opens the ledger a read-only tool reads. The embedded store
// is opened read-only: verifying or exporting a backup must not change it
// (Pebble would otherwise replay its WAL into new files). Pebble's errors go
// to stderr, never to a silent exit.
func openStoreForCLI(dataDir string, sf storeFlags) (domain.EventStore, error) {
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(zerolog.ErrorLevel).With().Timestamp().Logger()
	if *sf.url != "" {
		return eventstoredb.Open(eventstoredb.Options{URL: *sf.url, Prefix: *sf.prefix, Log: log})
	}
	if _, err := os.Stat(dataDir); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	s, err := pebblestore.Open(dataDir, pebblestore.Options{Logger: log, ReadOnly: true})
	if err != nil {
		if errors.Is(err, pebblestore.ErrInUse) {
			return nil, fmt.Errorf("%w; read through the server instead: timeline, history and export take --url and --key; verify is served at /v1/audit/verify", err)
		}
		return nil, err
	}
	return s, nil
}

// ledgerProblem turns a store error that means "the ledger is damaged" into
// the verification problem an auditor reads; nil for other errors.
func ledgerProblem(err error) *audit.Problem {
	var te *domain.TruncatedError
	var ce *domain.CorruptError
	switch {
	case errors.As(err, &te):
		return &audit.Problem{Kind: audit.KindTruncated, Position: te.Head, Detail: te.Error()}
	case errors.As(err, &ce):
		return &audit.Problem{Kind: audit.KindUnreadable, Position: ce.Position, Detail: ce.Error()}
	}
	return nil
}

// openSealedLedger returns the seal public key (pinned when given by flag)
// and the ledger's store, for verify and export.
func openSealedLedger(pubFlag, dataDir string, sf storeFlags) (ed25519.PublicKey, bool, domain.EventStore, error) {
	// The ledger first: where there is none, that is what to say, not
	// that its key is missing.
	store, err := openStoreForCLI(dataDir, sf)
	if err != nil {
		return nil, false, nil, err
	}
	pub, pinned, err := loadPublicKey(pubFlag, dataDir)
	if err != nil {
		store.Close()
		return nil, false, nil, err
	}
	return pub, pinned, store, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// loadPrivateKey reads the seal signing key, which signs an export's footer.
func loadPrivateKey(path, dataDir string) (ed25519.PrivateKey, error) {
	if path == "" {
		path = audit.KeyPath(dataDir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the seal signing key signs exports; none at %s (--seal-key-file): %w", path, err)
	}
	return audit.ParsePrivateKey(string(b))
}

// loadPublicKey reads --public-key (base64, or @file) or, when empty, the
// public half of the data directory's seal key (not pinned: say so).
func loadPublicKey(flagValue, dataDir string) (ed25519.PublicKey, bool, error) {
	if flagValue != "" {
		v := flagValue
		if strings.HasPrefix(v, "@") {
			b, err := os.ReadFile(v[1:])
			if err != nil {
				return nil, false, err
			}
			v = string(b)
		}
		k, err := audit.ParsePublicKey(v)
		return k, true, err
	}
	b, err := os.ReadFile(audit.KeyPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		// A copied or restored ledger: its seal key stayed behind.
		return nil, false, fmt.Errorf("no --public-key given and no seal key at %s: pass the public key of the key that sealed the ledger "+
			"(--public-key with its base64, or @FILE holding it or the answer of GET /v1/audit/public-key)", audit.KeyPath(dataDir))
	}
	if err != nil {
		return nil, false, fmt.Errorf("no --public-key given and the seal key at %s is unreadable: %w", audit.KeyPath(dataDir), err)
	}
	priv, err := audit.ParsePrivateKey(string(b))
	if err != nil {
		return nil, false, err
	}
	return priv.Public().(ed25519.PublicKey), false, nil
}

// openTombstones opens what tells which payloads were erased, without the
// master key: the key store in the ledger (EventStoreDB, --key-store
// ledger) when it has one, else the data directory's keys/; nil when there
// is neither (a ledger that never encrypted).
func openTombstones(ctx context.Context, dataDir string, store domain.EventStore) (*keystore.Tombstones, error) {
	if es, ok := store.(*eventstoredb.Store); ok {
		b, err := es.KeyBackend()
		if err != nil {
			return nil, err
		}
		id, err := b.Master(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the ledger's key store: %w", err)
		}
		if id != "" {
			return keystore.TombstonesOf(b), nil
		}
	}
	dir := filepath.Join(dataDir, "keys")
	if _, err := os.Stat(dir); err != nil {
		return nil, nil
	}
	return keystore.OpenTombstones(dir)
}
