package pipeline

// Start and shutdown: the order in which the fold, fan-out, workers and
// dispatcher start, and stop without losing what is in flight.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// Run starts the pipeline and blocks until ctx ends (graceful shutdown) or
// the ledger subscription fails.
func (r *Runner) Run(ctx context.Context) error {
	restartFanout, err := r.loadViews()
	if err != nil {
		return err
	}
	head, err := r.opts.Store.Head(ctx)
	if err != nil {
		return fmt.Errorf("pipeline: read the ledger head: %w", err)
	}
	if cp := r.Checkpoint(); cp > head {
		// The views were folded from events the store no longer has: serving
		// them would show what the ledger cannot prove, and new events would
		// land below the checkpoint and never be folded.
		return &domain.TruncatedError{Head: head, Known: cp, Source: "the view store"}
	}
	r.startHead = head
	if r.Checkpoint() >= head {
		r.markCaughtUp()
	}

	background := context.Background()
	subCtx, cancelSub := context.WithCancel(background)
	fanCtx, cancelFan := context.WithCancel(background)
	dispatchCtx, cancelDispatch := context.WithCancel(background)
	hardCtx, cancelHard := context.WithCancel(background)
	defer cancelSub()
	defer cancelFan()
	defer cancelDispatch()
	defer cancelHard()

	fanWG := r.startFanout(fanCtx, restartFanout)

	subErr := make(chan error, 1)
	from := r.Checkpoint()
	go func() {
		subErr <- r.opts.Store.SubscribeAll(subCtx, from, func(rec domain.RecordedEvent) error {
			return r.handle(fanCtx, rec)
		})
	}()

	r.log.Info().Uint64("from", uint64(from)).Uint64("head", uint64(head)).Msg("catching up with the ledger")
	select {
	case <-r.caughtUp:
	case err := <-subErr:
		return fmt.Errorf("pipeline: ledger subscription ended during catch-up: %w", err)
	case <-ctx.Done():
		cancelSub()
		<-subErr
		// Keep what the catch-up folded: the next start resumes there.
		r.saveViews()
		return nil
	}
	r.log.Info().Uint64("checkpoint", uint64(r.Checkpoint())).Msg("views caught up")
	if r.opts.Ownership == nil {
		// In a cluster, each partition's open attempts are closed by
		// whoever takes it over (partitions.go), this node included.
		r.recoverOpenAttempts()
	}
	r.rebuildQueue()
	go r.ownershipLoop(dispatchCtx)

	workWG := r.startWorkers(hardCtx)
	dispatchDone := make(chan struct{})
	go func() { defer close(dispatchDone); r.dispatch(dispatchCtx) }()
	commitDone := make(chan struct{})
	go func() { defer close(commitDone); r.commitLoop(dispatchCtx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-subErr:
		runErr = fmt.Errorf("pipeline: ledger subscription ended: %w", err)
		subErr <- err
	}

	// Shutdown: stop taking work, let in-flight attempts finish (up to the
	// grace period, after which they are recorded as outcome unknown), then
	// stop folding, stop fan-out, and commit the views.
	r.log.Info().Msg("pipeline stopping: no new attempts")
	r.stopping.Store(true)
	cancelDispatch()
	<-dispatchDone
	<-commitDone
	r.stopWorkers(workWG, cancelHard)
	// Fold what the workers appended last, so that a clean stop leaves the
	// views at the head and the next start replays nothing (bounded: a
	// stop never waits long for it).
	if runErr == nil {
		if head, err := r.opts.Store.Head(background); err == nil {
			wctx, cancel := context.WithTimeout(background, 5*time.Second)
			r.WaitFor(wctx, head)
			cancel()
		}
	}
	cancelSub()
	<-subErr
	cancelFan()
	fanWG.Wait()
	r.saveViews()
	r.log.Info().Uint64("checkpoint", uint64(r.Checkpoint())).Msg("pipeline stopped")
	return runErr
}

// startFanout starts the fan-out workers and the operational announcements'
// worker, and resumes the fan-outs a former run left open (restart).
func (r *Runner) startFanout(ctx context.Context, restart []*fanoutJob) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := 0; i < r.opts.FanoutWorkers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.fanoutWorker(ctx) }()
	}
	go r.opsWorker(ctx)
	r.mu.Lock()
	for _, j := range restart {
		j.remaining = len(j.Schedules)
		r.fanPending[j.Position] = j // already in the saved state
	}
	if r.opts.Ownership != nil {
		// Which are this node's is known once it holds its partitions.
		for _, j := range restart {
			r.restartFanoutLocked(j)
		}
		restart = nil
	}
	r.mu.Unlock()
	go func() {
		for _, j := range restart {
			for _, c := range j.Schedules {
				select {
				case r.fanCh <- fanItem{job: j, cmds: []domain.ScheduleDelivery{c}}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return &wg
}

// startWorkers starts the workers; hard ends their sends (at the end of a
// shutdown's grace period).
func (r *Runner) startWorkers(hard context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	r.mu.Lock()
	r.serving.Store(true)
	r.mu.Unlock()
	for i := 0; i < r.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range r.jobs {
				r.work(hard, j)
			}
		}()
	}
	return &wg
}

// stopWorkers lets the workers finish the attempts in flight, for up to the
// shutdown's grace period (cancelHard then cuts them short, and they are
// recorded as outcome unknown), and waits for them. Nothing is dispatched
// any more when it is called.
func (r *Runner) stopWorkers(wg *sync.WaitGroup, cancelHard context.CancelFunc) {
	r.mu.Lock()
	r.serving.Store(false)
	close(r.jobs)
	r.mu.Unlock()
	grace := time.AfterFunc(r.opts.ShutdownGrace, func() {
		r.log.Warn().Dur("grace_ms", r.opts.ShutdownGrace).Msg("in-flight attempts interrupted: recording them as outcome unknown")
		cancelHard()
	})
	wg.Wait()
	grace.Stop()
}

// saveViews commits what the fold holds and flushes the view store on the
// way out, so that the next start replays little. A failure (a view store
// that cannot write) is logged: the next start replays more, nothing is
// lost.
func (r *Runner) saveViews() {
	err := r.commit()
	if err == nil && r.opts.ViewStore != nil {
		err = r.opts.ViewStore.Sync()
	}
	if err != nil {
		r.log.Error().Err(err).Msg("last views commit failed (the next start replays more)")
	}
}
