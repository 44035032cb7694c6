package app

// The rebuild of the views from the ledger, offline (`hookledger rebuild`).

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/pipeline"
	"github.com/hookledger/hookledger/adapters/viewstore"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Rebuild replays the ledger from position 0 into a fresh view store,
// compares it with the live one (brought to the same position) by digest,
// and swaps it in. It writes nothing to the ledger (opened read-only). The server must be stopped (the embedded store allows one
// process; the view store is one process's).
//
// progress (may be nil) is told, per phase ("rebuild", "compare"), the
// position reached and the position the phase ends at.
func Rebuild(ctx context.Context, cfg config.Config, log zerolog.Logger, progress func(phase string, pos, end domain.Position)) (RebuildReport, error) {
	store, err := openStoreToRead(cfg, log)
	if err != nil {
		return RebuildReport{}, err
	}
	defer store.Close()
	tell := func(phase string, end domain.Position) func(domain.Position) {
		if progress == nil {
			return nil
		}
		return func(pos domain.Position) { progress(phase, pos, end) }
	}
	var rep RebuildReport
	head, err := store.Head(ctx)
	if err != nil {
		return rep, err
	}
	live := cfg.ViewsDir()
	fresh := live + ".rebuild"
	if err := os.RemoveAll(fresh); err != nil {
		return rep, err
	}
	vopts := viewstore.Options{Logger: log.With().Str("component", "views").Logger()}
	bulk := vopts
	bulk.Bulk = true // fresh, and discarded if the rebuild stops before its end
	next, err := viewstore.Open(fresh, bulk)
	if err != nil {
		return rep, err
	}
	defer func() {
		if next != nil {
			next.Close()
			os.RemoveAll(fresh)
		}
	}()
	start := time.Now()
	res, err := pipeline.RebuildInto(ctx, store, next, head, tell("rebuild", head))
	if err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	rep.Events = res.Views.Events
	rep.Checkpoint = res.Views.Checkpoint
	rep.Deliveries = res.Deliveries
	res.Views.Records().OpenDeliveries(func(*projections.DeliveryView) bool { rep.Pending++; return true })
	rep.Unscheduled = len(res.Unscheduled)
	rep.ViewBytes = DirBytes(fresh)

	if viewstore.MarkedDamaged(live) {
		log.Warn().Str("dir", live).Msg("the live view store was found damaged while serving; not compared, replaced")
	} else if _, err := os.Stat(live); err == nil {
		old, err := viewstore.Open(live, vopts)
		if err != nil {
			log.Warn().Err(err).Msg("the live view store is unreadable; not compared")
		} else {
			if progress != nil {
				progress("compare", 0, head)
			}
			if ov, err := pipeline.CatchUp(ctx, store, old, head); err != nil {
				log.Warn().Err(err).Msg("the live view store could not be brought to the head; not compared")
			} else if ov.Checkpoint > 0 {
				rep.Compared, rep.ComparedAt = true, head
				if rep.Difference, err = viewstore.FirstDifference(old, next); err != nil {
					old.Close()
					return rep, err
				}
				rep.Identical = rep.Difference == ""
				rep.Digest, _ = next.Digest()
			}
			if progress != nil {
				progress("compare", head, head)
			}
			old.Close()
		}
	}
	if err := next.Close(); err != nil {
		return rep, err
	}
	next = nil
	// The swap: a crash between the renames leaves no live store, and the
	// next start folds the ledger from position 0 (slow, never wrong).
	retired := live + ".old"
	os.RemoveAll(retired)
	if err := os.Rename(live, retired); err != nil && !os.IsNotExist(err) {
		return rep, err
	}
	if err := os.Rename(fresh, live); err != nil {
		return rep, err
	}
	return rep, os.RemoveAll(retired)
}

// RebuildReport says what a rebuild did.
type RebuildReport struct {
	Events      uint64
	Checkpoint  domain.Position
	Deliveries  int
	Pending     int
	Unscheduled int
	Elapsed     time.Duration
	Compared    bool
	Identical   bool
	ComparedAt  domain.Position
	Difference  string // the first differing key, when not identical
	Digest      string // of the rebuilt views
	ViewBytes   int64  // the rebuilt view store on disk
}

// DirBytes is the size of the files under dir (the view store on disk).
func DirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
