package app

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// CopyReport says what Copy did.
type CopyReport struct {
	AlreadyThere int // events found in the destination, identical to the source's first ones
	Copied       int
	Elapsed      time.Duration
}

// Copy copies src's ledger into dst in $all order: every event keeps its
// id, type, stream, revision, data and metadata, so leaf hashes, the audit
// chain and its seals verify on the destination as they did on the source
// (positions are re-mapped by the destination; seals hold positions for
// information only). Each append expects the event's own revision, so a
// destination holding anything else is refused rather than merged. A copy
// that was interrupted resumes: the destination must hold a prefix of the
// source, which is checked event by event and skipped.
func Copy(ctx context.Context, src, dst domain.EventStore, progress func(copied int)) (CopyReport, error) {
	start := time.Now()
	var rep CopyReport
	const page = 512
	// 1. The destination must be empty or a prefix of the source.
	var srcFrom, dstFrom domain.Position
	var srcBuf []domain.RecordedEvent
	for {
		dpage, err := dst.ReadAll(ctx, dstFrom, page)
		if err != nil {
			return rep, fmt.Errorf("read the destination: %w", err)
		}
		for _, d := range dpage {
			if len(srcBuf) == 0 {
				if srcBuf, err = src.ReadAll(ctx, srcFrom, page); err != nil {
					return rep, fmt.Errorf("read the source: %w", err)
				}
				if len(srcBuf) == 0 {
					return rep, fmt.Errorf("the destination holds more events than the source (%d+): it is not a copy of it", rep.AlreadyThere+1)
				}
			}
			s := srcBuf[0]
			srcBuf = srcBuf[1:]
			srcFrom = s.Position + 1
			if !sameEvent(s, d) {
				return rep, fmt.Errorf("the destination is not empty and its event %d (%s %s@%d) differs from the source's (%s %s@%d): refusing to merge ledgers",
					rep.AlreadyThere+1, d.ID, d.Stream, d.Revision, s.ID, s.Stream, s.Revision)
			}
			rep.AlreadyThere++
		}
		if len(dpage) < page {
			break
		}
		dstFrom = dpage[len(dpage)-1].Position + 1
	}
	// 2. Copy the rest, in order; consecutive events of one stream go in one
	// append (bounded so that it stays under a server's append limit).
	pending := srcBuf
	for {
		if len(pending) == 0 {
			var err error
			if pending, err = src.ReadAll(ctx, srcFrom, page); err != nil {
				return rep, fmt.Errorf("read the source: %w", err)
			}
			if len(pending) == 0 {
				break
			}
		}
		n := 1
		size := len(pending[0].Data) + len(pending[0].Metadata)
		for n < len(pending) && n < 64 && pending[n].Stream == pending[0].Stream {
			sz := len(pending[n].Data) + len(pending[n].Metadata)
			if size+sz > 256<<10 {
				break
			}
			size += sz
			n++
		}
		batch := pending[:n]
		first := batch[0]
		exp := domain.NoStream
		if first.Revision > 0 {
			exp = domain.Exact(first.Revision - 1)
		}
		evs := make([]domain.EventData, n)
		for i, e := range batch {
			evs[i] = domain.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}
		}
		res, err := dst.Append(ctx, first.Stream, exp, evs...)
		if err != nil {
			return rep, fmt.Errorf("copy %s@%d (event %d): %w", first.Stream, first.Revision, rep.AlreadyThere+rep.Copied+1, err)
		}
		if want := batch[n-1].Revision; res.Revision != want {
			return rep, fmt.Errorf("copy %s: the destination gave revision %d, the source has %d", first.Stream, res.Revision, want)
		}
		rep.Copied += n
		srcFrom = batch[n-1].Position + 1
		pending = pending[n:]
		if progress != nil && rep.Copied/1000 != (rep.Copied-n)/1000 {
			progress(rep.Copied)
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

func sameEvent(a, b domain.RecordedEvent) bool {
	return a.ID == b.ID && a.Stream == b.Stream && a.Revision == b.Revision && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Metadata, b.Metadata)
}
