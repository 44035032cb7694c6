package main

// export: writes the ledger, or one application's part of it, as a
// verifiable bundle.

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/domain"
)

func exportCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "data directory of the ledger")
	app := fs.String("application", "", "export only this application's events")
	sub := fs.String("subscription", "", "export only this subscription's events and its deliveries")
	subject := fs.String("subject", "", "export one subject's messages, their deliveries and erasures (an access request, or the proof of an erasure)")
	from := fs.Uint64("from", 0, "export only the events at this position and after (an earlier export's head + 1: the events since it)")
	to := fs.Uint64("to", 0, "export only the events up to this position")
	since := fs.String("since", "", "export only the events recorded at or after this RFC 3339 time (an audit period's start)")
	until := fs.String("until", "", "export only the events recorded before this RFC 3339 time (an audit period's end)")
	format := fs.String("format", "ndjson", "ndjson (the verifiable export) or csv (the same events for spreadsheets; it proves nothing: keep the ndjson)")
	out := fs.String("out", "", "file to write (default: standard output)")
	keyFile := fs.String("seal-key-file", "", "the seal signing key that signs the export's footer (default: <data-dir>/audit/seal.key)")
	quiet := fs.Bool("quiet", false, "no progress bar (there is none off a terminal either)")
	apiURL := fs.String("url", os.Getenv("HOOKLEDGER_URL"), "take the export from a running server instead (e.g. http://127.0.0.1:8080): recorded in its ledger, checked as it is written")
	apiKey := fs.String("key", os.Getenv("HOOKLEDGER_KEY"), "API key for --url (admin or auditor; an application key exports its own application)")
	sf := addStoreFlags(fs)
	if code, ok := parseFlags(fs, args, os.Stderr); !ok {
		return code
	}
	if *app != "" && *sub != "" {
		fmt.Fprintln(os.Stderr, "give --application or --subscription, not both")
		return 2
	}
	if *format != "ndjson" && *format != "csv" {
		fmt.Fprintf(os.Stderr, "--format %q: want ndjson or csv\n", *format)
		return 2
	}
	if err := checkOut(*out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *subject != "" && *sub != "" {
		fmt.Fprintln(os.Stderr, "give --subject (with or without --application) or --subscription, not both")
		return 2
	}
	if err := domain.ValidateSubject(*subject); err != nil {
		fmt.Fprintln(os.Stderr, "--subject:", err)
		return 2
	}
	// A scope the ledger never had fails the export before it writes
	// anything (audit.ScopeExists), and writeWhole then leaves no file.
	scope := audit.Scope{Application: *app, Subscription: *sub, Subject: *subject, From: domain.Position(*from), To: domain.Position(*to)}
	if err := boundTimes(&scope, *since, *until); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *apiURL != "" {
		if err := checkServerURL(*apiURL, *apiKey); err != nil {
			fmt.Fprintln(os.Stderr, "hookledger export:", err)
			return 2
		}
		return exportViaAPI(ctx, *apiURL, *apiKey, scope, *format == "csv", *out)
	}
	// The ledger first: where there is none, that is what to say, not
	// that its key is missing.
	store, err := openStoreForCLI(*dataDir, sf)
	if p := ledgerProblem(err); p != nil {
		fmt.Fprintf(os.Stderr, "export refused: %s at position %d: %s\n", p.Kind, p.Position, p.Detail)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer store.Close()
	key, err := loadPrivateKey(*keyFile, *dataDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var opts audit.ExportOptions
	// The key store's tombstones mark the erased payloads (no master key
	// needed: an export never holds a decrypted payload).
	if ts, err := openTombstones(ctx, *dataDir, store); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	} else if ts != nil {
		defer ts.Close()
		opts.Erased = ts
	}
	bar := newProgress(os.Stderr, "export", totalOf(ctx, store), *quiet)
	var sum audit.ExportSummary
	write := func(w io.Writer) (err error) {
		sum, err = exportTo(w, *format == "csv", func(w io.Writer) (audit.ExportSummary, error) {
			return audit.ExportWith(ctx, progressStore{store, func(p domain.Position) { bar.Set(int64(p)) }}, key, scope, w, opts)
		})
		return err
	}
	if *out == "" {
		err = write(os.Stdout)
	} else {
		err = writeWhole(*out, write)
	}
	bar.Done()
	if err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "exported %d events and %d seals\n", sum.Events, sum.Seals)
	return 0
}

// boundTimes sets the scope's time bounds as it records them, and checks
// every bound, naming the flag of the first that is wrong.
func boundTimes(scope *audit.Scope, since, until string) error {
	var err error
	if scope.Since, err = audit.BoundTime("since", since); err == nil {
		scope.Until, err = audit.BoundTime("until", until)
	}
	if err == nil {
		err = scope.CheckBounds()
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("--%s: %s", ve.Field, ve.Reason)
	}
	return err
}

// exportTo writes an export to w, converted to CSV when csv is set. A
// conversion that fails fails the export (the export's writes then fail too,
// so neither waits on the other).
func exportTo(w io.Writer, csv bool, export func(io.Writer) (audit.ExportSummary, error)) (audit.ExportSummary, error) {
	if !csv {
		return export(w)
	}
	pr, pw := io.Pipe()
	converted := make(chan error, 1)
	go func() {
		err := exportToCSV(pr, w)
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
		converted <- err
	}()
	sum, err := export(pw)
	pw.CloseWithError(err)
	cerr := <-converted
	if err != nil {
		return sum, err // a conversion that failed first failed the export's writes with its error
	}
	if cerr != nil {
		return sum, fmt.Errorf("CSV: %w", cerr)
	}
	return sum, nil
}

// writeWhole writes the file at path through write under a temporary name
// beside it, and renames it into place once written and synced: a failed
// export leaves no file that looks like one, and an earlier file of that name
// is replaced only by a whole one.
// checkOut refuses, before the ledger is read, an --out that names a
// directory or a file in a directory that does not exist (the export was
// written whole to a temporary file, then its rename failed with that file's
// name).
func checkOut(path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("--out %s is a directory: give the file to write", path)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("--out %s: no directory %s to write it in", path, filepath.Dir(path))
	}
	return nil
}

func writeWhole(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // once renamed, there is nothing of that name left
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
