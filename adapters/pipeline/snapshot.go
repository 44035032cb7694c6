package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
}

type snapshotFile struct {
	Fanout []*fanoutJob    `json:"fanout"`
	Views  json.RawMessage `json:"views"`
}

// encodeSnapshot must be called with the views locked.
func encodeSnapshot(v *projections.Views, fan map[domain.Position]*fanoutJob) ([]byte, error) {
	views, err := v.Snapshot()
	if err != nil {
		return nil, err
	}
	jobs := make([]*fanoutJob, 0, len(fan))
	for _, j := range fan {
		jobs = append(jobs, j)
	}
	return json.Marshal(snapshotFile{Fanout: jobs, Views: views})
}

func decodeSnapshot(b []byte) (*projections.Views, []*fanoutJob, error) {
	var f snapshotFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, nil, fmt.Errorf("decode snapshot: %w", err)
	}
	v, err := projections.LoadSnapshot(f.Views)
	if err != nil {
		return nil, nil, err
	}
	return v, f.Fanout, nil
}

// readSnapshot returns (nil, nil, nil) when there is no snapshot.
func readSnapshot(path string) (*projections.Views, []*fanoutJob, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return decodeSnapshot(b)
}

// writeFileAtomic writes data to path so that a crash leaves either the old
// file or the new one: temp file, fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
