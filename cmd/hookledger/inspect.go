package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
		if errors.Is(err, domain.ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("%w (is a server running on it? then read through it: timeline and history take --url and --key; verify and export are served at /v1/audit/verify and /v1/audit/export)", err)
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
	pub, pinned, err := loadPublicKey(pubFlag, dataDir)
	if err != nil {
		return nil, false, nil, err
	}
	store, err := openStoreForCLI(dataDir, sf)
	if err != nil {
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
	if err != nil {
		return nil, false, fmt.Errorf("no --public-key given and no seal key in %s: %w", audit.KeyPath(dataDir), err)
	}
	priv, err := audit.ParsePrivateKey(string(b))
	if err != nil {
		return nil, false, err
	}
	return priv.Public().(ed25519.PublicKey), false, nil
}

func printReport(rep audit.Report, pinned bool, asJSON bool) {
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(struct {
			audit.Report
			KeyPinned bool `json:"key_pinned"`
		}{rep, pinned})
		return
	}
	if rep.OK {
		fmt.Printf("OK: %d events, %d sealed by %d seals, %d not sealed yet (key %s)\n", rep.Events, rep.Sealed, rep.Seals, rep.Unsealed, rep.KeyID)
		fmt.Printf("  head: position %d\n", rep.Head)
		if ls := rep.LastSeal; ls != nil {
			fmt.Printf("  last seal: #%d at position %d (covers up to %d), hash %s, sealed at %s\n",
				ls.Index, ls.Position, ls.ToPosition, ls.Hash, ls.SealedAt.UTC().Format(time.RFC3339))
			fmt.Printf("  record these and pin them next time: --expect-head %d --expect-seal %s\n", rep.Head, ls.Hash)
		}
	} else {
		fmt.Printf("FAILED: %s at position %d: %s\n", rep.Problem.Kind, rep.Problem.Position, rep.Problem.Detail)
		fmt.Printf("  (checked %d events and %d seals before it)\n", rep.Events, rep.Seals)
	}
	if !pinned {
		fmt.Println("note: checked against the data directory's own key; pass --public-key (the copy you trust) to pin it")
	}
}

func verifyCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "data directory of the ledger")
	pubFlag := fs.String("public-key", "", "the trusted seal public key (base64, or @file)")
	export := fs.String("export", "", "verify this export file offline instead of the ledger")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	expectHead := fs.Uint64("expect-head", 0, "fail unless the ledger reaches at least this position (a head you recorded earlier)")
	expectSeal := fs.String("expect-seal", "", "fail unless the seal with this hash (one you recorded earlier) is among the ledger's valid seals")
	quiet := fs.Bool("quiet", false, "no progress bar (there is none off a terminal either)")
	sf := addStoreFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *expectSeal != "" {
		if _, err := domain.ParseHash(*expectSeal); err != nil {
			fmt.Fprintln(os.Stderr, "--expect-seal: not a seal hash (64 hex digits):", err)
			return 2
		}
	}
	if *export != "" {
		f, err := os.Open(*export)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		var trusted ed25519.PublicKey
		if *pubFlag != "" {
			if trusted, _, err = loadPublicKey(*pubFlag, ""); err != nil {
				fmt.Fprintln(os.Stderr, "--public-key:", err)
				return 2
			}
		}
		rep, err := audit.VerifyExport(f, trusted)
		if err != nil {
			fmt.Fprintln(os.Stderr, "export unreadable:", err)
			return 1
		}
		printReport(rep.Report, rep.KeyPinned, *asJSON)
		if !rep.OK {
			return 1
		}
		return 0
	}
	pub, pinned, store, err := openSealedLedger(*pubFlag, *dataDir, sf)
	if p := ledgerProblem(err); p != nil {
		printReport(audit.Report{Problem: p}, pinned, *asJSON)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer store.Close()
	start := time.Now()
	bar := newProgress(os.Stderr, "verify", totalOf(ctx, store), *quiet || *asJSON)
	rep, err := audit.VerifyExpecting(ctx, progressStore{store, func(p domain.Position) { bar.Set(int64(p)) }}, pub,
		audit.Expect{Head: domain.Position(*expectHead), SealHash: *expectSeal}, nil)
	bar.Done()
	if err != nil {
		if p := ledgerProblem(err); p != nil {
			rep.OK, rep.Problem = false, p
		} else {
			fmt.Fprintln(os.Stderr, "verify:", err)
			return 1
		}
	}
	printReport(rep, pinned, *asJSON)
	if !*asJSON {
		fmt.Printf("  %.0f events/s\n", float64(rep.Events)/time.Since(start).Seconds())
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func exportCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "data directory of the ledger")
	app := fs.String("application", "", "export only this application's events")
	sub := fs.String("subscription", "", "export only this subscription's events and its deliveries")
	subject := fs.String("subject", "", "export one subject's messages, their deliveries and erasures (an access request, or the proof of an erasure)")
	format := fs.String("format", "ndjson", "ndjson (the verifiable export) or csv (the same events for spreadsheets; it proves nothing: keep the ndjson)")
	out := fs.String("out", "", "file to write (default: standard output)")
	keyFile := fs.String("seal-key-file", "", "the seal signing key that signs the export's footer (default: <data-dir>/audit/seal.key)")
	quiet := fs.Bool("quiet", false, "no progress bar (there is none off a terminal either)")
	sf := addStoreFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *app != "" && *sub != "" {
		fmt.Fprintln(os.Stderr, "give --application or --subscription, not both")
		return 2
	}
	if *format != "ndjson" && *format != "csv" {
		fmt.Fprintf(os.Stderr, "--format %q: want ndjson or csv\n", *format)
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
	key, err := loadPrivateKey(*keyFile, *dataDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, _, store, err := openSealedLedger(audit.EncodePublicKey(key.Public().(ed25519.PublicKey)), *dataDir, sf)
	if p := ledgerProblem(err); p != nil {
		fmt.Fprintf(os.Stderr, "export refused: %s at position %d: %s\n", p.Kind, p.Position, p.Detail)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer store.Close()
	var w io.Writer = os.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		w = f
	}
	bar := newProgress(os.Stderr, "export", totalOf(ctx, store), *quiet)
	var opts audit.ExportOptions
	if _, err := os.Stat(filepath.Join(*dataDir, "keys")); err == nil {
		// The key store's tombstones mark the erased payloads (no master
		// key needed: an export never holds a decrypted payload).
		ts, err := keystore.OpenTombstones(filepath.Join(*dataDir, "keys"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer ts.Close()
		opts.Erased = ts
	}
	var csvDone chan error
	if *format == "csv" {
		pr, pw := io.Pipe()
		csvDone = make(chan error, 1)
		go func(out io.Writer) { csvDone <- exportToCSV(pr, out); pr.Close() }(w)
		w = pw
		defer func() { pw.Close(); <-csvDone }()
	}
	sum, err := audit.ExportWith(ctx, progressStore{store, func(p domain.Position) { bar.Set(int64(p)) }}, key,
		audit.Scope{Application: *app, Subscription: *sub, Subject: *subject}, w, opts)
	bar.Done()
	if err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "exported %d events and %d seals\n", sum.Events, sum.Seals)
	return 0
}

// item is one ledger event as the CLI prints it (the API's shape).
type item struct {
	Position   uint64          `json:"position"`
	Stream     string          `json:"stream"`
	Revision   uint64          `json:"revision"`
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	RecordedAt *time.Time      `json:"recorded_at,omitempty"`
	Created    time.Time       `json:"created"`
	Actor      string          `json:"actor,omitempty"`
	ActorName  string          `json:"actor_name,omitempty"`
	Payload    *erasedMark     `json:"payload,omitempty"` // a message whose payload was erased
	Metadata   json.RawMessage `json:"metadata"`
	Data       json.RawMessage `json:"data"`
}

type erasedMark struct {
	Erased    bool      `json:"erased"`
	ErasureID string    `json:"erasure_id"`
	ErasedAt  time.Time `json:"erased_at"`
}

func itemOf(r domain.RecordedEvent) item {
	it := item{Position: uint64(r.Position), Stream: r.Stream, Revision: r.Revision, ID: r.ID, Type: r.Type, Created: r.Created,
		Metadata: json.RawMessage(orNull(r.Metadata)), Data: json.RawMessage(orNull(redactedData(r)))}
	var md domain.Metadata
	if json.Unmarshal(r.Metadata, &md) == nil {
		t := md.RecordedAt
		it.RecordedAt, it.Actor = &t, md.Actor
	}
	return it
}

// at is when the event was recorded (the store's commit time for events
// without metadata).
func (it item) at() time.Time {
	if it.RecordedAt != nil {
		return *it.RecordedAt
	}
	return it.Created
}

func compactJSON(b []byte) string {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return string(b)
	}
	return out.String()
}

func orNull(b []byte) []byte {
	if len(b) == 0 || !json.Valid(b) {
		return []byte("null")
	}
	return b
}

// redactedData hides signing secrets and credential header values, as the
// API does.
func redactedData(r domain.RecordedEvent) []byte {
	b, _ := domain.RedactEventData(r.Type, r.Data)
	return b
}

// inspect prints one stream (history) or one delivery's timeline, read from
// the store directly or from a running server's API.
func inspect(ctx context.Context, name string, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "read the store in this data directory (server stopped)")
	apiURL := fs.String("url", os.Getenv("HOOKLEDGER_URL"), "read through a running server's API instead (e.g. http://127.0.0.1:8080)")
	key := fs.String("key", os.Getenv("HOOKLEDGER_KEY"), "API key for --url (auditor or admin)")
	asJSON := fs.Bool("json", false, "print JSON (as --format json)")
	format := fs.String("format", "text", "text, json or csv (for spreadsheets)")
	sf := addStoreFlags(fs)
	// The id may come before or after the flags.
	var target string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		target, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if target == "" && fs.NArg() > 0 {
		target = fs.Arg(0)
	}
	if target == "" {
		fmt.Fprintf(os.Stderr, "usage: hookledger %s <%s> [--json] [--data-dir DIR | --url URL --key KEY]\n", name, map[string]string{"timeline": "delivery-id", "history": "stream"}[name])
		return 2
	}
	stream := target
	if name == "timeline" {
		if err := domain.ValidateID("delivery id", target); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		stream = domain.DeliveryStream(target)
	} else if err := domain.ValidateStreamName(stream); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var items []item
	var err error
	candidates := []string{stream}
	if name == "history" {
		candidates = historyStreams(target)
	}
	for _, cand := range candidates {
		if *apiURL != "" {
			items, err = readViaAPI(ctx, *apiURL, *key, name, target, cand)
		} else {
			items, err = readViaStore(ctx, *dataDir, sf, cand)
		}
		if !errors.Is(err, errStreamNotFound) {
			stream = cand
			break
		}
	}
	if errors.Is(err, errStreamNotFound) && len(candidates) > 1 {
		err = fmt.Errorf("%s: no such stream, nor a subscription, delivery, message, application or API key with that id", target)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *asJSON {
		*format = "json"
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"stream": stream, "items": items})
		return 0
	case "csv":
		return writeItemsCSV(os.Stdout, items)
	case "text":
	default:
		fmt.Fprintf(os.Stderr, "--format %q: want text, json or csv\n", *format)
		return 2
	}
	fmt.Printf("%s: %d events\n", stream, len(items))
	for _, it := range items {
		at := it.at()
		data := compactJSON(it.Data)
		if len(data) > 200 {
			data = data[:200] + "..."
		}
		who := it.Actor
		if it.ActorName != "" && it.ActorName != it.Actor {
			who = it.ActorName + " " + it.Actor
		}
		if it.Payload != nil {
			data = "[payload erased by " + it.Payload.ErasureID + "] " + data
		}
		fmt.Printf("  rev %-3d pos %-8d %s  %-34s %-28s %s\n", it.Revision, it.Position, at.UTC().Format(time.RFC3339), it.Type, who, data)
	}
	return 0
}

// errStreamNotFound: the stream read has no events.
var errStreamNotFound = errors.New("stream not found")

// historyStreams lists the streams `history TARGET` may mean, most likely
// first: the stream of that name, then the stream of the entity whose id it
// is (by its prefix: sub_, dlv_, msg_, app_, key_), then every kind of
// entity stream (ids chosen by clients need not carry the prefix).
func historyStreams(target string) []string {
	kinds := []struct {
		prefix string
		stream func(string) string
	}{
		{domain.PrefixSubscription, domain.SubscriptionStream},
		{domain.PrefixDelivery, domain.DeliveryStream},
		{domain.PrefixMessage, domain.MessageStream},
		{domain.PrefixApplication, domain.ApplicationStream},
		{domain.PrefixKey, domain.APIKeyStream},
	}
	out := []string{target}
	for _, k := range kinds {
		if strings.HasPrefix(target, k.prefix) {
			out = append(out, k.stream(target))
		}
	}
	if domain.ValidateID("id", target) == nil {
		for _, k := range kinds {
			if s := k.stream(target); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func readViaStore(ctx context.Context, dataDir string, sf storeFlags, stream string) ([]item, error) {
	store, err := openStoreForCLI(dataDir, sf)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	var out []item
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, stream, from, domain.Forward, 1000)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: %s", errStreamNotFound, stream)
		}
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out = append(out, itemOf(r))
		}
		if len(recs) < 1000 {
			namer := &audit.ActorNamer{Store: store}
			for i := range out {
				out[i].ActorName = namer.Name(ctx, out[i].Actor)
			}
			return out, markErased(dataDir, out)
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

func readViaAPI(ctx context.Context, base, key, name, target, stream string) ([]item, error) {
	base = strings.TrimRight(base, "/")
	path := "/v1/ledger/streams/" + url.PathEscape(stream) + "?limit=1000"
	if name == "timeline" {
		path = "/v1/deliveries/" + url.PathEscape(target) + "/timeline"
	}
	var out []item
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound && name == "history" {
			return nil, fmt.Errorf("%w: %s", errStreamNotFound, stream)
		}
		if res.StatusCode != 200 {
			return nil, fmt.Errorf("%s: %s: %s", base+path, res.Status, body)
		}
		var page struct {
			Items      []item `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" || name == "timeline" {
			return out, nil
		}
		path = "/v1/ledger/streams/" + url.PathEscape(stream) + "?limit=1000&cursor=" + url.QueryEscape(page.NextCursor)
	}
}

// markErased marks the messages whose payload was erased, from the key
// store's tombstones (no master key needed); without a key store, nothing.
func markErased(dataDir string, items []item) error {
	dir := filepath.Join(dataDir, "keys")
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	ts, err := keystore.OpenTombstones(dir)
	if err != nil {
		return err
	}
	defer ts.Close()
	for i := range items {
		if items[i].Type != domain.TypeMessagePublished {
			continue
		}
		var m domain.MessagePublished
		if json.Unmarshal(items[i].Data, &m) != nil || m.Sealed == nil {
			continue
		}
		if id, at, gone, err := ts.Destroyed(m.Sealed.KeyID); err != nil {
			return err
		} else if gone {
			items[i].Payload = &erasedMark{Erased: true, ErasureID: id, ErasedAt: at}
		}
	}
	return nil
}
