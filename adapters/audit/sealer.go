package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/domain"
)

// Sealer folds $all into the hash chain and appends a seal every Every events
// or Interval (whichever comes first, when there is anything to seal).
type Sealer struct {
	Store      domain.EventStore
	Key        ed25519.PrivateKey
	Every      int           // default 10,000 (at most domain.MaxSealEvents)
	Interval   time.Duration // default 10 s
	Now        func() time.Time
	NewEventID func() string
	Log        zerolog.Logger
	// OnFailure (may be nil) is told each time a seal cannot be written,
	// with when the current run of failures began; a seal written ends the
	// run. It must not block.
	OnFailure func(err error, failingSince time.Time)

	mu           sync.Mutex
	st           sealState
	failingSince time.Time
}

// noteFailure reports a seal not written (another sealer's seal is not a
// failure: the chain simply continues from it).
func (s *Sealer) noteFailure(err error) {
	if errors.Is(err, errForeignSeal) || s.OnFailure == nil {
		return
	}
	if s.failingSince.IsZero() {
		s.failingSince = s.Now()
	}
	s.OnFailure(err, s.failingSince)
}

// sealState is the chain as far as the sealer has folded it.
type sealState struct {
	index    uint64 // index of the last seal (0: none)
	seq      uint64 // last sequence number folded
	chain    domain.Hash
	sealHash domain.Hash
	sealedTo uint64 // ToSeq of the last seal
	rev      uint64 // revision of the last seal in AuditStream
	hasRev   bool
	pending  []byte // digests of seqs sealedTo+1 .. seq
	fromPos  domain.Position
	toPos    domain.Position
	// sealedPos and sealedAt describe the newest seal: the last position it
	// covers and when it was made.
	sealedPos domain.Position
	sealedAt  time.Time
}

var errForeignSeal = errors.New("another sealer appended a seal")

// ErrSealKeyMismatch: the ledger's seals are signed by another key than the
// sealer's. The sealer writes no seal then: a seal by a second key would
// fail every verification of the ledger from there on.
var ErrSealKeyMismatch = errors.New("the ledger is sealed by another key")

// mismatchRetry is how long the sealer waits before it reads the last seal
// again after ErrSealKeyMismatch (a configuration error: no quick retry).
const mismatchRetry = 30 * time.Second

// Sealed reports the newest seal this sealer knows: the last position it
// covers and when it was made (ok false: none yet).
func (s *Sealer) Sealed() (domain.Position, time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.sealedPos, s.st.sealedAt, !s.st.sealedAt.IsZero()
}

// Run seals until ctx ends; at the end it seals what is pending.
func (s *Sealer) Run(ctx context.Context) error {
	if s.Every <= 0 || s.Every > domain.MaxSealEvents {
		s.Every = 10_000
	}
	if s.Interval <= 0 {
		s.Interval = 10 * time.Second
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	for {
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			s.mu.Lock()
			if err := s.sealLocked(context.Background()); err != nil {
				s.Log.Error().Err(err).Msg("final seal failed")
			}
			s.mu.Unlock()
			return nil
		}
		wait := time.Second
		if errors.Is(err, ErrSealKeyMismatch) {
			s.Log.Error().Err(err).Msg("sealer stopped: give it the key the ledger is sealed with (--seal-key-file)")
			wait = mismatchRetry
		} else {
			s.Log.Warn().Err(err).Msg("sealer restarting from the last seal")
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// LastSeal returns the newest seal, or ok false when there is none.
func LastSeal(ctx context.Context, store domain.EventStore) (domain.AuditSealed, uint64, bool, error) {
	recs, err := store.ReadStream(ctx, domain.AuditStream, domain.RevisionEnd, domain.Backward, 1)
	if errors.Is(err, domain.ErrStreamNotFound) {
		return domain.AuditSealed{}, 0, false, nil
	}
	if err != nil {
		return domain.AuditSealed{}, 0, false, err
	}
	ev, err := domain.DecodeEvent(recs[0])
	if err != nil {
		return domain.AuditSealed{}, 0, false, err
	}
	seal, ok := ev.(domain.AuditSealed)
	if !ok {
		return domain.AuditSealed{}, 0, false, fmt.Errorf("%s holds a %s", domain.AuditStream, recs[0].Type)
	}
	return seal, recs[0].Revision, true, nil
}

func (s *Sealer) runOnce(ctx context.Context) error {
	last, rev, ok, err := LastSeal(ctx, s.Store)
	if err != nil {
		return err
	}
	st := sealState{}
	from := domain.Position(0)
	if id := domain.KeyIDFor(s.Key.Public().(ed25519.PublicKey)); ok && last.KeyID != id {
		err := fmt.Errorf("%w: seal #%d is signed by %s, this sealer's key is %s", ErrSealKeyMismatch, last.Index, last.KeyID, id)
		s.noteFailure(err)
		return err
	}
	if ok {
		chain, err1 := domain.ParseHash(last.ChainHash)
		sh, err2 := domain.ParseHash(last.SealHash)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("last seal is malformed")
		}
		st = sealState{index: last.Index, seq: last.ToSeq, chain: chain, sealHash: sh, sealedTo: last.ToSeq, rev: rev, hasRev: true,
			sealedPos: last.ToPosition, sealedAt: last.SealedAt}
		if from, err = s.resumePosition(ctx, last); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	tickErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(s.Interval)
		defer t.Stop()
		for {
			select {
			case <-subCtx.Done():
				return
			case <-t.C:
				s.mu.Lock()
				err := s.sealLocked(subCtx)
				s.mu.Unlock()
				if err != nil {
					tickErr <- err
					cancel()
					return
				}
			}
		}
	}()
	err = s.Store.SubscribeAll(subCtx, from, func(rec domain.RecordedEvent) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if rec.Stream == domain.AuditStream {
			if !s.st.hasRev || rec.Revision > s.st.rev {
				return errForeignSeal
			}
			return nil
		}
		s.st.seq++
		leaf := domain.LeafOf(rec)
		s.st.chain = domain.ChainNext(s.st.chain, s.st.seq, leaf)
		if len(s.st.pending) == 0 {
			s.st.fromPos = rec.Position
		}
		s.st.toPos = rec.Position
		s.st.pending = append(s.st.pending, leaf[:domain.DigestSize]...)
		if len(s.st.pending)/domain.DigestSize >= s.Every {
			return s.sealLocked(subCtx)
		}
		return nil
	})
	select {
	case e := <-tickErr:
		return e
	default:
	}
	return err
}

// sealLocked appends a seal over the pending events (s.mu held).
func (s *Sealer) sealLocked(ctx context.Context) error {
	n := uint64(len(s.st.pending) / domain.DigestSize)
	if n == 0 {
		return nil
	}
	seal := domain.AuditSealed{
		Index: s.st.index + 1, FromSeq: s.st.sealedTo + 1, ToSeq: s.st.seq, Count: n,
		FromPosition: s.st.fromPos, ToPosition: s.st.toPos, ChainHash: s.st.chain.String(),
		PrevSealHash: s.st.sealHash.String(), Digests: append([]byte(nil), s.st.pending...), SealedAt: s.Now().UTC(),
	}
	seal, err := domain.SignSeal(seal, s.Key)
	if err != nil {
		s.noteFailure(err)
		return err
	}
	data, err := domain.Encode(s.NewEventID(), seal, domain.Metadata{RecordedAt: seal.SealedAt, Actor: "sealer"})
	if err != nil {
		return err
	}
	exp := domain.NoStream
	if s.st.hasRev {
		exp = domain.Exact(s.st.rev)
	}
	res, err := s.Store.Append(ctx, domain.AuditStream, exp, data)
	if errors.Is(err, domain.ErrWrongRevision) {
		return errForeignSeal
	}
	if err != nil {
		err = fmt.Errorf("append seal: %w", err)
		s.noteFailure(err)
		return err
	}
	s.failingSince = time.Time{}
	sh, _ := domain.ParseHash(seal.SealHash)
	s.st.index, s.st.sealHash, s.st.sealedTo = seal.Index, sh, seal.ToSeq
	s.st.rev, s.st.hasRev = res.Revision, true
	s.st.sealedPos, s.st.sealedAt = seal.ToPosition, seal.SealedAt
	s.st.pending = s.st.pending[:0]
	s.Log.Debug().Uint64("index", seal.Index).Uint64("events", n).Uint64("to_seq", seal.ToSeq).Msg("ledger sealed")
	return nil
}

// resumePosition is where the chain continues after seal last: the position
// of its last sealed event. The seal names it (ToPosition), but positions are
// the store's own: a ledger copied to another store (hookledger copy) keeps
// its seals byte for byte, with the source's positions in them. So the named
// position is trusted only if the event there is the one the seal's last
// digest names; otherwise the event is found by its sequence number, counting
// the ledger's events from the start (once: the next seal names a position
// of this store).
func (s *Sealer) resumePosition(ctx context.Context, last domain.AuditSealed) (domain.Position, error) {
	want := last.Digests[(last.Count-1)*domain.DigestSize : last.Count*domain.DigestSize]
	matches := func(rec domain.RecordedEvent) bool {
		leaf := domain.LeafOf(rec)
		return string(leaf[:domain.DigestSize]) == string(want)
	}
	if recs, err := s.Store.ReadAll(ctx, last.ToPosition, 1); err == nil && len(recs) == 1 &&
		recs[0].Position == last.ToPosition && recs[0].Stream != domain.AuditStream && matches(recs[0]) {
		return last.ToPosition, nil
	}
	s.Log.Info().Uint64("seal", last.Index).Uint64("to_seq", last.ToSeq).Msg("the last seal's position is not this store's (a copied ledger?): finding its last event by sequence number")
	var seq uint64
	for from := domain.Position(0); ; {
		page, err := s.Store.ReadAll(ctx, from, 2048)
		if err != nil {
			return 0, err
		}
		if len(page) == 0 {
			return 0, fmt.Errorf("the ledger holds %d events, the last seal covers %d: events are missing", seq, last.ToSeq)
		}
		for _, rec := range page {
			if rec.Stream == domain.AuditStream {
				continue
			}
			if seq++; seq == last.ToSeq {
				if !matches(rec) {
					return 0, fmt.Errorf("event number %d (position %d) is not the one seal #%d sealed: verify the ledger", seq, rec.Position, last.Index)
				}
				return rec.Position, nil
			}
		}
		from = page[len(page)-1].Position + 1
	}
}
