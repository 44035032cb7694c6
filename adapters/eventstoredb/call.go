package eventstoredb

// Calls to the server: retried while transient, their errors translated
// to the domain's.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/hookledger/hookledger/domain"
)

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
