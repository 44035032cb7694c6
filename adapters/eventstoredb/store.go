package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
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

func esdbCode(err error) (kurrentdb.ErrorCode, bool) {
	var e *kurrentdb.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// transient reports whether err is worth retrying with a fresh client.
func transient(err error) bool {
	code, ok := esdbCode(err)
	if errors.Is(err, errStuck) {
		return true
	}
	return ok && (code == kurrentdb.ErrorCodeConnectionClosed || code == kurrentdb.ErrorUnavailable || code == kurrentdb.ErrorCodeNotLeader || code == kurrentdb.ErrorAborted) ||
		brokenStream(err)
}

// brokenStream: the client's send on a request stream failed with io.EOF,
// which gRPC returns when the stream died (the server went away); the
// client reports it as an unknown error without reading the status. Nothing
// of such an append was committed (a server writes only after the whole
// request), and a retry carries the same event ids, so retrying is safe.
func brokenStream(err error) bool {
	code, ok := esdbCode(err)
	return ok && code == kurrentdb.ErrorCodeUnknown && errors.Is(err, io.EOF)
}

// call runs op with a client, recreating the client and retrying while the
// server is unavailable, up to RetryFor within ctx. Each attempt runs in its
// own goroutine: a client can block a call for ever (a caller queued behind a
// failed discovery), and the caller must not block with it.
func (s *Store) call(ctx context.Context, what string, op func(context.Context, *kurrentdb.Client) error) error {
	deadline := time.Now().Add(s.opts.RetryFor)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r, err := s.acquire()
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			defer s.release(r)
			done <- op(ctx, r.c)
		}()
		guard := time.NewTimer(min(max(time.Until(deadline), 100*time.Millisecond), s.opts.AttemptTimeout))
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		case <-guard.C:
			err = errStuck
			s.retire(r)
		}
		guard.Stop()
		if err == nil {
			return nil
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %s: %w", domain.ErrUnavailable, what, ctx.Err())
			}
		}
		if !transient(err) {
			return s.translate(err)
		}
		if s.isClosed() {
			return domain.ErrClosed
		}
		if code, _ := esdbCode(err); code == kurrentdb.ErrorCodeConnectionClosed || brokenStream(err) {
			s.retire(r)
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("%w: %s: %v", domain.ErrUnavailable, what, err)
		}
		s.log.Debug().Err(err).Int("attempt", attempt).Str("op", what).Msg("server unavailable, retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w (last error: %v)", domain.ErrUnavailable, what, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// errStuck: an attempt got no answer within AttemptTimeout.
var errStuck = errors.New("the client gave no answer in time; it is replaced")

var gotRevision = regexp.MustCompile(`but got '([^']*)'`)

// translate maps client errors to domain errors.
func (s *Store) translate(err error) error {
	if err == nil {
		return nil
	}
	if s.isClosed() {
		return domain.ErrClosed
	}
	if strings.Contains(err.Error(), "Maximum Append Size") || strings.Contains(err.Error(), "maximum-append-size-exceeded") {
		// The server's own limit (its trailer "exception:
		// maximum-append-size-exceeded"): --esdb-max-append-size is above it.
		return fmt.Errorf("%w: the EventStoreDB server refused the append as over its maximum append size (set --esdb-max-append-size to the server's MaxAppendSize): %v", domain.ErrEventTooLarge, err)
	}
	code, ok := esdbCode(err)
	if !ok {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("eventstoredb: %w", err)
	}
	switch code {
	case kurrentdb.ErrorCodeResourceNotFound, kurrentdb.ErrorCodeStreamDeleted:
		return fmt.Errorf("%w: %v", domain.ErrStreamNotFound, err)
	case kurrentdb.ErrorCodeDeadlineExceeded:
		return fmt.Errorf("eventstoredb: %w: %v", context.DeadlineExceeded, err)
	case kurrentdb.ErrorCodeConnectionClosed, kurrentdb.ErrorUnavailable, kurrentdb.ErrorCodeNotLeader, kurrentdb.ErrorAborted:
		return fmt.Errorf("%w: %v", domain.ErrUnavailable, err)
	case kurrentdb.ErrorCodeUnauthenticated:
		return fmt.Errorf("%w: the server refused the credentials (check the user and password in the connection string): %v", ErrAccessDenied, err)
	case kurrentdb.ErrorCodeAccessDenied:
		return fmt.Errorf("%w: %v", ErrAccessDenied, err)
	}
	return fmt.Errorf("eventstoredb: %w", err)
}

func (s *Store) remember(p uint64) {
	s.knownMu.Lock()
	if len(s.known) > 1<<16 {
		s.known = map[uint64]struct{}{}
	}
	s.known[p] = struct{}{}
	s.knownMu.Unlock()
}

func (s *Store) isKnown(p uint64) bool {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	_, ok := s.known[p]
	return ok
}

func expected(e domain.ExpectedRevision) kurrentdb.StreamState {
	switch {
	case e.IsNoStream():
		return kurrentdb.NoStream{}
	case e.IsStreamExists():
		return kurrentdb.StreamExists{}
	}
	if rev, ok := e.Revision(); ok {
		return kurrentdb.Revision(rev)
	}
	return kurrentdb.Any{}
}

// Append writes events to the prefixed stream.
func (s *Store) Append(ctx context.Context, stream string, exp domain.ExpectedRevision, events ...domain.EventData) (domain.AppendResult, error) {
	if err := domain.ValidateAppend(stream, events); err != nil {
		return domain.AppendResult{}, err
	}
	if err := domain.ValidateStreamName(s.opts.Prefix + stream); err != nil {
		return domain.AppendResult{}, err
	}
	size := 0
	data := make([]kurrentdb.EventData, len(events))
	for i, e := range events {
		id, err := uuid.Parse(e.ID)
		if err != nil {
			return domain.AppendResult{}, &domain.ValidationError{Field: "events", Reason: fmt.Sprintf("event %d id %q is not a UUID (EventStoreDB requires one)", i, e.ID)}
		}
		// Counted as servers since 24.10.5 count an append.
		size += len(e.Data) + len(e.Metadata) + 2*len(e.Type)
		data[i] = kurrentdb.EventData{EventID: id, EventType: e.Type, ContentType: kurrentdb.ContentTypeBinary, Data: e.Data, Metadata: e.Metadata}
	}
	if size > s.opts.MaxAppendSize {
		return domain.AppendResult{}, fmt.Errorf("%w: the append is %d bytes, over the EventStoreDB server's maximum append size of %d (raise the server's MaxAppendSize and --esdb-max-append-size together)",
			domain.ErrEventTooLarge, size, s.opts.MaxAppendSize)
	}
	if s.isClosed() {
		return domain.AppendResult{}, domain.ErrClosed
	}
	var res *kurrentdb.WriteResult
	deadline := time.Now().Add(s.opts.RetryFor)
	var err error
	for {
		err = s.call(ctx, "append", func(ctx context.Context, c *kurrentdb.Client) error {
			var err error
			res, err = c.AppendToStream(ctx, s.opts.Prefix+stream, kurrentdb.AppendToStreamOptions{StreamState: expected(exp)}, data...)
			return err
		})
		// A server deadline on a write says nothing about whether it was
		// committed (it may have timed out waiting for replication). The
		// same events, with the same ids, are sent again: the server answers
		// an idempotent success if they were written, or writes them now.
		// Never report as failed a write that may have succeeded.
		if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		s.log.Debug().Err(err).Str("stream", stream).Msg("append deadline exceeded; retrying with the same event ids")
	}
	if code, ok := esdbCode(err); ok && code == kurrentdb.ErrorCodeWrongExpectedVersion {
		return domain.AppendResult{}, s.wrongRevision(ctx, stream, exp, err)
	}
	if err != nil {
		return domain.AppendResult{}, err
	}
	pos := res.CommitPosition
	if pos == 0 || pos == math.MaxUint64 {
		// An idempotent success may carry no position: find the last event
		// of this append in the stream.
		if pos, err = s.positionOf(ctx, stream, res.NextExpectedVersion, events[len(events)-1].ID); err != nil {
			return domain.AppendResult{}, err
		}
	}
	s.remember(pos)
	return domain.AppendResult{Revision: res.NextExpectedVersion, Position: domain.Position(pos)}, nil
}

// positionOf reads the position of the event id at revision rev of stream.
func (s *Store) positionOf(ctx context.Context, stream string, rev uint64, id string) (uint64, error) {
	recs, err := s.ReadStream(ctx, stream, rev, domain.Forward, 1)
	if err != nil {
		return 0, fmt.Errorf("eventstoredb: the append succeeded without a position, and reading it failed: %w", err)
	}
	if len(recs) != 1 || recs[0].ID != id || recs[0].Position == 0 {
		return 0, fmt.Errorf("eventstoredb: the append succeeded without a position, and revision %d of %s is not its event", rev, stream)
	}
	return uint64(recs[0].Position), nil
}

// wrongRevision builds the domain error; the client only says the current
// revision in its message, so it is read from there (or from the stream).
func (s *Store) wrongRevision(ctx context.Context, stream string, exp domain.ExpectedRevision, err error) error {
	wre := &domain.WrongRevisionError{Stream: stream, Expected: exp}
	if m := gotRevision.FindStringSubmatch(err.Error()); m != nil {
		if m[1] == "no_stream" {
			return wre
		}
		if n, perr := strconv.ParseUint(m[1], 10, 64); perr == nil {
			wre.Actual, wre.HasActual = n, true
			return wre
		}
	}
	if last, rerr := s.ReadStream(ctx, stream, domain.RevisionEnd, domain.Backward, 1); rerr == nil && len(last) == 1 {
		wre.Actual, wre.HasActual = last[0].Revision, true
	}
	return wre
}

// convert maps a client event to the domain's, stripping the prefix.
func (s *Store) convert(e *kurrentdb.RecordedEvent) domain.RecordedEvent {
	pos := e.Position.Commit
	if pos == math.MaxUint64 { // older servers give no $all position on stream reads
		pos = 0
	} else {
		s.remember(pos)
	}
	return domain.RecordedEvent{
		ID: e.EventID.String(), Stream: strings.TrimPrefix(e.StreamID, s.opts.Prefix), Revision: e.EventNumber,
		Position: domain.Position(pos), Type: e.EventType, Data: e.Data, Metadata: e.UserMetadata, Created: e.CreatedDate,
	}
}

func (s *Store) ours(e *kurrentdb.RecordedEvent) bool {
	return e != nil && strings.HasPrefix(e.StreamID, s.opts.Prefix) && !strings.HasPrefix(e.EventType, "$")
}

// recvSafe is ReadStream.Recv without its panic: the client panics
// ("unreachable code") on a read message it does not know, which a newer
// server may send; that must fail one read, not kill the process.
func recvSafe(rs *kurrentdb.ReadStream) (ev *kurrentdb.ResolvedEvent, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, err = nil, fmt.Errorf("eventstoredb: the client met a read message it does not know (%v): is the server newer than the client?", r)
		}
	}()
	return rs.Recv()
}

// readEach runs a read and calls fn for every event until the read ends.
func (s *Store) readEach(ctx context.Context, what string, open func(context.Context, *kurrentdb.Client) (*kurrentdb.ReadStream, error), fn func(*kurrentdb.RecordedEvent)) error {
	return s.call(ctx, what, func(ctx context.Context, c *kurrentdb.Client) error {
		ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout)
		defer cancel()
		rs, err := open(ctx, c)
		if err != nil {
			return err
		}
		defer rs.Close()
		var got []*kurrentdb.RecordedEvent
		for {
			ev, err := recvSafe(rs)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if ev.Event != nil {
				got = append(got, ev.Event)
			}
		}
		// Handed over only once the read completed, so a retried read does
		// not repeat events.
		for _, e := range got {
			fn(e)
		}
		return nil
	})
}

// ReadStream reads the prefixed stream.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, dir domain.Direction, max int) ([]domain.RecordedEvent, error) {
	if err := domain.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	if s.isClosed() {
		return nil, domain.ErrClosed
	}
	opts := kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: kurrentdb.Revision(from)}
	if dir == domain.Backward {
		opts.Direction = kurrentdb.Backwards
		if from == domain.RevisionEnd {
			opts.From = kurrentdb.End{}
		}
	}
	var out []domain.RecordedEvent
	err := s.readEach(ctx, "read stream", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
		return c.ReadStream(ctx, s.opts.Prefix+stream, opts, uint64(max))
	}, func(e *kurrentdb.RecordedEvent) { out = append(out, s.convert(e)) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadAll returns up to max of hookledger's events with position >= from.
// The protocol has no filter on reads, so other streams are skipped here.
func (s *Store) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if max <= 0 {
		return nil, &domain.ValidationError{Field: "max", Reason: "must be positive"}
	}
	if s.isClosed() {
		return nil, domain.ErrClosed
	}
	var start kurrentdb.AllPosition = kurrentdb.Start{}
	skipBefore := uint64(from)
	// A real server refuses to read from a position that is not an event's.
	// Callers pass an event's position or one past it (paging, or resuming
	// after a seal or a checkpoint), so when from-1 is not known to be an
	// event, it is tried first and from second.
	var fallback kurrentdb.AllPosition
	if from > 0 {
		p := uint64(from)
		start = kurrentdb.Position{Commit: p - 1, Prepare: p - 1}
		if !s.isKnown(p - 1) {
			fallback = kurrentdb.Position{Commit: p, Prepare: p}
		}
	}
	chunk := uint64(min(4096, 2*max+16))
	var out []domain.RecordedEvent
	for len(out) < max {
		var n uint64
		var last uint64
		err := s.readEach(ctx, "read $all", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
			return c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Forwards, From: start}, chunk)
		}, func(e *kurrentdb.RecordedEvent) {
			n++
			last = e.Position.Commit
			if e.Position.Commit < skipBefore || len(out) >= max || !s.ours(e) {
				return
			}
			out = append(out, s.convert(e))
		})
		if err != nil && fallback != nil && !errors.Is(err, domain.ErrUnavailable) && !errors.Is(err, domain.ErrClosed) && ctx.Err() == nil {
			start, fallback = fallback, nil
			continue
		}
		if err != nil {
			return nil, err
		}
		fallback = nil
		if n < chunk {
			break
		}
		// Continue after the last event read: inclusive reads start at it.
		start, skipBefore = kurrentdb.Position{Commit: last, Prepare: last}, last+1
	}
	return out, nil
}

// Head returns the position of hookledger's last event (0 if none), reading
// $all backward from the end.
func (s *Store) Head(ctx context.Context) (domain.Position, error) {
	if s.isClosed() {
		return 0, domain.ErrClosed
	}
	var start kurrentdb.AllPosition = kurrentdb.End{}
	const chunk = 256
	for {
		var n uint64
		var found, oldest uint64
		err := s.readEach(ctx, "read $all backward", func(ctx context.Context, c *kurrentdb.Client) (*kurrentdb.ReadStream, error) {
			return c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: start}, chunk)
		}, func(e *kurrentdb.RecordedEvent) {
			n++
			oldest = e.Position.Commit
			if found == 0 && s.ours(e) {
				found = e.Position.Commit
			}
		})
		if err != nil {
			return 0, err
		}
		if found > 0 {
			s.remember(found)
			return domain.Position(found), nil
		}
		if n < chunk {
			return 0, nil
		}
		start = kurrentdb.Position{Commit: oldest, Prepare: oldest} // backward reads start before it
	}
}

// SubscribeAll delivers hookledger's events after position `after`: history,
// then live. A subscription that drops, or is silent for IdleResubscribe, is
// resumed from the last position seen; events at or before it are skipped, so
// nothing is delivered twice.
func (s *Store) SubscribeAll(ctx context.Context, after domain.Position, handle func(domain.RecordedEvent) error) error {
	if s.isClosed() {
		return domain.ErrClosed
	}
	last := uint64(after) // last event delivered (dedup threshold)
	// resume is where to resubscribe from: the position of the last event
	// delivered or of the last checkpoint, whichever is later, kept whole.
	// A checkpoint's prepare position matters: servers send post-positions
	// (P, 0), and 25.0.0 sends the end of the log (E, 0) when going live; the
	// next event is then written at (P, P), which a resubscription from
	// (P, P) would skip.
	resume := kurrentdb.Position{Commit: uint64(after), Prepare: uint64(after)}
	backoff := 50 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.isClosed() {
			return domain.ErrClosed
		}
		r, err := s.acquire()
		if err != nil {
			return err
		}
		var from kurrentdb.AllPosition = kurrentdb.Start{}
		if resume.Commit > 0 {
			from = resume
		}
		subCtx, cancel := context.WithCancel(ctx)
		sub, err := s.subscribe(subCtx, r, from)
		if err != nil {
			cancel()
			s.release(r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ok, left := s.repeats.Allow("subscribe failed"); ok {
				s.log.Warn().Err(err).Uint64("from", resume.Commit).Uint64("from_prepare", resume.Prepare).Dur("retry_in", backoff).Int("repeats_left_out", left).Msg("subscribe to $all failed; retrying")
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		err = s.pump(subCtx, sub, &last, &resume, handle, &backoff)
		sub.Close()
		cancel()
		s.release(r)
		var he handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ok, left := s.repeats.Allow("subscription ended"); ok {
			s.log.Info().Err(err).Uint64("resume_after", resume.Commit).Uint64("resume_after_prepare", resume.Prepare).Int("repeats_left_out", left).Msg("subscription ended; resubscribing")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// subscribe opens a filtered subscription on r, retiring r when it reports
// its connection closed, and giving up on a client stuck for RetryFor.
func (s *Store) subscribe(ctx context.Context, r *clientRef, from kurrentdb.AllPosition) (*kurrentdb.Subscription, error) {
	type result struct {
		sub *kurrentdb.Subscription
		err error
	}
	done := make(chan result, 1)
	go func() {
		sub, err := r.c.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{
			From:   from,
			Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: []string{s.opts.Prefix}},
		})
		done <- result{sub, err}
	}()
	guard := time.NewTimer(s.opts.AttemptTimeout)
	defer guard.Stop()
	select {
	case res := <-done:
		if code, ok := esdbCode(res.err); ok && code == kurrentdb.ErrorCodeConnectionClosed {
			s.retire(r)
		}
		return res.sub, res.err
	case <-ctx.Done():
		go func() { // close it if it opens after all
			if res := <-done; res.sub != nil {
				res.sub.Close()
			}
		}()
		return nil, ctx.Err()
	case <-guard.C:
		s.retire(r)
		return nil, errors.New("eventstoredb: subscribing got no answer; the client is replaced")
	}
}

type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }

// pump reads one subscription until it drops, goes silent, or the handler
// fails (handlerError).
func (s *Store) pump(ctx context.Context, sub *kurrentdb.Subscription, last *uint64, resume *kurrentdb.Position, handle func(domain.RecordedEvent) error, backoff *time.Duration) error {
	events := make(chan *kurrentdb.SubscriptionEvent)
	go func() {
		defer close(events)
		for {
			ev := sub.Recv()
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
			if ev.SubscriptionDropped != nil {
				return
			}
		}
	}()
	idle := time.NewTimer(s.opts.IdleResubscribe)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-idle.C:
			return errors.New("no message from the subscription within the idle limit")
		case ev, ok := <-events:
			if !ok {
				return ctx.Err()
			}
			idle.Reset(s.opts.IdleResubscribe)
			switch {
			case ev.SubscriptionDropped != nil:
				return ev.SubscriptionDropped.Error
			case ev.CheckPointReached != nil:
				*resume = laterPosition(*resume, *ev.CheckPointReached)
			case ev.EventAppeared != nil && ev.EventAppeared.Event != nil:
				e := ev.EventAppeared.Event
				p := e.Position.Commit
				if p <= *last && *last > 0 || !s.ours(e) {
					continue
				}
				if err := handle(s.convert(e)); err != nil {
					return handlerError{err}
				}
				*last, *resume = p, laterPosition(*resume, e.Position)
				*backoff = 50 * time.Millisecond
			}
		}
	}
}

// laterPosition is the later of two $all positions, compared as the server
// compares them: by commit, then prepare.
func laterPosition(a, b kurrentdb.Position) kurrentdb.Position {
	if b.Commit > a.Commit || (b.Commit == a.Commit && b.Prepare > a.Prepare) {
		return b
	}
	return a
}

var _ domain.EventStore = (*Store)(nil)
