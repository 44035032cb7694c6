package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/domain"
)

// OpenKeys opens the key store of payload encryption, or answers nil when
// encryption is off and no key store exists (a ledger that never encrypted).
//
// The local key store's master key comes from --master-key
// (HOOKLEDGER_MASTER_KEY) or --master-key-file; without either, from
// <data-dir>/master.key, which is created only for a new key store: a key
// store whose master key is missing is refused, never given a new one. The
// ledger key store (--key-store ledger, shared by a cluster's nodes) takes
// the master key given, never one made on the spot.
func OpenKeys(cfg config.Config, store domain.EventStore, log zerolog.Logger) (*keystore.Store, error) {
	if cfg.KeyStore == config.KeyStoreLedger {
		return openLedgerKeys(cfg, store, log)
	}
	dir := cfg.KeysDir()
	_, statErr := os.Stat(dir)
	exists := statErr == nil
	if cfg.NoPayloadEncryption && !exists {
		return nil, nil
	}
	master, err := masterKey(cfg, exists, log)
	if err != nil {
		return nil, err
	}
	return keystore.Open(dir, master, keystore.Options{})
}

// keyBackender is a store that holds a key store beside its ledger
// (eventstoredb.Store).
type keyBackender interface {
	KeyBackend() (keystore.Backend, error)
}

// ledgerKeyBackend finds the key backend of store, under its wrappers.
func ledgerKeyBackend(store domain.EventStore) (keystore.Backend, error) {
	for {
		if kb, ok := store.(keyBackender); ok {
			return kb.KeyBackend()
		}
		u, ok := store.(interface{ Unwrap() domain.EventStore })
		if !ok {
			return nil, errors.New("--key-store ledger: this ledger holds no key store (the ledger key store is EventStoreDB's)")
		}
		store = u.Unwrap()
	}
}

// openLedgerKeys opens the key store in the ledger's streams. Its master
// key is checked against the one the key store records before serving; a
// server that does not answer within probeTimeout leaves the check to the
// first use (a node starts while EventStoreDB is down, as it does without
// its store).
func openLedgerKeys(cfg config.Config, store domain.EventStore, log zerolog.Logger) (*keystore.Store, error) {
	b, err := ledgerKeyBackend(store)
	if err != nil {
		return nil, err
	}
	if cfg.MasterKey == "" && cfg.MasterKeyFile == "" {
		// Only with --no-payload-encryption (Validate): a key store with
		// keys cannot be read without its master key.
		var id string
		err := probe(context.Background(), func(ctx context.Context) (err error) { id, err = b.Master(ctx); return err })
		if err == nil && id != "" {
			return nil, fmt.Errorf("%w: the ledger's key store is wrapped by master key %s, and no master key is given (HOOKLEDGER_MASTER_KEY or --master-key-file): "+
				"without it the encrypted payloads cannot be read", keystore.ErrWrongMasterKey, id)
		}
		if err != nil {
			log.Warn().Err(err).Msg("could not check whether the ledger's key store holds keys; payloads encrypted before are unreadable without the master key")
		}
		return nil, nil
	}
	master, err := masterKey(cfg, true, log)
	if err != nil {
		return nil, err
	}
	var ks *keystore.Store
	err = probe(context.Background(), func(ctx context.Context) (err error) {
		ks, err = keystore.New(ctx, b, master, keystore.Options{})
		return err
	})
	if errors.Is(err, domain.ErrUnavailable) {
		log.Warn().Err(err).Msg("the ledger's key store did not answer: its master key is checked at its first use")
		return keystore.New(context.Background(), b, master, keystore.Options{CheckLater: true})
	}
	return ks, err
}

// MasterKey resolves the master key as OpenKeys does (creating the
// development one only for a key store that does not exist yet).
func MasterKey(cfg config.Config, log zerolog.Logger) ([]byte, error) {
	_, err := os.Stat(cfg.KeysDir())
	return masterKey(cfg, err == nil, log)
}

func masterKey(cfg config.Config, storeExists bool, log zerolog.Logger) ([]byte, error) {
	if cfg.MasterKey != "" {
		k, err := keystore.ParseMasterKey(cfg.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("HOOKLEDGER_MASTER_KEY / --master-key: %w", err)
		}
		return k, nil
	}
	path := cfg.MasterKeyPath()
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := keystore.ParseMasterKey(string(raw))
		if err != nil {
			return nil, fmt.Errorf("master key file %s: %w", path, err)
		}
		return k, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("master key file: %w", err)
	case cfg.MasterKeyFile != "":
		return nil, fmt.Errorf("--master-key-file %s: no such file", path)
	}
	if storeExists {
		if id, err := keystore.MasterKeyIDOf(cfg.KeysDir()); err == nil && id != "" {
			return nil, fmt.Errorf("%w: the key store %s is wrapped by master key %s, and no master key is given (HOOKLEDGER_MASTER_KEY or --master-key-file) nor found at %s: "+
				"without it the encrypted payloads cannot be read (verify and export still work)", keystore.ErrWrongMasterKey, cfg.KeysDir(), id, path)
		}
	}
	// A new key store: a development master key beside the data.
	key := keystore.NewMasterKey()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("create the master key %s: %w", path, err)
	}
	k, _ := keystore.ParseMasterKey(strings.TrimSpace(key))
	log.Warn().Str("path", path).Str("master_key_id", keystore.MasterKeyID(k)).
		Msg("created a master key for payload encryption beside the data: in production give HOOKLEDGER_MASTER_KEY or --master-key-file, kept apart from the data directory and its backups")
	return k, nil
}
