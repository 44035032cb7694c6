package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// fanoutJob is the fan-out of one message: the schedules decided at its
// position, and how many are not yet appended. Unfinished fan-outs are part of
// the snapshot so that a restart finishes them (appends are idempotent).
type fanoutJob struct {
	MessageID   string                    `json:"message_id"`
	Position    domain.Position           `json:"position"`
	CausationID string                    `json:"causation_id"`
	Schedules   []domain.ScheduleDelivery `json:"schedules"`
	remaining   int
	settleAt    domain.Position // the last of its appends (fan-out done once folded)
}

type snapshotFile struct {
	Fanout []*fanoutJob       `json:"fanout"`
	Views  *projections.Views `json:"views"`
}

// encodeSnapshot streams the snapshot to w; it must be called with the views
// locked. Streaming keeps a large view from being held twice in memory.
func encodeSnapshot(w io.Writer, v *projections.Views, fan map[domain.Position]*fanoutJob) error {
	jobs := make([]*fanoutJob, 0, len(fan))
	for _, j := range fan {
		jobs = append(jobs, j)
	}
	head, err := json.Marshal(jobs)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, `{"fanout":%s,"views":`, head); err != nil {
		return err
	}
	if err := v.WriteSnapshot(w); err != nil {
		return err
	}
	_, err = io.WriteString(w, "}\n")
	return err
}

func decodeSnapshot(r io.Reader) (*projections.Views, []*fanoutJob, error) {
	var f snapshotFile
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if f.Views == nil {
		return nil, nil, errors.New("decode snapshot: no views")
	}
	if err := f.Views.Restore(); err != nil {
		return nil, nil, err
	}
	return f.Views, f.Fanout, nil
}

// readSnapshot returns (nil, nil, nil) when there is no snapshot.
func readSnapshot(path string) (*projections.Views, []*fanoutJob, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return decodeSnapshot(bufio.NewReaderSize(f, 1<<20))
}

// writeFileAtomic writes what write produces to path so that a crash leaves
// either the old file or the new one: temp file, fsync, rename, fsync the
// directory. It returns the bytes written.
func writeFileAtomic(path string, write func(io.Writer) error) (int64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	cw := &countingWriter{w: tmp}
	bw := bufio.NewWriterSize(cw, 1<<20)
	if err := write(bw); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return cw.n, d.Sync()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (r *Runner) snapshotLoop(ctx context.Context) {
	if r.opts.SnapshotPath == "" {
		return
	}
	t := time.NewTicker(r.opts.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.writeSnapshot(); err != nil {
				r.log.Error().Err(err).Msg("snapshot failed")
			}
		}
	}
}

func (r *Runner) writeSnapshot() error {
	if r.opts.SnapshotPath == "" {
		return nil
	}
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	var checkpoint domain.Position
	n, err := writeFileAtomic(r.opts.SnapshotPath, func(w io.Writer) error {
		// The views are locked while they are encoded (into the page cache);
		// the fsync happens after the lock is released.
		r.mu.Lock()
		defer r.mu.Unlock()
		checkpoint = r.views.Checkpoint
		r.sinceSnap = 0
		return encodeSnapshot(w, r.views, r.fanPending)
	})
	if err != nil {
		return err
	}
	r.log.Debug().Uint64("checkpoint", uint64(checkpoint)).Int64("bytes", n).Msg("views snapshot written")
	return nil
}
