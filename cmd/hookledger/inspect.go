package main

// inspect and history: one stream or one delivery's timeline, from the
// store or a running server.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/domain"
)

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
	rest := fs.Args()
	if target == "" && len(rest) > 0 {
		target, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "hookledger %s: unexpected argument %q: it takes one %s\n", name, rest[0], map[string]string{"timeline": "delivery id", "history": "stream or id"}[name])
		return 2
	}
	if target == "" {
		fmt.Fprintf(os.Stderr, "usage: hookledger %s <%s> [--json] [--data-dir DIR | --url URL --key KEY]\n", name, map[string]string{"timeline": "delivery-id", "history": "stream"}[name])
		return 2
	}
	if *asJSON {
		*format = "json"
	}
	if *format != "text" && *format != "json" && *format != "csv" {
		fmt.Fprintf(os.Stderr, "hookledger %s: --format %q: want text, json or csv\n", name, *format)
		return 2
	}
	if *apiURL != "" {
		if err := checkServerURL(*apiURL, *key); err != nil {
			fmt.Fprintf(os.Stderr, "hookledger %s: %v\n", name, err)
			return 2
		}
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
		err = fmt.Errorf("%s: no such stream, nor a subscription, delivery, message, application, API key or erasure with that id", target)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"stream": stream, "items": items})
		return 0
	case "csv":
		return writeItemsCSV(os.Stdout, items)
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
// is (by its prefix: sub_, dlv_, msg_, app_, key_, era_), then every kind
// of entity stream (ids chosen by clients need not carry the prefix).
func historyStreams(target string) []string {
	out := []string{target}
	if s, ok := domain.EntityStream(target); ok {
		out = append(out, s)
	}
	if domain.ValidateID("id", target) == nil {
		for _, s := range domain.EntityStreams(target) {
			if !slices.Contains(out, s) {
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
			return out, markErased(ctx, dataDir, store, out)
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

// checkServerURL refuses a --url the CLI cannot read from (no scheme, no
// host) and a --url without the key it needs, before anything is asked.
func checkServerURL(raw, key string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want the server's address with its scheme, e.g. http://127.0.0.1:8080", raw)
	}
	if key == "" {
		return errors.New("--url needs an API key (auditor or admin): --key or HOOKLEDGER_KEY")
	}
	return nil
}

// apiClient bounds each request to a server, so that one that accepts the
// connection and never answers does not hang the CLI.
var serverClient = &http.Client{Timeout: time.Minute}

func readViaAPI(ctx context.Context, base, key, name, target, stream string) ([]item, error) {
	base = strings.TrimRight(base, "/")
	path := "/v1/ledger/streams/" + url.PathEscape(stream) + "?limit=1000"
	if name == "timeline" {
		path = "/v1/deliveries/" + url.PathEscape(target) + "/timeline"
	}
	var out []item
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := serverClient.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound && name == "history" {
			return nil, fmt.Errorf("%w: %s", errStreamNotFound, stream)
		}
		if res.StatusCode != 200 {
			var problem struct{ Detail string }
			if json.Unmarshal(body, &problem) == nil && problem.Detail != "" {
				return nil, fmt.Errorf("%s: %s: %s", base+path, res.Status, problem.Detail)
			}
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
func markErased(ctx context.Context, dataDir string, store domain.EventStore, items []item) error {
	ts, err := openTombstones(ctx, dataDir, store)
	if err != nil || ts == nil {
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
