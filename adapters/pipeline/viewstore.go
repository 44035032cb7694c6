package pipeline

// Keeping the views: the fold's changes are committed to the view store in
// batches, each with the checkpoint it covers and the fan-outs still open
// at that point, so that a start resumes from the checkpoint and finishes
// those fan-outs (appends are idempotent).

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// ViewStore keeps the views on disk between runs (adapters/viewstore). Its
// Records methods, Commit and Prepare are called under the runner's views
// lock; the write Prepare returns is called after the lock is released.
type ViewStore interface {
	// Load returns the views as of the store's checkpoint, their records
	// kept in the store, and the pipeline state saved with them.
	Load() (*projections.Views, map[string][]byte, error)
	// Commit writes what the fold changed since the last Commit, the state
	// changes (a nil value deletes a key) and v's checkpoint atomically.
	Commit(v *projections.Views, state map[string][]byte) error
	// Prepare is Commit's first half: it takes the changes and returns the
	// write, which may run on another goroutine while the fold goes on; the
	// next Prepare, Commit or Sync waits for it and answers its error.
	Prepare(v *projections.Views, state map[string][]byte) (write func() error, err error)
	// Sync makes the commits durable (at a clean stop).
	Sync() error
	// OpenDue and OpenInOrder read a subscription's committed open
	// deliveries in due order (the due queue) and in publish order (FIFO);
	// Attempting, the attempts in flight at the last commit. They read only
	// what is written, so they may also be called without the views lock
	// (the backlog gauge does).
	openIndex
	orderIndex
	attemptIndex
}

// fanoutJob is the fan-out of one message: the schedules decided at its
// position, and how many are not yet appended. An unfinished fan-out is kept
// with the views' checkpoint so that a restart finishes it.
type fanoutJob struct {
	MessageID   string                    `json:"message_id"`
	Position    domain.Position           `json:"position"`
	CausationID string                    `json:"causation_id"`
	Schedules   []domain.ScheduleDelivery `json:"schedules"`
	remaining   int
	settleAt    domain.Position // the last of its appends (fan-out done once folded)
}

// fanKey is a fan-out's key in the saved state: its position, in hex so that
// keys sort by position.
func fanKey(pos domain.Position) string {
	return "fan/" + hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(pos)))
}

// fanOpenedLocked records a new fan-out; the next commit saves it if it is
// still open then.
func (r *Runner) fanOpenedLocked(j *fanoutJob) {
	r.fanPending[j.Position] = j
	if r.opts.ViewStore != nil {
		r.fanNew[j.Position] = j
	}
}

// fanDoneLocked forgets a finished fan-out, and deletes it from the saved
// state if a commit saved it.
func (r *Runner) fanDoneLocked(pos domain.Position) {
	delete(r.fanPending, pos)
	if r.opts.ViewStore == nil {
		return
	}
	if _, unsaved := r.fanNew[pos]; unsaved {
		delete(r.fanNew, pos)
		return
	}
	r.state[fanKey(pos)] = nil
}

// saveFanoutsLocked adds the fan-outs opened since the last commit, and still
// open, to the state it saves.
func (r *Runner) saveFanoutsLocked() {
	for pos, j := range r.fanNew {
		b, err := json.Marshal(j)
		if err != nil { // plain data: cannot happen
			r.log.Error().Err(err).Msg("fan-out not saved")
			continue
		}
		r.state[fanKey(pos)] = b
	}
}

// loadViews reads the views and the open fan-outs from the view store.
func (r *Runner) loadViews() ([]*fanoutJob, error) {
	if r.opts.ViewStore == nil {
		return nil, nil
	}
	v, state, err := r.opts.ViewStore.Load()
	if err != nil {
		return nil, fmt.Errorf("pipeline: load the views: %w", err)
	}
	var fan []*fanoutJob
	for k, b := range state {
		j := &fanoutJob{}
		if err := json.Unmarshal(b, j); err != nil {
			return nil, fmt.Errorf("pipeline: saved fan-out %s: %w", k, err)
		}
		fan = append(fan, j)
	}
	r.mu.Lock()
	r.views = v
	r.mu.Unlock()
	r.log.Info().Uint64("checkpoint", uint64(v.Checkpoint)).Uint64("events", v.Events).Int("unfinished_fanouts", len(fan)).Msg("views opened")
	return fan, nil
}

// commitLocked writes the fold's changes since the last commit.
func (r *Runner) commitLocked() error {
	write, err := r.prepareLocked()
	if err != nil || write == nil {
		return err
	}
	return write()
}

// prepareLocked takes the fold's changes since the last commit; write (nil
// when there is nothing to write) writes them, and is called once r.mu is
// released: the fold, the workers and the API's reads then do not wait for
// the view store's write (a lock held through it stalled them all every
// commit). The view store reads the batch's records from memory until the
// write ends, and the next commit waits for it.
func (r *Runner) prepareLocked() (write func() error, err error) {
	if r.opts.ViewStore == nil || r.sinceCommit == 0 {
		return nil, nil
	}
	r.saveFanoutsLocked()
	if write, err = r.opts.ViewStore.Prepare(r.views, r.state); err != nil {
		return nil, err
	}
	r.sinceCommit = 0
	r.state = map[string][]byte{}
	clear(r.fanNew)
	return write, nil
}

func (r *Runner) commit() error {
	r.mu.Lock()
	write, err := r.prepareLocked()
	r.mu.Unlock()
	if err != nil || write == nil {
		return err
	}
	return write()
}

// commitLoop commits what the fold did at least every CommitInterval, so
// that a quiet ledger's views are on disk too.
func (r *Runner) commitLoop(ctx context.Context) {
	if r.opts.ViewStore == nil {
		return
	}
	t := time.NewTicker(r.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.commit(); err != nil {
				r.log.Error().Err(err).Msg("views not committed (the next start replays more)")
			}
		}
	}
}
