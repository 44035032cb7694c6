package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// RebuildResult is what Rebuild folded.
type RebuildResult struct {
	Views *projections.Views
	// Unscheduled lists fan-outs whose deliveries are not in the ledger yet
	// (the process stopped mid fan-out); the next start appends them.
	Unscheduled []*fanoutJob
}

// Rebuild folds the ledger from position 0 up to upTo (0: the head) into fresh
// views, recomputing each message's matches at its own position so that a
// fan-out cut short by a crash is found and finished on the next start.
func Rebuild(ctx context.Context, store domain.EventStore, upTo domain.Position, progress func(domain.Position)) (RebuildResult, error) {
	if upTo == 0 {
		h, err := store.Head(ctx)
		if err != nil {
			return RebuildResult{}, err
		}
		upTo = h
	}
	v := projections.New()
	// Fan-outs not yet seen complete, by message id. Deliveries follow their
	// message closely, so this stays small however long the ledger is.
	open := map[string]*fanoutJob{}
	var order []*fanoutJob
	// Reading and decoding run ahead of the fold, on other goroutines: the
	// fold is sequential, decoding JSON is most of the work and is not.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the readers if the fold returns early
	pages := decodedPages(ctx, store, upTo)
	for pg := range pages {
		if pg.err != nil {
			return RebuildResult{}, pg.err
		}
		for i, rec := range pg.recs {
			ev := pg.events[i]
			v.ApplyDecoded(rec, ev)
			switch e := ev.(type) {
			case domain.MessagePublished:
				if cmds := Match(v, e, rec.Position); len(cmds) > 0 {
					f := &fanoutJob{MessageID: e.MessageID, Position: rec.Position, CausationID: rec.ID, Schedules: cmds, remaining: len(cmds)}
					open[e.MessageID] = f
					order = append(order, f)
				}
			case domain.DeliveryScheduled:
				if f := open[e.MessageID]; f != nil && slices.ContainsFunc(f.Schedules, func(c domain.ScheduleDelivery) bool { return c.SubscriptionID == e.SubscriptionID }) {
					if f.remaining--; f.remaining == 0 {
						delete(open, e.MessageID)
					}
				}
			}
			if len(order) > 2*len(open)+4096 { // forget the completed ones
				order = slices.DeleteFunc(order, func(f *fanoutJob) bool { return open[f.MessageID] != f })
			}
		}
		if progress != nil && len(pg.recs) > 0 {
			progress(pg.recs[len(pg.recs)-1].Position)
		}
	}
	if err := ctx.Err(); err != nil { // the pages stopped because ctx ended
		return RebuildResult{}, err
	}
	var missing []*fanoutJob
	for _, f := range order {
		if open[f.MessageID] != f {
			continue
		}
		var left []domain.ScheduleDelivery
		for _, c := range f.Schedules {
			if v.Deliveries[domain.DeliveryIDFor(c.MessageID, c.SubscriptionID)] == nil {
				left = append(left, c)
			}
		}
		if len(left) > 0 {
			f.Schedules = left
			missing = append(missing, f)
		}
	}
	return RebuildResult{Views: v, Unscheduled: missing}, nil
}

type decodedPage struct {
	recs   []domain.RecordedEvent
	events []domain.Event
	err    error
}

// decodedPages reads $all up to upTo in pages and decodes each page on its
// own goroutine (as many at once as there are CPUs), handing the pages over
// in order. The channel closes after the last page or the first error.
func decodedPages(ctx context.Context, store domain.EventStore, upTo domain.Position) <-chan decodedPage {
	out := make(chan decodedPage, 2)
	workers := max(1, runtime.GOMAXPROCS(0))
	go func() {
		defer close(out)
		// inflight holds the pages being decoded, in read order.
		inflight := make(chan chan decodedPage, workers)
		go func() {
			defer close(inflight)
			from := domain.Position(0)
			for from <= upTo {
				page, err := store.ReadAll(ctx, from, 2048)
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
						pg := decodedPage{recs: recs, events: make([]domain.Event, len(recs))}
						for i, rec := range recs {
							ev, _, err := domain.Decode(rec)
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
	return out
}

// WriteSnapshot writes a rebuild's result where the pipeline reads it at start.
func (r RebuildResult) WriteSnapshot(path string) error {
	fan := make(map[domain.Position]*fanoutJob, len(r.Unscheduled))
	for _, f := range r.Unscheduled {
		fan[f.Position] = f
	}
	_, err := writeFileAtomic(path, func(w io.Writer) error { return encodeSnapshot(w, r.Views, fan) })
	return err
}

// ReadSnapshotViews reads the views of a snapshot file (nil, nil if none).
func ReadSnapshotViews(path string) (*projections.Views, error) {
	v, _, err := readSnapshot(path)
	if err != nil && os.IsNotExist(err) {
		return nil, nil
	}
	return v, err
}

// SnapshotPath is where the pipeline keeps its snapshot in a data directory.
func SnapshotPath(dataDir string) string { return dataDir + "/views/snapshot.json" }
