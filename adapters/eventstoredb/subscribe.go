package eventstoredb

// The subscription to the log: history, then live, resumed where it
// dropped.

import (
	"context"
	"errors"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"

	"github.com/hookledger/hookledger/domain"
)

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
				s.log.Warn().Err(err).Uint64("from", resume.Commit).Uint64("from_prepare", resume.Prepare).Dur("retry_in_ms", backoff).Int("repeats_left_out", left).Msg("subscribe to $all failed; retrying")
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
