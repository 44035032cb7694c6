package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
)

// Problem kinds (stable strings for reports and exit codes).
const (
	KindChanged     = "event_changed"
	KindRemoved     = "event_removed"
	KindInserted    = "event_inserted"
	KindReordered   = "events_reordered"
	KindSealForged  = "seal_invalid"
	KindSealMissing = "seal_missing"
	KindSealKey     = "seal_key_mismatch"
	KindUnreadable  = "ledger_unreadable"
	KindTruncated   = "ledger_truncated"
	KindUnexpected  = "seal_not_found"
)

// Problem is the first disagreement between the ledger and its seals.
type Problem struct {
	Kind     string          `json:"kind"`
	Position domain.Position `json:"position"`
	Seq      uint64          `json:"seq,omitempty"`
	Seal     uint64          `json:"seal,omitempty"`
	Detail   string          `json:"detail"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s at position %d: %s", p.Kind, p.Position, p.Detail)
}

// Report is the outcome of a verification.
type Report struct {
	OK       bool            `json:"ok"`
	Events   uint64          `json:"events"`   // ledger events read (seals excluded)
	Sealed   uint64          `json:"sealed"`   // of which covered by a valid seal
	Unsealed uint64          `json:"unsealed"` // after the last seal (not yet sealed)
	Seals    uint64          `json:"seals"`
	KeyID    string          `json:"key_id"`
	Head     domain.Position `json:"head"`
	// LastSeal is the newest valid seal read: an auditor records its hash
	// and position and later pins them (Expect).
	LastSeal *SealRef `json:"last_seal,omitempty"`
	Problem  *Problem `json:"problem,omitempty"`
}

// SealRef names one seal.
type SealRef struct {
	Index      uint64          `json:"index"`
	Position   domain.Position `json:"position"`    // of the seal event
	ToPosition domain.Position `json:"to_position"` // last position it covers
	Hash       string          `json:"hash"`
	SealedAt   time.Time       `json:"sealed_at"`
}

// Expect is what an auditor recorded earlier and pins now: the ledger must
// reach at least Head, and the seal with hash SealHash must be one of its
// valid seals. A ledger cut short after its last seal, or rolled back to an
// older copy, passes the seals alone; it does not pass these.
type Expect struct {
	Head     domain.Position
	SealHash string
}

// check adds the first unmet expectation to rep as its problem.
func (e Expect) check(rep *Report, sealFound bool) {
	if rep.Problem != nil {
		return
	}
	if e.Head > 0 && rep.Head < e.Head {
		rep.Problem = &Problem{Kind: KindTruncated, Position: rep.Head,
			Detail: fmt.Sprintf("the ledger ends at position %d but the expected head is %d: events were removed or this is an older copy", rep.Head, e.Head)}
	} else if e.SealHash != "" && !sealFound {
		rep.Problem = &Problem{Kind: KindUnexpected, Position: rep.Head,
			Detail: fmt.Sprintf("the expected seal %s is not among the ledger's valid seals: it was removed, or this is another ledger", e.SealHash)}
	}
	rep.OK = rep.Problem == nil
}

type pendingLeaf struct {
	seq    uint64
	pos    domain.Position
	digest [domain.DigestSize]byte
	chain  domain.Hash
}

// verifier checks a ledger read in order: events and seals as they come.
type verifier struct {
	pub      ed25519.PublicKey
	rep      Report
	seq      uint64
	chain    domain.Hash
	pending  []pendingLeaf
	index    uint64
	sealHash domain.Hash
	sealedTo uint64
	// checkpoint is the index of the seal a range verification starts from.
	checkpoint uint64
	expect     Expect
	sealFound  bool
}

func newVerifier(pub ed25519.PublicKey) *verifier {
	return &verifier{pub: pub, rep: Report{KeyID: domain.KeyIDFor(pub)}}
}

func (v *verifier) fail(p *Problem) *Problem {
	v.rep.Problem = p
	return p
}

// event folds one non-seal event given its leaf hash.
func (v *verifier) event(pos domain.Position, leaf domain.Hash) {
	v.seq++
	v.rep.Events++
	v.rep.Head = pos
	v.chain = domain.ChainNext(v.chain, v.seq, leaf)
	var d [domain.DigestSize]byte
	copy(d[:], leaf[:domain.DigestSize])
	v.pending = append(v.pending, pendingLeaf{seq: v.seq, pos: pos, digest: d, chain: v.chain})
}

// seal checks one seal against the events read since the previous one.
func (v *verifier) seal(pos domain.Position, s domain.AuditSealed) *Problem {
	v.rep.Head = pos
	if s.Index != v.index+1 {
		return v.fail(&Problem{Kind: KindSealMissing, Position: pos, Seal: s.Index,
			Detail: fmt.Sprintf("seal #%d follows seal #%d: a seal was removed or reordered", s.Index, v.index)})
	}
	if err := domain.CheckSeal(s, v.pub); err != nil {
		kind := KindSealForged
		if errors.Is(err, domain.ErrSealKey) {
			kind = KindSealKey
		}
		return v.fail(&Problem{Kind: kind, Position: pos, Seal: s.Index, Detail: fmt.Sprintf("seal #%d: %v", s.Index, err)})
	}
	if s.PrevSealHash != v.sealHash.String() || s.FromSeq != v.sealedTo+1 {
		return v.fail(&Problem{Kind: KindSealMissing, Position: pos, Seal: s.Index,
			Detail: fmt.Sprintf("seal #%d does not continue seal #%d (previous hash or range)", s.Index, v.index)})
	}
	n := int(s.Count)
	for i := 0; i < n; i++ {
		want := s.Digests[i*domain.DigestSize : (i+1)*domain.DigestSize]
		if i >= len(v.pending) {
			at := v.rep.Head
			if len(v.pending) > 0 {
				at = v.pending[len(v.pending)-1].pos
			}
			return v.fail(&Problem{Kind: KindRemoved, Position: at, Seq: s.FromSeq + uint64(i), Seal: s.Index,
				Detail: fmt.Sprintf("seal #%d covers %d events, the ledger has %d before it: events were removed", s.Index, n, len(v.pending))})
		}
		got := v.pending[i]
		if string(got.digest[:]) == string(want) {
			continue
		}
		digestAt := func(k int) string {
			if k < 0 || k >= n {
				return ""
			}
			return string(s.Digests[k*domain.DigestSize : (k+1)*domain.DigestSize])
		}
		pendingAt := func(k int) string {
			if k < 0 || k >= len(v.pending) {
				return "-"
			}
			return string(v.pending[k].digest[:])
		}
		p := &Problem{Position: got.pos, Seq: got.seq, Seal: s.Index}
		switch {
		case pendingAt(i) == digestAt(i+1) && pendingAt(i+1) == string(want):
			p.Kind = KindReordered
			p.Detail = fmt.Sprintf("the events at positions %d and %d are in each other's place", got.pos, v.pending[i+1].pos)
		case pendingAt(i) == digestAt(i+1):
			p.Kind = KindRemoved
			p.Detail = fmt.Sprintf("the event sealed as number %d is missing before position %d", got.seq, got.pos)
		case pendingAt(i+1) == string(want):
			p.Kind = KindInserted
			p.Detail = fmt.Sprintf("the event at position %d was not in the sealed ledger", got.pos)
		default:
			p.Kind = KindChanged
			p.Detail = fmt.Sprintf("the event at position %d differs from the sealed one (stream, revision, id, type, data or metadata)", got.pos)
		}
		return v.fail(p)
	}
	last := v.pending[n-1]
	if last.chain.String() != s.ChainHash || last.seq != s.ToSeq {
		return v.fail(&Problem{Kind: KindChanged, Position: last.pos, Seq: last.seq, Seal: s.Index,
			Detail: fmt.Sprintf("the chain hash at seal #%d does not match", s.Index)})
	}
	v.pending = append(v.pending[:0], v.pending[n:]...)
	v.index, v.sealedTo = s.Index, s.ToSeq
	v.sealHash, _ = domain.ParseHash(s.SealHash)
	v.rep.Seals++
	v.rep.Sealed += uint64(n)
	v.rep.LastSeal = &SealRef{Index: s.Index, Position: pos, ToPosition: s.ToPosition, Hash: s.SealHash, SealedAt: s.SealedAt}
	if v.expect.SealHash != "" && s.SealHash == v.expect.SealHash {
		v.sealFound = true
	}
	return nil
}

func (v *verifier) finish() Report {
	v.rep.Unsealed = uint64(len(v.pending))
	v.rep.OK = v.rep.Problem == nil
	v.expect.check(&v.rep, v.sealFound)
	return v.rep
}

// Progress receives the report so far every so many events (may be nil).
type Progress func(Report)

// Verify replays the store's whole ledger from position 0 and checks it
// against its seals with the trusted public key. It stops at the first
// problem. Events after the last seal are counted as unsealed.
func Verify(ctx context.Context, store domain.EventStore, pub ed25519.PublicKey, progress Progress) (Report, error) {
	return newVerifier(pub).run(ctx, store, 0, progress)
}

// VerifyExpecting is Verify that also checks what the auditor pinned.
func VerifyExpecting(ctx context.Context, store domain.EventStore, pub ed25519.PublicKey, exp Expect, progress Progress) (Report, error) {
	v := newVerifier(pub)
	v.expect = exp
	return v.run(ctx, store, 0, progress)
}

// run reads $all from position from and folds it into the verifier.
//
// From a store that reads into memory handed back (domain.PageReader) the
// pages go round a ring, as in a rebuild: each is read into again once its
// events are hashed and folded, which is all the verifier does with them.
func (v *verifier) run(ctx context.Context, store domain.EventStore, from domain.Position, progress Progress) (Report, error) {
	type page struct {
		recs []domain.RecordedEvent
		mem  *domain.Page // nil: ReadAll's own memory
	}
	pages := make(chan page, 4)
	ring := storekit.NewPageRing(store, cap(pages)+2)
	readErr := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pages)
		for {
			recs, mem, err := ring.Read(rctx, from, 2048)
			pg := page{recs, mem}
			if err != nil {
				readErr <- err
				return
			}
			if len(pg.recs) == 0 {
				return
			}
			from = pg.recs[len(pg.recs)-1].Position + 1
			select {
			case pages <- pg:
			case <-rctx.Done():
				return
			}
		}
	}()
	leaves := make([]domain.Hash, 0, 2048)
	for pg := range pages {
		leaves = leafHashes(pg.recs, leaves[:0])
		for i, rec := range pg.recs {
			if rec.Stream != domain.AuditStream {
				v.event(rec.Position, leaves[i])
				continue
			}
			ev, err := domain.DecodeEvent(rec)
			s, ok := ev.(domain.AuditSealed)
			if err != nil || !ok {
				v.fail(&Problem{Kind: KindSealForged, Position: rec.Position, Detail: fmt.Sprintf("undecodable seal event %s: %v", rec.Type, err)})
				return v.finish(), nil
			}
			if s.Index <= v.checkpoint {
				continue // at or before the checkpoint seal of a range verification
			}
			if p := v.seal(rec.Position, s); p != nil {
				return v.finish(), nil
			}
		}
		ring.Done(pg.mem) // hashed and folded: nothing of it is kept
		if progress != nil {
			progress(v.rep)
		}
	}
	select {
	case err := <-readErr:
		var ce *domain.CorruptError
		if errors.As(err, &ce) {
			v.fail(&Problem{Kind: KindUnreadable, Position: ce.Position, Detail: err.Error()})
			return v.finish(), nil
		}
		return v.finish(), err
	default:
	}
	return v.finish(), ctx.Err()
}

// leafHashes computes the leaf hash of every event of a page, spreading the
// work over the machine's cores (the chain itself is sequential and cheap).
func leafHashes(page []domain.RecordedEvent, out []domain.Hash) []domain.Hash {
	out = append(out, make([]domain.Hash, len(page))...)
	workers := runtime.GOMAXPROCS(0)
	if workers > 8 {
		workers = 8
	}
	if len(page) < 256 || workers == 1 {
		for i, rec := range page {
			out[i] = domain.LeafOf(rec)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(page) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(page))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = domain.LeafOf(page[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// bounded serves a store's $all only up to position to.
type bounded struct {
	domain.EventStore
	to domain.Position
}

func (b bounded) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	if from > b.to {
		return nil, nil
	}
	page, err := b.EventStore.ReadAll(ctx, from, max)
	for i, e := range page {
		if e.Position > b.to {
			return page[:i], err
		}
	}
	return page, err
}

// VerifyRange verifies the ledger from position from to position to (0: the
// head). The chain needs everything before from, so it starts at the last
// seal that ends before from, trusting it only after checking its signature:
// a signed seal is a checkpoint of the whole chain up to it.
func VerifyRange(ctx context.Context, store domain.EventStore, pub ed25519.PublicKey, from, to domain.Position, progress Progress) (Report, error) {
	if to != 0 {
		store = bounded{EventStore: store, to: to}
	}
	if from <= 1 {
		return Verify(ctx, store, pub, progress)
	}
	var start *domain.AuditSealed
	var startPos domain.Position
	for rev := uint64(0); ; {
		recs, err := store.ReadStream(ctx, domain.AuditStream, rev, domain.Forward, 256)
		if errors.Is(err, domain.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return Report{}, err
		}
		for _, r := range recs {
			ev, err := domain.DecodeEvent(r)
			s, ok := ev.(domain.AuditSealed)
			if err != nil || !ok || s.ToPosition >= from {
				goto found
			}
			start, startPos = &s, r.Position
		}
		if len(recs) < 256 {
			break
		}
		rev = recs[len(recs)-1].Revision + 1
	}
found:
	if start == nil {
		return Verify(ctx, store, pub, progress)
	}
	v := newVerifier(pub)
	if err := domain.CheckSeal(*start, pub); err != nil {
		v.fail(&Problem{Kind: KindSealForged, Position: startPos, Seal: start.Index, Detail: fmt.Sprintf("checkpoint seal #%d: %v", start.Index, err)})
		return v.finish(), nil
	}
	v.seq, v.sealedTo, v.index, v.checkpoint = start.ToSeq, start.ToSeq, start.Index, start.Index
	v.chain, _ = domain.ParseHash(start.ChainHash)
	v.sealHash, _ = domain.ParseHash(start.SealHash)
	return v.run(ctx, store, start.ToPosition+1, progress)
}
