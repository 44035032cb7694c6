package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/keystore"
)

// OpenKeys opens the key store of payload encryption, or answers nil when
// encryption is off and no key store exists (a ledger that never encrypted).
//
// The master key comes from --master-key (HOOKLEDGER_MASTER_KEY) or
// --master-key-file; without either, from <data-dir>/master.key, which is
// created only for a new key store: a key store whose master key is missing
// is refused, never given a new one.
func OpenKeys(cfg config.Config, log zerolog.Logger) (*keystore.Store, error) {
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
