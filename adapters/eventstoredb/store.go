package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/logging"
	"github.com/hookledger/hookledger/domain"
)

// Options configure the adapter.
type Options struct {
	// URL is the connection string: esdb://host:2113?tls=false for a single
	// node, esdb+discover://... or esdb://h1,h2,h3 for a cluster; credentials
	// as esdb://user:pass@host (they are only sent over TLS).
	URL string
	// Prefix is put before every stream name and filters $all (default
	// "hookledger-"). Two ledgers on one server need different prefixes.
	Prefix string
	// MaxAppendSize is the server's maximum append size in bytes (its
	// MaxAppendSize setting, default 1 MiB); larger appends are refused here.
	MaxAppendSize int
	// ReadTimeout bounds every read (default 30 s).
	ReadTimeout time.Duration
	// IdleResubscribe resubscribes a subscription that received nothing for
	// this long, guarding against a Recv blocked on a dead connection
	// (default 30 s). Resubscribing is cheap and loses nothing.
	IdleResubscribe time.Duration
	// RetryFor is how long a call retries while the server is unavailable,
	// within its context (default 30 s).
	RetryFor time.Duration
	// AttemptTimeout bounds one attempt of a call (default 15 s, above the
	// client's own 10 s append deadline): a client can leave a call blocked
	// for ever behind a failed discovery; such a client is replaced.
	AttemptTimeout time.Duration
	Log            zerolog.Logger
}

// DefaultPrefix is the stream prefix when Options.Prefix is empty.
const DefaultPrefix = "hookledger-"

// IsURL reports whether s is a connection string the client accepts: the
// schemes esdb, kurrentdb, kurrent and kdb, each with or without +discover.
func IsURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return false
	}
	switch strings.TrimSuffix(strings.ToLower(scheme), "+discover") {
	case "esdb", "kurrentdb", "kurrent", "kdb":
		return true
	}
	return false
}

// ErrAccessDenied: the server refused the credentials, or the user lacks the
// ACL the call needs.
var ErrAccessDenied = errors.New("eventstoredb: access denied")

// CheckAccess makes sure the configured user can do what hookledger needs:
// append (any user may) and read $all, which servers allow only to $admins
// unless an ACL on $all grants it. A user without it could append but the
// pipeline would never catch up, retrying with warnings only; this says so
// at start-up instead. A server that cannot be reached is not an access
// problem: nil is returned and the store's own retries apply.
func (s *Store) CheckAccess(ctx context.Context) error {
	_, err := s.ReadAll(ctx, 0, 1)
	if errors.Is(err, ErrAccessDenied) {
		return fmt.Errorf("%w\nhookledger reads $all (the pipeline and the audit tools): give the connection string's user the $admins group, or an ACL on $all granting it read ({\"$r\": [\"<user>\"]} in $all's stream metadata)", err)
	}
	return nil
}

// Store is the EventStoreDB adapter. It is safe for concurrent use.
type Store struct {
	opts    Options
	cfg     *kurrentdb.Configuration
	log     zerolog.Logger
	repeats *logging.Repeats // quiets the adapter's and the client's repeated lines

	mu     sync.Mutex
	client *clientRef
	closed bool

	// known holds recently seen event positions: a real server refuses to
	// read $all from a position that is not an event's, so ReadAll(p+1)
	// after an event at p starts at p and skips it.
	knownMu sync.Mutex
	known   map[uint64]struct{}
}

// Open parses the connection string and returns the store. It does not
// contact the server: the first call does, and calls made while the server
// is down retry (Options.RetryFor) and then return domain.ErrUnavailable.
func Open(opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = 1 << 20
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 30 * time.Second
	}
	if opts.IdleResubscribe <= 0 {
		opts.IdleResubscribe = 30 * time.Second
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 15 * time.Second
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = 30 * time.Second
	}
	if err := domain.ValidateStreamName(opts.Prefix + "x"); err != nil {
		return nil, fmt.Errorf("eventstoredb: prefix %q: %w", opts.Prefix, err)
	}
	cfg, err := kurrentdb.ParseConnectionString(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("eventstoredb: connection string: %w", err)
	}
	log := opts.Log.With().Str("component", "eventstoredb").Logger()
	repeats := logging.NewRepeats(30 * time.Second)
	cfg.Logger = clientLogger(log, repeats)
	return &Store{opts: opts, cfg: cfg, log: log, repeats: repeats, known: map[uint64]struct{}{}}, nil
}

// clientLogger maps the client's levels onto ours: its info and debug lines
// (connection chatter, repeated on every reconnect) go to debug, its
// warnings stay warnings, and its errors become warnings (it logs every
// failed call as an error; the adapter decides what is one). A line that
// repeats is logged once per window with the count of those left out.
func clientLogger(log zerolog.Logger, repeats *logging.Repeats) func(kurrentdb.LogLevel, string, ...interface{}) {
	return func(level kurrentdb.LogLevel, format string, args ...interface{}) {
		var ev *zerolog.Event
		switch level {
		case kurrentdb.LogError, kurrentdb.LogWarn:
			ev = log.Warn()
		default:
			ev = log.Debug()
		}
		if !ev.Enabled() {
			return
		}
		ok, left := repeats.Allow(format)
		if !ok {
			return
		}
		if left > 0 {
			ev = ev.Int("repeats_left_out", left)
		}
		ev.Str("source", "esdb-client").Msgf(format, args...)
	}
}

// clientRef counts the calls using a client. Clients before v1.4.2 panicked
// when closed while another goroutine asked for a connection; a replaced
// client is still closed only once no call of ours uses it (cheap, and safe
// whichever client is linked).
type clientRef struct {
	c       *kurrentdb.Client
	refs    int
	retired bool
}

// acquire returns the client, creating it if needed; release it after use.
func (s *Store) acquire() (*clientRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, domain.ErrClosed
	}
	if s.client == nil {
		c, err := kurrentdb.NewClient(s.cfg)
		if err != nil {
			return nil, fmt.Errorf("eventstoredb: client: %w", err)
		}
		s.client = &clientRef{c: c}
	}
	s.client.refs++
	return s.client, nil
}

func (s *Store) release(r *clientRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.refs--
	if r.retired && r.refs == 0 {
		r.c.Close()
	}
}

// retire replaces r: the next call creates a new client. It is called when
// the client reports its connection closed, which a client never recovers from.
func (s *Store) retire(r *clientRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == r {
		s.client = nil
		if ok, left := s.repeats.Allow("client closed"); ok {
			s.log.Info().Int("repeats_left_out", left).Msg("client connection closed; a new client will be created")
		}
	}
	if !r.retired {
		r.retired = true
		if r.refs == 0 {
			r.c.Close()
		}
	}
}

// Close closes the client; later calls return domain.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	r := s.client
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.client = nil
	s.mu.Unlock()
	if r != nil {
		s.retire(r)
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
