package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/app"
	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// keysCmd is the operator's recovery path when no admin key works (lost, or
// revoked): it issues a new admin key straight into the ledger (the
// embedded one with its server stopped, or an EventStoreDB one, whose
// nodes fold it as any write), recorded like any other key with actor
// "local-operator", and prints the key once.
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "rotate-master" {
		return rotateMaster(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create-admin" {
		fmt.Fprintln(stderr, "usage: hookledger keys create-admin --data-dir DIR [--name NAME]   (server stopped)")
		fmt.Fprintln(stderr, "       hookledger keys create-admin --store-url URL [--store-prefix P] [--name NAME]   (nodes may run)")
		fmt.Fprintln(stderr, "       hookledger keys rotate-master --data-dir DIR --new-master-key-file FILE [--generate]   (server stopped)")
		fmt.Fprintln(stderr, "       hookledger keys rotate-master --store-url URL --master-key-file FILE --new-master-key-file FILE [--generate]   (every node stopped)")
		return 2
	}
	fs := flag.NewFlagSet("keys create-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "data directory of the ledger (the server must be stopped)")
	name := fs.String("name", "recovery (hookledger keys create-admin)", "a name for the key")
	storeURL := fs.String("store-url", "", "issue it into this EventStoreDB ledger instead (its servers may run: they fold it as any write)")
	storePrefix := fs.String("store-prefix", eventstoredb.DefaultPrefix, "EventStoreDB: the ledger's stream prefix")
	if code, ok := parseFlags(fs, args[1:], stderr); !ok {
		return code
	}
	var store domain.EventStore
	if *storeURL != "" {
		es, err := eventstoredb.Open(eventstoredb.Options{URL: *storeURL, Prefix: *storePrefix, Log: zerolog.New(stderr).Level(zerolog.ErrorLevel)})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer es.Close()
		// A key issued under a mistyped prefix would be a key of a new,
		// empty ledger, refused by the real one.
		if head, err := es.Head(ctx); err != nil || head == 0 {
			fmt.Fprintf(stderr, "no ledger under the prefix %q on that server (%v): check --store-prefix\n", *storePrefix, err)
			return 1
		}
		store = es
	} else {
		// MustExist: a key issued into a mistyped directory would be a key
		// of a new, empty ledger, refused by the real one.
		ps, err := pebblestore.Open(*dataDir, pebblestore.Options{Logger: zerolog.New(stderr).Level(zerolog.ErrorLevel), MustExist: true})
		if err != nil {
			fmt.Fprintf(stderr, "open the ledger in %s: %v\n", *dataDir, err)
			if errors.Is(err, pebblestore.ErrInUse) {
				fmt.Fprintln(stderr, "(stop the server first: the embedded store allows one process)")
			}
			return 1
		}
		defer ps.Close()
		store = ps
	}
	key := httpapi.NewAPIKey()
	hash := domain.HashAPIKey(key)
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	k, out, err := cmds.CreateAPIKey(ctx, domain.CreateAPIKey{KeyID: domain.KeyIDForHash(hash), Role: domain.RoleAdmin, Hash: hash, Name: *name},
		domain.Metadata{Actor: "local-operator"})
	if err != nil {
		fmt.Fprintln(stderr, "create the key:", err)
		return 1
	}
	fmt.Fprintf(stdout, "admin key %s created at ledger position %d (actor local-operator)\n%s\n", k.ID, out.Result.Position, key)
	fmt.Fprintln(stderr, "keep the key secret: it is shown once; the ledger stores only its hash")
	return 0
}

// rotateMaster re-wraps every data key of the key store under a new master
// key (the ledger is not touched), with the server stopped. The current
// master key is found as serve finds it (HOOKLEDGER_MASTER_KEY,
// --master-key-file, or <data-dir>/master.key).
func rotateMaster(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys rotate-master", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "data directory (the server must be stopped)")
	current := fs.String("master-key-file", os.Getenv("HOOKLEDGER_MASTER_KEY_FILE"), "the current master key's file (default: HOOKLEDGER_MASTER_KEY, else <data-dir>/master.key)")
	next := fs.String("new-master-key-file", "", "the new master key's file (required)")
	generate := fs.Bool("generate", false, "draw the new master key and write it to --new-master-key-file (which must not exist)")
	// Not from the environment: a ledger on EventStoreDB may keep its keys
	// in the data directory (--key-store local), rotated without it.
	storeURL := fs.String("store-url", "", "rotate the key store in this EventStoreDB ledger (--key-store ledger) instead of the data directory's")
	storePrefix := fs.String("store-prefix", eventstoredb.DefaultPrefix, "EventStoreDB: the ledger's stream prefix")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *next == "" {
		fmt.Fprintln(stderr, "--new-master-key-file is required")
		return 2
	}
	if *storeURL != "" {
		return rotateLedgerMaster(*storeURL, *storePrefix, *current, *next, *generate, stdout, stderr)
	}
	cfg := config.Defaults()
	cfg.DataDir, cfg.MasterKeyFile, cfg.MasterKey = *dataDir, *current, os.Getenv("HOOKLEDGER_MASTER_KEY")
	if cfg.MasterKeyFile != "" {
		cfg.MasterKey = ""
	}
	if _, err := os.Stat(cfg.KeysDir()); err != nil {
		fmt.Fprintf(stderr, "no key store in %s: nothing to rotate\n", cfg.KeysDir())
		return 1
	}
	old, err := app.MasterKey(cfg, zerolog.New(stderr).Level(zerolog.WarnLevel))
	if err != nil {
		fmt.Fprintln(stderr, "the current master key:", err)
		return 1
	}
	// The key store is opened, with the current key, before a new key is
	// drawn: a refusal (a running server, the wrong key) leaves no new key
	// file behind for the next try to trip over.
	ks, err := keystore.Open(cfg.KeysDir(), old, keystore.Options{})
	if errors.Is(err, keystore.ErrWrongMasterKey) && !*generate {
		// Run again after it succeeded: the store is wrapped by the new key.
		if nk, rerr := readMasterKey(*next); rerr == nil && !bytes.Equal(nk, old) {
			if done, derr := keystore.Open(cfg.KeysDir(), nk, keystore.Options{ReadOnly: true}); derr == nil {
				fmt.Fprintf(stdout, "the key store is already wrapped by master key %s (%s): nothing to do\n", done.MasterID(), *next)
				done.Close()
				return 0
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, keystore.ErrInUse) {
			fmt.Fprintln(stderr, "(stop the server first: the key store allows one process)")
		}
		return 1
	}
	defer ks.Close()
	if *generate {
		if err := writeNewMasterKey(*next); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	nk, err := readMasterKey(*next)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	oldID := ks.MasterID()
	n, err := ks.RotateMaster(nk)
	if err != nil {
		fmt.Fprintln(stderr, "rotate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "re-wrapped %d data keys: the key store is now wrapped by master key %s (was %s)\n", n, ks.MasterID(), oldID)
	// Recorded in the ledger when it is in the data directory (a ledger on
	// EventStoreDB whose keys are local is recorded by no one here).
	rec := domain.MasterKeyRotated{KeyStore: config.KeyStoreLocal, FromMasterID: oldID, ToMasterID: ks.MasterID(), KeysRewrapped: n}
	if store, err := pebblestore.Open(*dataDir, pebblestore.Options{Logger: zerolog.New(stderr).Level(zerolog.ErrorLevel), MustExist: true}); err == nil {
		err = recordRotation(store, rec, stdout)
		store.Close()
		if err != nil {
			fmt.Fprintf(stderr, "the key store is rotated, but the rotation is not recorded in the ledger: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "not recorded in a ledger: %s holds none (%v)\n", *dataDir, err)
	}
	fmt.Fprintf(stdout, "from now on start serve with --master-key-file %s (or HOOKLEDGER_MASTER_KEY); then destroy the old master key and the backups of the key store wrapped by it\n", *next)
	return 0
}

// recordRotation records a master key's rotation in the ledger's
// key-store stream, as the local operator.
func recordRotation(store domain.EventStore, rec domain.MasterKeyRotated, stdout io.Writer) error {
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	res, err := cmds.RecordMasterKeyRotation(context.Background(), rec, domain.Metadata{Actor: "local-operator"})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recorded in the ledger at position %d (%s, stream %s)\n", res.Position, domain.TypeMasterKeyRotated, domain.KeyStoreStream)
	return nil
}

// writeNewMasterKey draws a master key into path, which must not exist.
func writeNewMasterKey(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the new master key: %w", err)
	}
	_, err = fmt.Fprintln(f, keystore.NewMasterKey())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the new master key: %w", err)
	}
	return nil
}

// rotateLedgerMaster rotates the master key of the key store in an
// EventStoreDB ledger (--key-store ledger), with every node stopped: a
// node still running would wrap its new keys with the old master key.
func rotateLedgerMaster(storeURL, prefix, current, next string, generate bool, stdout, stderr io.Writer) int {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.MasterKeyFile, cfg.MasterKey = current, os.Getenv("HOOKLEDGER_MASTER_KEY")
	if cfg.MasterKeyFile != "" {
		cfg.MasterKey = ""
	}
	if cfg.MasterKey == "" && cfg.MasterKeyFile == "" {
		fmt.Fprintln(stderr, "--store-url: give the current master key (--master-key-file or HOOKLEDGER_MASTER_KEY)")
		return 2
	}
	old, err := app.MasterKey(cfg, zerolog.New(stderr).Level(zerolog.WarnLevel))
	if err != nil {
		fmt.Fprintln(stderr, "the current master key:", err)
		return 1
	}
	store, err := eventstoredb.Open(eventstoredb.Options{URL: storeURL, Prefix: prefix, Log: zerolog.New(stderr).Level(zerolog.ErrorLevel)})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer store.Close()
	if last, err := store.ReadStream(ctx, domain.ClusterStream, domain.RevisionEnd, domain.Backward, 1); err == nil && len(last) == 1 &&
		time.Since(last[0].Created) < 5*time.Minute {
		fmt.Fprintf(stderr, "a node of the cluster wrote to its lease stream at %s: stop every node first (a node still running would wrap new keys with the old master key), then wait until 5 minutes after that\n",
			last[0].Created.UTC().Format(time.RFC3339))
		return 1
	}
	b, err := store.KeyBackend()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	have, err := b.Master(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "read the ledger's key store:", err)
		return 1
	}
	if have == "" {
		fmt.Fprintln(stderr, "the ledger has no key store (--key-store ledger): nothing to rotate")
		return 1
	}
	if have != keystore.MasterKeyID(old) {
		if nk, rerr := readMasterKey(next); rerr == nil && have == keystore.MasterKeyID(nk) && !generate {
			fmt.Fprintf(stdout, "the ledger's key store is already wrapped by master key %s (%s): nothing to do\n", have, next)
			return 0
		}
		fmt.Fprintf(stderr, "the ledger's key store is wrapped by master key %s, not by the current key given (%s)\n", have, keystore.MasterKeyID(old))
		return 1
	}
	if generate {
		if err := writeNewMasterKey(next); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	nk, err := readMasterKey(next)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	apps, err := audit.ApplicationIDs(ctx, store)
	if err != nil {
		fmt.Fprintln(stderr, "read the ledger's applications:", err)
		return 1
	}
	n, err := keystore.RotateMasterOf(ctx, b, old, nk, apps)
	if err != nil {
		fmt.Fprintf(stderr, "rotate (after %d keys re-wrapped): %v\nrun it again with the same two keys to finish; start no node until it has\n", n, err)
		return 1
	}
	fmt.Fprintf(stdout, "re-wrapped %d data keys: the ledger's key store is now wrapped by master key %s (was %s)\n", n, keystore.MasterKeyID(nk), have)
	rec := domain.MasterKeyRotated{KeyStore: config.KeyStoreLedger, FromMasterID: have, ToMasterID: keystore.MasterKeyID(nk), KeysRewrapped: n}
	if err := recordRotation(store, rec, stdout); err != nil {
		fmt.Fprintf(stderr, "the key store is rotated, but the rotation is not recorded in the ledger: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "start every node with --master-key-file %s (or HOOKLEDGER_MASTER_KEY); the old copies of the keys go at the server's next scavenge: then destroy the old master key\n", next)
	return 0
}

// readMasterKey reads a master key file.
func readMasterKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the new master key: %w", err)
	}
	k, err := keystore.ParseMasterKey(string(raw))
	if err != nil {
		return nil, fmt.Errorf("the new master key %s: %w", path, err)
	}
	return k, nil
}
