package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/app"
	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/eventstoredb"
	"github.com/hookledger/hookledger/adapters/keystore"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// copyCmd copies a ledger between stores: an embedded data directory or an
// EventStoreDB URL on either side. The servers using them must be stopped.
func copyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "source: a data directory (embedded store) or esdb://... URL")
	to := fs.String("to", "", "destination: a data directory (created if missing) or esdb://... URL")
	fromPrefix := fs.String("from-prefix", eventstoredb.DefaultPrefix, "stream prefix on an EventStoreDB source")
	toPrefix := fs.String("to-prefix", eventstoredb.DefaultPrefix, "stream prefix on an EventStoreDB destination")
	maxAppend := fs.Int("esdb-max-append-size", 1<<20, "the EventStoreDB server's MaxAppendSize in bytes")
	quiet := fs.Bool("quiet", false, "no progress bar (there is none off a terminal either)")
	keysFrom := fs.String("keys-from", "", "a data directory whose key store (keys/) holds the source's data keys, when they are not beside the source (an EventStoreDB ledger served with --key-store local)")
	noKeys := fs.Bool("no-keys", false, "copy the ledger alone, not the data keys of its encrypted payloads")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	var problems []string
	if *from == "" {
		problems = append(problems, "--from is required")
	}
	if *to == "" {
		problems = append(problems, "--to is required")
	}
	if *from != "" && *from == *to && *fromPrefix == *toPrefix {
		problems = append(problems, "--from and --to are the same ledger")
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, strings.Join(problems, "\n"))
		return 2
	}
	log := zerolog.New(stderr).Level(zerolog.WarnLevel)
	src, err := openEndpoint(*from, *fromPrefix, *maxAppend, log, true)
	if err != nil {
		fmt.Fprintf(stderr, "--from: %v\n", err)
		return 1
	}
	defer src.Close()
	dst, err := openEndpoint(*to, *toPrefix, *maxAppend, log, false)
	if err != nil {
		fmt.Fprintf(stderr, "--to: %v\n", err)
		return 1
	}
	defer dst.Close()
	bar := newProgress(stderr, "copy", totalOf(ctx, src), *quiet)
	rep, err := app.Copy(ctx, src, dst, func(n int) { bar.Set(int64(n)) })
	bar.Done()
	if err != nil {
		fmt.Fprintf(stderr, "copy failed after %d events: %v\n", rep.Copied, err)
		return 1
	}
	fmt.Fprintf(stdout, "copied %d events (%d already there) in %s\n", rep.Copied, rep.AlreadyThere, rep.Elapsed.Round(time.Millisecond))
	keysLine := "the data keys were not copied (--no-keys): serve it with the source's key store and master key"
	if !*noKeys {
		kr, err := copyKeys(ctx, *from, *keysFrom, *to, src, dst)
		if err != nil {
			fmt.Fprintf(stderr, "the ledger is copied, but its data keys are not: %v\n(run the copy again to finish, or --no-keys to copy the ledger alone)\n", err)
			return 1
		}
		switch {
		case kr.MasterID == "":
			keysLine = "the source has no data keys (its payloads are in the clear)"
		case eventstoredb.IsURL(*to):
			keysLine = fmt.Sprintf("copied %d data keys and %d tombstones of erased ones (%d already there) into the ledger's key store: serve it with --key-store ledger and master key %s", kr.Keys, kr.Tombstones, kr.AlreadyThere, kr.MasterID)
		default:
			keysLine = fmt.Sprintf("copied %d data keys and %d tombstones of erased ones (%d already there) into %s: serve it with master key %s", kr.Keys, kr.Tombstones, kr.AlreadyThere, filepath.Join(*to, "keys"), kr.MasterID)
		}
	}
	fmt.Fprintln(stdout, keysLine)
	fmt.Fprintf(stdout, "check it with: hookledger verify %s --public-key @FILE (the key that sealed it: GET /v1/audit/public-key)\n", verifyTarget(*to, *toPrefix))
	fmt.Fprintln(stdout, "serve it with the source's seal key (audit/seal.key or --seal-key-file) and the master key named above (HOOKLEDGER_MASTER_KEY or --master-key-file)")
	return 0
}

// copyKeys copies the data keys of the source ledger to the destination's
// key store: from the source's ledger key store or its data directory's
// keys/ (or keysFrom's), into the destination's ledger key store or its
// keys/. Wrapped, as they are: no master key is needed. A ledger key store
// finds its keys through their applications, read from the copied ledger.
func copyKeys(ctx context.Context, from, keysFrom, to string, src, dst domain.EventStore) (keystore.CopyReport, error) {
	var in keystore.Backend
	switch {
	case keysFrom != "":
		dir := filepath.Join(keysFrom, "keys")
		if _, err := os.Stat(dir); err != nil {
			return keystore.CopyReport{}, fmt.Errorf("--keys-from: %w", err)
		}
		b, err := keystore.OpenLocalReadOnly(dir)
		if err != nil {
			return keystore.CopyReport{}, err
		}
		in = b
	case eventstoredb.IsURL(from):
		b, err := src.(*eventstoredb.Store).KeyBackend()
		if err != nil {
			return keystore.CopyReport{}, err
		}
		in = b
	default:
		dir := filepath.Join(from, "keys")
		if _, err := os.Stat(dir); err != nil {
			return keystore.CopyReport{}, nil // never encrypted
		}
		b, err := keystore.OpenLocalReadOnly(dir)
		if err != nil {
			return keystore.CopyReport{}, err
		}
		in = b
	}
	defer in.Close()
	if id, err := in.Master(ctx); err != nil || id == "" {
		return keystore.CopyReport{}, err
	}
	var out keystore.Backend
	if eventstoredb.IsURL(to) {
		b, err := dst.(*eventstoredb.Store).KeyBackend()
		if err != nil {
			return keystore.CopyReport{}, err
		}
		out = b
	} else {
		b, err := keystore.OpenLocal(filepath.Join(to, "keys"))
		if err != nil {
			return keystore.CopyReport{}, err
		}
		out = b
	}
	defer out.Close()
	var apps []string
	if keysFrom == "" && eventstoredb.IsURL(from) {
		var err error
		if apps, err = audit.ApplicationIDs(ctx, dst); err != nil {
			return keystore.CopyReport{}, fmt.Errorf("read the applications of the copy: %w", err)
		}
	}
	return keystore.CopyKeys(ctx, in, out, apps)
}

// openEndpoint opens one side of a copy. A source data directory must exist
// and is opened read-only: a mistyped --from used to be created, empty, and
// "copied" (0 events, exit 0), and a copy must not change its source.
func openEndpoint(where, prefix string, maxAppend int, log zerolog.Logger, source bool) (domain.EventStore, error) {
	if eventstoredb.IsURL(where) {
		return eventstoredb.Open(eventstoredb.Options{URL: where, Prefix: prefix, MaxAppendSize: maxAppend, Log: log})
	}
	if strings.Contains(where, "://") {
		return nil, fmt.Errorf("%q: want a data directory or an esdb:// or kurrentdb:// URL", where)
	}
	if !source {
		return pebblestore.Open(where, pebblestore.Options{Logger: log})
	}
	if _, err := os.Stat(where); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", where, err)
	}
	s, err := pebblestore.Open(where, pebblestore.Options{Logger: log, ReadOnly: true})
	if errors.Is(err, pebblestore.ErrInUse) {
		return nil, fmt.Errorf("%w; stop the server that uses it first", err)
	}
	return s, err
}

// verifyTarget is how verify names a copy's destination.
func verifyTarget(to, prefix string) string {
	if eventstoredb.IsURL(to) {
		t := "--store-url URL" // not echoed: it may carry credentials
		if prefix != eventstoredb.DefaultPrefix {
			t += " --store-prefix " + prefix
		}
		return t
	}
	return "--data-dir " + to
}
