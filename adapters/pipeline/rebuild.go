package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// RebuildResult is what Rebuild folded.
type RebuildResult struct {
	Views *projections.Views
	// Unscheduled lists fan-outs whose deliveries are not in the ledger yet
	// (the process stopped mid fan-out); the next start appends them.
	Unscheduled []*fanoutJob
	// Messages and Deliveries count what was published and scheduled.
	Messages, Deliveries int
}

// rebuildCommitEvery is how many events a rebuild folds between commits to
// the view store: large batches, few of them.
var rebuildCommitEvery = 65536

// rebuildLastBatch bounds a rebuild's last commit batch: the batch before it
// is committed early, when no more than this is left to fold. The last
// commit is written and flushed with nothing left to fold beside it, so
// one core idled while the other did it: for the bench's ledger, a batch
// of 51,000 events took the last sixth of the rebuild. Committed early,
// that batch is flushed while the fold does the rest, and what is left
// alone at the end is small. Measured in docs/benchmarks.md: a rebuild of
// the bench's ledger +6-9% (24,576 the same, 8,192 half of it).
const rebuildLastBatch = 16384

// Rebuild folds the ledger from position 0 up to upTo (0: the head) into fresh
// views held in memory, recomputing each message's matches at its own
// position so that a fan-out cut short by a crash is found and finished on
// the next start.
func Rebuild(ctx context.Context, store domain.EventStore, upTo domain.Position, progress func(domain.Position)) (RebuildResult, error) {
	return rebuild(ctx, store, nil, upTo, progress)
}

// RebuildInto does what Rebuild does into an empty view store, committing in
// large batches; the last commit saves the unfinished fan-outs for the next
// start.
//
// While it runs it lets the heap grow to three times what is live, not
// twice (GOGC 200, unless the process runs with a higher setting or none):
// what is live is bounded by one commit batch (about 100 MiB), and the
// collector's work falls by half. Measured in docs/benchmarks.md: a
// rebuild 5-17% faster for 35-75 MB more at its peak. RebuildInto is made
// for a process that does nothing else (`hookledger rebuild`).
func RebuildInto(ctx context.Context, store domain.EventStore, into ViewStore, upTo domain.Position, progress func(domain.Position)) (RebuildResult, error) {
	if was := debug.SetGCPercent(rebuildGCPercent); was < 0 || was > rebuildGCPercent {
		debug.SetGCPercent(was) // the operator's own choice stands
	} else {
		defer debug.SetGCPercent(was)
	}
	return rebuild(ctx, store, into, upTo, progress)
}

// rebuildGCPercent is the collector's target during RebuildInto.
const rebuildGCPercent = 200

func rebuild(ctx context.Context, store domain.EventStore, into ViewStore, upTo domain.Position, progress func(domain.Position)) (RebuildResult, error) {
	if upTo == 0 {
		h, err := store.Head(ctx)
		if err != nil {
			return RebuildResult{}, err
		}
		upTo = h
	}
	v, err := emptyViews(into)
	if err != nil {
		return RebuildResult{}, err
	}
	fans := fanoutTracker{open: map[string]*fanoutJob{}}
	sinceCommit, messages, deliveries := 0, 0, 0
	// Reading and decoding run ahead of the fold, on other goroutines: the
	// fold is sequential, decoding JSON is most of the work and is not.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the readers if the fold returns early
	pages, ring := decodedPages(ctx, store, upTo)
	for pg := range pages {
		if pg.err != nil {
			return RebuildResult{}, pg.err
		}
		last := pg.recs[len(pg.recs)-1].Position
		for i, rec := range pg.recs {
			ev := pg.events[i]
			v.ApplyDecoded(rec, ev)
			switch e := ev.(type) {
			case domain.MessagePublished:
				messages++
				fans.published(v, e, rec)
			case domain.DeliveryScheduled:
				deliveries++
				fans.scheduled(e)
			}
		}
		// Nothing folded keeps a record's bytes (the views copy what they
		// keep, the decoders too), so the page's memory can be read into
		// again (TestARebuildKeepsNothingOfThePagesItReadsInto).
		n := len(pg.recs)
		ring.Done(pg.mem)
		if sinceCommit += n; into != nil && commitDue(sinceCommit, int(upTo-last)) {
			// The store writes one batch while the fold makes the next:
			// the write is a third of the work, and a core is free for it
			// whenever the decoders wait for the reader.
			write, err := into.Prepare(v, nil)
			if err != nil {
				return RebuildResult{}, err
			}
			go write() // its error comes back from the next Prepare or Commit
			sinceCommit = 0
		}
		if progress != nil {
			progress(last)
		}
	}
	if err := ctx.Err(); err != nil { // the pages stopped because ctx ended
		return RebuildResult{}, err
	}
	missing := fans.unscheduled(v)
	if into != nil {
		if err := commitLast(into, v, missing); err != nil {
			return RebuildResult{}, err
		}
	}
	return RebuildResult{Views: v, Unscheduled: missing, Messages: messages, Deliveries: deliveries}, nil
}

// emptyViews are the views a rebuild folds into: new ones in memory, or
// those of the view store, which must be empty.
func emptyViews(into ViewStore) (*projections.Views, error) {
	if into == nil {
		return projections.New(), nil
	}
	v, _, err := into.Load()
	if err != nil {
		return nil, err
	}
	if v.Checkpoint != 0 {
		return nil, fmt.Errorf("rebuild: the target view store is not empty (checkpoint %d)", v.Checkpoint)
	}
	return v, nil
}

// commitDue says whether a rebuild commits what it folded since its last
// commit (folded events), with left events still to fold: every
// rebuildCommitEvery events, and early before the last batch (see
// rebuildLastBatch).
func commitDue(folded, left int) bool {
	return folded >= rebuildCommitEvery || left <= rebuildLastBatch && folded > rebuildLastBatch
}

// commitLast commits the rest of the views with the fan-outs the ledger
// shows unfinished (for the next start to finish), and makes it durable.
func commitLast(into ViewStore, v *projections.Views, unfinished []*fanoutJob) error {
	state := map[string][]byte{}
	for _, f := range unfinished {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		state[fanKey(f.Position)] = b
	}
	if err := into.Commit(v, state); err != nil {
		return err
	}
	return into.Sync()
}

// fanoutTracker follows the fan-outs a rebuild folds, to find those the
// process stopped in the middle of: a message whose matches were not all
// scheduled.
type fanoutTracker struct {
	// open holds the fan-outs not yet seen complete, by message id.
	// Deliveries follow their message closely, so it stays small however
	// long the ledger is.
	open  map[string]*fanoutJob
	order []*fanoutJob // in publish order, the completed ones among them until forgotten
}

// published notes the fan-out a message calls for, matched against the
// subscriptions as they stood at its position.
func (t *fanoutTracker) published(v *projections.Views, e domain.MessagePublished, rec domain.RecordedEvent) {
	cmds := Match(v, e, rec.Position)
	if len(cmds) == 0 {
		return
	}
	f := &fanoutJob{MessageID: e.MessageID, Position: rec.Position, CausationID: rec.ID, Schedules: cmds, remaining: len(cmds)}
	t.open[e.MessageID] = f
	t.order = append(t.order, f)
	if len(t.order) > 2*len(t.open)+4096 { // forget the completed ones
		t.order = slices.DeleteFunc(t.order, func(f *fanoutJob) bool { return t.open[f.MessageID] != f })
	}
}

// scheduled counts a delivery of its message's fan-out done.
func (t *fanoutTracker) scheduled(e domain.DeliveryScheduled) {
	f := t.open[e.MessageID]
	if f == nil || !slices.ContainsFunc(f.Schedules, func(c domain.ScheduleDelivery) bool { return c.SubscriptionID == e.SubscriptionID }) {
		return
	}
	if f.remaining--; f.remaining == 0 {
		delete(t.open, e.MessageID)
	}
}

// unscheduled returns the fan-outs left open, each with the deliveries the
// views do not hold.
func (t *fanoutTracker) unscheduled(v *projections.Views) []*fanoutJob {
	var missing []*fanoutJob
	for _, f := range t.order {
		if t.open[f.MessageID] != f {
			continue
		}
		var left []domain.ScheduleDelivery
		for _, c := range f.Schedules {
			if v.Delivery(domain.DeliveryIDFor(c.MessageID, c.SubscriptionID)) == nil {
				left = append(left, c)
			}
		}
		if len(left) > 0 {
			f.Schedules = left
			missing = append(missing, f)
		}
	}
	return missing
}

type decodedPage struct {
	recs   []domain.RecordedEvent
	events []domain.Event
	err    error
	// mem is the memory recs were read into (nil: ReadAll's own), handed
	// back to the ring once the fold is through with recs.
	mem *domain.Page
}

// decodedPages reads $all up to upTo in pages and decodes each page on its
// own goroutine (as many at once as there are CPUs), handing the pages over
// in order. The channel closes after the last page or the first error.
//
// From a store that reads into memory handed back (domain.PageReader) the
// pages' memory goes round a ring (storekit.PageRing): the fold gives each
// page back once it is through with it, and the reader reads the next one
// into it. The ring holds as many pages as can be between the two (read,
// decoding, queued, folded), so the reader never waits for one the fold
// still needs. A rebuild allocated half as much and ran faster by what it
// no longer faulted in and collected (docs/benchmarks.md). The pages are
// read without the messages' bodies, which the fold never decodes: a
// fresh rebuild's live heap and what it copies are smaller by most of a
// ledger's bytes (docs/benchmarks.md, twenty-sixth session).
func decodedPages(ctx context.Context, store domain.EventStore, upTo domain.Position) (<-chan decodedPage, *storekit.PageRing) {
	out := make(chan decodedPage, 2)
	workers := max(1, runtime.GOMAXPROCS(0))
	ring := storekit.NewPageRingWithoutBodies(store, workers+cap(out)+3) // DecodeEventWithoutBody below
	go func() {
		defer close(out)
		// inflight holds the pages being decoded, in read order.
		inflight := make(chan chan decodedPage, workers)
		go func() {
			defer close(inflight)
			from := domain.Position(0)
			for from <= upTo {
				page, pm, err := ring.Read(ctx, from, 2048)
				if err != nil {
					done := make(chan decodedPage, 1)
					done <- decodedPage{err: err}
					select {
					case inflight <- done:
					case <-ctx.Done():
					}
					return
				}
				cut := len(page)
				for cut > 0 && page[cut-1].Position > upTo {
					cut--
				}
				if cut > 0 {
					done := make(chan decodedPage, 1)
					go func(recs []domain.RecordedEvent) {
						pg := decodedPage{recs: recs, events: make([]domain.Event, len(recs)), mem: pm}
						for i, rec := range recs {
							ev, err := domain.DecodeEventWithoutBody(rec) // the views keep no body
							if err != nil {
								pg.err = fmt.Errorf("fold position %d: %w", rec.Position, err)
								break
							}
							pg.events[i] = ev
						}
						done <- pg
					}(page[:cut])
					select {
					case inflight <- done:
					case <-ctx.Done():
						return
					}
				}
				if cut == 0 {
					ring.Done(pm) // nothing of it went to the fold
				}
				if len(page) == 0 || cut < len(page) {
					return
				}
				from = page[len(page)-1].Position + 1
			}
		}()
		for done := range inflight {
			pg := <-done
			select {
			case out <- pg:
			case <-ctx.Done():
				return
			}
			if pg.err != nil {
				return
			}
		}
	}()
	return out, ring
}

// CatchUp folds the ledger from the view store's checkpoint up to upTo and
// commits: a stopped ledger's views brought to a position (rebuild compares
// at the same position).
func CatchUp(ctx context.Context, store domain.EventStore, vs ViewStore, upTo domain.Position) (*projections.Views, error) {
	v, state, err := vs.Load()
	if err != nil {
		return nil, err
	}
	for from := v.Checkpoint + 1; from <= upTo; {
		page, err := store.ReadAll(ctx, from, 2048)
		if err != nil {
			return nil, err
		}
		for _, rec := range page {
			if rec.Position > upTo {
				break
			}
			if err := v.Apply(rec); err != nil {
				return nil, fmt.Errorf("fold position %d: %w", rec.Position, err)
			}
		}
		if len(page) == 0 {
			break
		}
		from = page[len(page)-1].Position + 1
	}
	_ = state // kept as it is: the pipeline's, not the fold's
	if err := vs.Commit(v, nil); err != nil {
		return nil, err
	}
	return v, vs.Sync()
}
