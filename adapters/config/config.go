// Package config parses hookledger's settings from flags and HOOKLEDGER_*
// environment variables and validates them, reporting every problem at once.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is everything `hookledger serve` needs.
type Config struct {
	Listen              string
	DataDir             string
	StoreURL            string
	StorePrefix         string
	ESDBMaxAppendSize   int
	AllowPrivateTargets bool
	LogLevel            string
	LogFormat           string
	MaxPayloadBytes     int
	Workers             int
	PerSubscription     int
	RequestTimeout      time.Duration
	ConnectTimeout      time.Duration
	MaxResponseBytes    int64
	FailureWindow       time.Duration
	AdminKey            string
	SealEvery           int
	SealInterval        time.Duration
	SealKeyFile         string
	MetricsListen       string        // own listener for /metrics, no auth ("" = only on the API listener)
	NoMetrics           bool          // no /metrics at all (for the overhead comparison)
	ReadyMaxLag         time.Duration // /readyz fails while the fold is further behind than this
	Quiet               bool          // rebuild: no progress bar
	// Payload encryption (crypto-shredding, docs/audit.md "Erasure").
	NoPayloadEncryption bool
	MasterKey           string // base64 or hex; prefer HOOKLEDGER_MASTER_KEY
	MasterKeyFile       string
	// KeyStore is where the data keys are: KeyStoreLocal (the data
	// directory, one process) or KeyStoreLedger (streams of the
	// EventStoreDB ledger, shared by the nodes of a cluster). "" until
	// Parse resolves it: ledger in a cluster, local otherwise.
	KeyStore          string
	ErasureScope      string
	RetentionInterval time.Duration // how often the retention sweeper runs
	MaxIngestLag      int           // admission control: publishes refused (503) past this fold lag, in events (0: none)
	// A cluster of processes on one EventStoreDB ledger (docs/cluster.md).
	Cluster    bool
	NodeID     string        // "" with Cluster: host name plus a random suffix
	Partitions int           // 0: the ledger's, or 64 for a new cluster
	LeaseTime  time.Duration // how long a partition lease lasts unrenewed
}

// Where the data keys are (Config.KeyStore).
const (
	KeyStoreLocal  = "local"
	KeyStoreLedger = "ledger"
)

// Defaults returns the configuration `make run` uses.
func Defaults() Config {
	return Config{
		Listen: "127.0.0.1:8080", DataDir: "./data", LogLevel: "info", LogFormat: "auto", ReadyMaxLag: 30 * time.Second,
		MaxPayloadBytes: 256 << 10, Workers: 64, PerSubscription: 16,
		RequestTimeout: 15 * time.Second, ConnectTimeout: 5 * time.Second,
		MaxResponseBytes: 64 << 10, FailureWindow: 5 * 24 * time.Hour,
		SealEvery: 10_000, SealInterval: 10 * time.Second,
		StorePrefix: "hookledger-", ESDBMaxAppendSize: 1 << 20,
		ErasureScope: "application", RetentionInterval: time.Hour, MaxIngestLag: 100_000,
		LeaseTime: 10 * time.Second,
	}
}

// envName maps a flag name to its environment variable: listen -> HOOKLEDGER_LISTEN.
func envName(flagName string) string {
	return "HOOKLEDGER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse reads flags from args, with HOOKLEDGER_* environment variables as
// fallbacks (a flag given on the command line wins), then validates.
func Parse(name string, args []string, getenv func(string) string) (Config, error) {
	c := Defaults()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP listen address")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory of the embedded store")
	fs.StringVar(&c.StoreURL, "store-url", c.StoreURL, "EventStoreDB/KurrentDB connection string (esdb://host:2113?tls=false, esdb+discover://...); empty = embedded store")
	fs.StringVar(&c.StorePrefix, "store-prefix", c.StorePrefix, "EventStoreDB: prefix of hookledger's stream names (two ledgers on one server need different ones)")
	fs.IntVar(&c.ESDBMaxAppendSize, "esdb-max-append-size", c.ESDBMaxAppendSize, "EventStoreDB: the server's MaxAppendSize in bytes; larger appends are refused before sending")
	fs.BoolVar(&c.AllowPrivateTargets, "allow-private-targets", c.AllowPrivateTargets, "allow webhooks to loopback, private and link-local addresses")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "auto (console on a terminal, JSON otherwise), console or json")
	fs.IntVar(&c.MaxPayloadBytes, "max-payload-bytes", c.MaxPayloadBytes, "largest accepted message payload")
	fs.IntVar(&c.Workers, "workers", c.Workers, "concurrent delivery attempts in total")
	fs.IntVar(&c.PerSubscription, "per-subscription", c.PerSubscription, "concurrent delivery attempts per subscription")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "total timeout of one delivery attempt")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", c.ConnectTimeout, "connect timeout of one delivery attempt")
	fs.Int64Var(&c.MaxResponseBytes, "max-response-bytes", c.MaxResponseBytes, "response body bytes read per attempt")
	fs.DurationVar(&c.FailureWindow, "failure-window", c.FailureWindow, "disable a subscription whose attempts all failed for this long")
	fs.StringVar(&c.AdminKey, "admin-key", c.AdminKey, "first admin API key on a fresh ledger (prefer the environment variable)")
	fs.IntVar(&c.SealEvery, "seal-every", c.SealEvery, "seal the ledger every this many events")
	fs.DurationVar(&c.SealInterval, "seal-interval", c.SealInterval, "seal the ledger at least this often when there are new events")
	fs.StringVar(&c.SealKeyFile, "seal-key-file", c.SealKeyFile, "ed25519 seal signing key (default <data-dir>/audit/seal.key, created on first start)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "serve /metrics also on this address, without auth (on the API listener it needs an admin or auditor key)")
	fs.BoolVar(&c.NoMetrics, "no-metrics", c.NoMetrics, "collect and serve no metrics")
	fs.DurationVar(&c.ReadyMaxLag, "ready-max-lag", c.ReadyMaxLag, "/readyz answers 503 while the views are further behind the ledger than this")
	fs.BoolVar(&c.NoPayloadEncryption, "no-payload-encryption", c.NoPayloadEncryption, "store new payloads in the clear (no erasure possible for them)")
	fs.StringVar(&c.MasterKey, "master-key", c.MasterKey, "the master key that wraps the data keys, 32 bytes in base64 or hex (prefer the environment variable)")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", c.MasterKeyFile, "file holding the master key (default <data-dir>/master.key, created for a new key store)")
	fs.StringVar(&c.KeyStore, "key-store", c.KeyStore, "where the data keys of payload encryption are: local (the data directory) or ledger (EventStoreDB streams beside the ledger, shared by a cluster's nodes; the default with --cluster)")
	fs.StringVar(&c.ErasureScope, "erasure-scope", c.ErasureScope, "which payloads share a data key: application (per day), subject (per day) or message")
	fs.DurationVar(&c.RetentionInterval, "retention-interval", c.RetentionInterval, "how often payloads past their application's retention are erased")
	fs.IntVar(&c.MaxIngestLag, "max-ingest-lag", c.MaxIngestLag, "answer publishes 503 with Retry-After while the delivery pipeline is more than this many events behind (0: never)")
	if name == "serve" {
		fs.BoolVar(&c.Cluster, "cluster", c.Cluster, "one node of several on one EventStoreDB ledger (docs/cluster.md); implied by --node-id")
		fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's id in the cluster (default: host name plus a random suffix)")
		fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of the delivery work, fixed by a cluster's first node (0: the ledger's, 64 for a new cluster)")
		fs.DurationVar(&c.LeaseTime, "lease-time", c.LeaseTime, "how long a node's partition leases last unrenewed (renewed every fifth of it; clock margin a tenth)")
	}
	if name == "rebuild" {
		fs.BoolVar(&c.Quiet, "quiet", c.Quiet, "no progress bar (there is none off a terminal either)")
	}

	var problems []string
	// Environment first, so that flags given on the command line override it.
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" {
			// A value that does not parse leaves the default in place (the
			// flag package zeroes it), so that the checks below do not
			// report the zero as a second problem.
			old := f.Value.String()
			if err := f.Value.Set(v); err != nil {
				f.Value.Set(old)
				problems = append(problems, fmt.Sprintf("%s=%q: want %s", envName(f.Name), v, kindOf(f.Value)))
			}
		}
	})
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments: %q", fs.Args()))
	}
	if c.NodeID != "" {
		c.Cluster = true
	}
	if c.KeyStore == "" {
		c.KeyStore = KeyStoreLocal
		if c.Cluster {
			c.KeyStore = KeyStoreLedger
		}
	}
	// The connect timeout's default is a part of the request's: a shorter
	// --request-timeout given alone shortens it too, rather than being
	// refused for a flag nobody set.
	connectSet := getenv(envName("connect-timeout")) != ""
	fs.Visit(func(f *flag.Flag) { connectSet = connectSet || f.Name == "connect-timeout" })
	if !connectSet && c.RequestTimeout > 0 && c.ConnectTimeout > c.RequestTimeout {
		c.ConnectTimeout = c.RequestTimeout
	}
	problems = append(problems, c.problems()...)
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every configuration problem found.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &Error{Problems: p}
	}
	return nil
}

func (c Config) problems() []string {
	var p []string
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		p = append(p, fmt.Sprintf("--listen %q: want host:port (%v)", c.Listen, err))
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p = append(p, fmt.Sprintf("--listen %q: bad port", c.Listen))
	}
	if c.StoreURL == "" && strings.TrimSpace(c.DataDir) == "" {
		p = append(p, "--data-dir: required for the embedded store")
	}
	if c.StoreURL != "" {
		u, err := url.Parse(c.StoreURL)
		if err != nil || !storeSchemes[strings.ToLower(u.Scheme)] {
			p = append(p, fmt.Sprintf("--store-url %q: want esdb://host:port?... or kurrentdb://... (+discover for DNS discovery)", redactURL(c.StoreURL)))
		} else if u.User != nil && strings.EqualFold(u.Query().Get("tls"), "false") {
			// The client sends no credentials over a plain connection, without
			// a word: the user would silently act as anonymous.
			p = append(p, fmt.Sprintf("--store-url %q: credentials with tls=false are never sent by the client; use TLS (tls=true, the default) or remove the credentials", redactURL(c.StoreURL)))
		}
		if c.StorePrefix == "" || strings.HasPrefix(c.StorePrefix, "$") || strings.ContainsFunc(c.StorePrefix, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			p = append(p, fmt.Sprintf("--store-prefix %q: want a non-empty prefix, not starting with '$', without control characters", c.StorePrefix))
		}
		if c.ESDBMaxAppendSize < 64<<10 || c.ESDBMaxAppendSize > 16<<20 {
			p = append(p, fmt.Sprintf("--esdb-max-append-size %d: want 65536 to 16777216", c.ESDBMaxAppendSize))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "console", "json":
	default:
		p = append(p, fmt.Sprintf("--log-format %q: want auto, console or json", c.LogFormat))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			p = append(p, fmt.Sprintf("--metrics-listen %q: want host:port (%v)", c.MetricsListen, err))
		} else if c.MetricsListen == c.Listen {
			p = append(p, "--metrics-listen: must differ from --listen (the API listener serves /metrics already)")
		}
		if c.NoMetrics {
			p = append(p, "--metrics-listen and --no-metrics contradict each other")
		}
	}
	if c.ReadyMaxLag < time.Second {
		p = append(p, fmt.Sprintf("--ready-max-lag %s: want at least 1s", c.ReadyMaxLag))
	}
	if c.MaxPayloadBytes < 1 || c.MaxPayloadBytes > 1<<20 {
		p = append(p, fmt.Sprintf("--max-payload-bytes %d: want 1 to 1048576", c.MaxPayloadBytes))
	}
	if c.Workers < 1 || c.Workers > 4096 {
		p = append(p, fmt.Sprintf("--workers %d: want 1 to 4096", c.Workers))
	}
	// A bound that is itself out of range is reported once, as its own
	// problem, not again through the settings it bounds.
	workers := c.Workers
	if workers < 1 || workers > 4096 {
		workers = 4096
	}
	if c.PerSubscription < 1 || c.PerSubscription > workers {
		p = append(p, fmt.Sprintf("--per-subscription %d: want 1 to --workers (%d)", c.PerSubscription, workers))
	}
	requestTimeout := c.RequestTimeout
	if requestTimeout < 100*time.Millisecond || requestTimeout > 5*time.Minute {
		p = append(p, fmt.Sprintf("--request-timeout %s: want 100ms to 5m", c.RequestTimeout))
		requestTimeout = 5 * time.Minute
	}
	if c.ConnectTimeout <= 0 || c.ConnectTimeout > requestTimeout {
		p = append(p, fmt.Sprintf("--connect-timeout %s: want more than 0 and at most --request-timeout", c.ConnectTimeout))
	}
	if c.MaxResponseBytes < 0 || c.MaxResponseBytes > 16<<20 {
		p = append(p, fmt.Sprintf("--max-response-bytes %d: want 0 to 16 MiB", c.MaxResponseBytes))
	}
	if c.FailureWindow < time.Minute {
		p = append(p, fmt.Sprintf("--failure-window %s: want at least 1m", c.FailureWindow))
	}
	if c.SealEvery < 1 || c.SealEvery > 40_000 {
		p = append(p, fmt.Sprintf("--seal-every %d: want 1 to 40000", c.SealEvery))
	}
	if c.SealInterval < 100*time.Millisecond || c.SealInterval > 24*time.Hour {
		p = append(p, fmt.Sprintf("--seal-interval %s: want 100ms to 24h", c.SealInterval))
	}
	switch c.ErasureScope {
	case "application", "subject", "message":
	default:
		p = append(p, fmt.Sprintf("--erasure-scope %q: want application, subject or message", c.ErasureScope))
	}
	if c.MasterKey != "" && c.MasterKeyFile != "" {
		p = append(p, "--master-key and --master-key-file: give one")
	}
	switch c.KeyStore {
	case "", KeyStoreLocal:
	case KeyStoreLedger:
		if c.StoreURL == "" {
			p = append(p, "--key-store ledger: the embedded store's data keys are in its data directory (--key-store local); the ledger key store is EventStoreDB's (--store-url)")
		}
		if !c.NoPayloadEncryption && c.MasterKey == "" && c.MasterKeyFile == "" {
			p = append(p, "--key-store ledger: give the master key (HOOKLEDGER_MASTER_KEY or --master-key-file), the same to every node: one made beside a node's data would wrap keys no other node can open")
		}
	default:
		p = append(p, fmt.Sprintf("--key-store %q: want local or ledger", c.KeyStore))
	}
	if c.MaxIngestLag < 0 {
		p = append(p, fmt.Sprintf("--max-ingest-lag %d: want 0 (no bound) or more", c.MaxIngestLag))
	}
	if c.RetentionInterval < time.Second || c.RetentionInterval > 24*time.Hour {
		p = append(p, fmt.Sprintf("--retention-interval %s: want 1s to 24h", c.RetentionInterval))
	}
	if c.Cluster || c.NodeID != "" {
		p = append(p, c.clusterProblems()...)
	}
	if c.AdminKey != "" && len(c.AdminKey) < 24 {
		p = append(p, "--admin-key: want at least 24 characters")
	}
	return p
}

// clusterProblems are what a cluster node needs that one process does not.
func (c Config) clusterProblems() []string {
	var p []string
	if c.StoreURL == "" {
		p = append(p, "--cluster/--node-id: the embedded store is one process's (one per data directory); a cluster of nodes shares an EventStoreDB ledger: give --store-url esdb://...")
	}
	if c.NodeID != "" && (len(c.NodeID) > 64 || strings.ContainsFunc(c.NodeID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})) {
		p = append(p, fmt.Sprintf("--node-id %q: want 1 to 64 letters, digits, '-', '_' or '.'", c.NodeID))
	}
	if c.Partitions < 0 || c.Partitions > 4096 {
		p = append(p, fmt.Sprintf("--partitions %d: want 1 to 4096 (0: the ledger's)", c.Partitions))
	}
	if c.LeaseTime < 2*time.Second || c.LeaseTime > 5*time.Minute {
		p = append(p, fmt.Sprintf("--lease-time %s: want 2s to 5m", c.LeaseTime))
	}
	if !c.NoPayloadEncryption && c.KeyStore == KeyStoreLocal {
		p = append(p, "--cluster with --key-store local: each node's data keys would be in its own data directory, where the other nodes cannot read them: "+
			"use --key-store ledger (the default in a cluster) or --no-payload-encryption")
	}
	if c.SealKeyFile == "" {
		p = append(p, "--cluster: give every node the same --seal-key-file (otherwise each creates its own key, and the seals of one do not verify with another's)")
	}
	return p
}

// storeSchemes are the connection-string schemes the KurrentDB client takes.
var storeSchemes = map[string]bool{
	"esdb": true, "esdb+discover": true, "kurrentdb": true, "kurrentdb+discover": true,
	"kurrent": true, "kurrent+discover": true, "kdb": true, "kdb+discover": true,
}

// redactURL hides a password in a connection string for messages and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// KeysDir is where the key store (the data keys of payload encryption) lives.
// It is not a cache: without it the payloads it holds keys for are lost.
func (c Config) KeysDir() string { return filepath.Join(c.DataDir, "keys") }

// MasterKeyPath is the master key file: --master-key-file, or the
// development default beside the data.
func (c Config) MasterKeyPath() string {
	if c.MasterKeyFile != "" {
		return c.MasterKeyFile
	}
	return filepath.Join(c.DataDir, "master.key")
}

// SealKeyPath is where the seal signing key is read (and created).
func (c Config) SealKeyPath() string {
	if c.SealKeyFile != "" {
		return c.SealKeyFile
	}
	return filepath.Join(c.DataDir, "audit", "seal.key")
}

// ViewsDir is where the view store lives. Each ledger has its own: positions
// differ between stores (after a copy, say), so the views of one must never
// be folded on top of another.
func (c Config) ViewsDir() string {
	if c.StoreURL == "" {
		return filepath.Join(c.DataDir, "views", "embedded")
	}
	ident := c.StoreURL
	if u, err := url.Parse(c.StoreURL); err == nil {
		ident = u.Scheme + "://" + u.Host // not the credentials nor the options
	}
	sum := sha256.Sum256([]byte(ident + "\x00" + c.StorePrefix))
	return filepath.Join(c.DataDir, "views", "esdb-"+hex.EncodeToString(sum[:6]))
}

// Redacted returns the store URL safe to log.
func (c Config) RedactedStoreURL() string { return redactURL(c.StoreURL) }

// ErrHelp is returned when -h was asked for.
var ErrHelp = flag.ErrHelp

// IsHelp reports whether err is a request for help.
func IsHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

// kindOf says what a flag takes, for an environment value that does not
// parse ("parse error" alone names neither).
func kindOf(v flag.Value) string {
	g, ok := v.(flag.Getter)
	if !ok {
		return "another value"
	}
	switch g.Get().(type) {
	case time.Duration:
		return "a duration such as 30s, 5m or 1h"
	case bool:
		return "true or false"
	case int, int64, uint, uint64:
		return "an integer"
	case float64:
		return "a number"
	}
	return "another value"
}
