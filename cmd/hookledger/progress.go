package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// progress shows a long command's advance on a terminal: events done,
// events/s and the time left (a well-kept library draws it). Off a terminal,
// or with --quiet, it shows nothing: the command prints its one summary line.
type progress struct{ bar *progressbar.ProgressBar }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// newProgress draws on w when it is a terminal and quiet is false. total is
// the number of events expected (-1: unknown, a counter with its rate).
func newProgress(w io.Writer, what string, total int64, quiet bool) *progress {
	if quiet || !isTerminal(w) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)}
}

// Set shows n events done.
func (p *progress) Set(n int64) {
	if p != nil && p.bar != nil {
		p.bar.Set64(n)
	}
}

// Done removes the bar, leaving the line to the summary.
func (p *progress) Done() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
	}
}

// progressStore reports each page of $all read through it: the tools whose
// work is one pass (or two) over the ledger show their advance this way.
type progressStore struct {
	domain.EventStore
	on func(domain.Position)
}

func (s progressStore) ReadAll(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error) {
	page, err := s.EventStore.ReadAll(ctx, from, max)
	if len(page) > 0 {
		s.on(page[len(page)-1].Position)
	}
	return page, err
}

// totalOf is the bar's total for a store: its head on the embedded store,
// where positions count events; unknown elsewhere (EventStoreDB positions
// are sparse).
func totalOf(ctx context.Context, store domain.EventStore) int64 {
	if _, ok := store.(*pebblestore.Store); !ok {
		return -1
	}
	h, err := store.Head(ctx)
	if err != nil {
		return -1
	}
	return int64(h)
}
