package cluster

// The cluster stream grows by one renewal per node every renew interval
// (about 43,000 events a day per node at the defaults) and is never
// truncated: it is part of the audit trail. So that a node's start does not
// grow with it, the folded state is kept in a local file with the revision
// and event id it stands at; a start reads the stream from there. The file
// is a cache: when it is missing, unreadable, or names an event the stream
// does not have at that revision (another ledger), the stream is folded
// from its start.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/hookledger/hookledger/domain"
)

type cacheFile struct {
	Revision uint64              `json:"revision"`
	EventID  string              `json:"event_id"`
	State    domain.ClusterState `json:"state"`
}

// loadCache starts the fold from the cache, if it matches the stream.
func (k *Keeper) loadCache(ctx context.Context) {
	if k.opts.CachePath == "" {
		return
	}
	b, err := os.ReadFile(k.opts.CachePath)
	if err != nil {
		return
	}
	var c cacheFile
	if err := json.Unmarshal(b, &c); err != nil || !c.State.Configured {
		k.log.Warn().Err(err).Str("path", k.opts.CachePath).Msg("cluster state cache unreadable: folding the cluster stream from its start")
		return
	}
	recs, err := k.opts.Store.ReadStream(ctx, domain.ClusterStream, c.Revision, domain.Forward, 1)
	if err != nil || len(recs) != 1 || recs[0].ID != c.EventID {
		k.log.Warn().Str("path", k.opts.CachePath).Uint64("revision", c.Revision).Msg("the cluster state cache is not this ledger's: folding the cluster stream from its start")
		return
	}
	k.mu.Lock()
	k.state, k.rev, k.exists, k.lastID = c.State, c.Revision, true, c.EventID
	k.mu.Unlock()
}

// saveCache writes the folded state (atomically: a crash leaves the old
// file or the new one).
func (k *Keeper) saveCache() {
	if k.opts.CachePath == "" {
		return
	}
	k.mu.Lock()
	if !k.exists || k.lastID == "" || k.rev == k.savedRev {
		k.mu.Unlock()
		return
	}
	b, err := json.Marshal(cacheFile{Revision: k.rev, EventID: k.lastID, State: k.state})
	rev := k.rev
	k.mu.Unlock()
	if err == nil {
		err = os.MkdirAll(filepath.Dir(k.opts.CachePath), 0o700)
	}
	tmp := k.opts.CachePath + ".tmp"
	if err == nil {
		err = os.WriteFile(tmp, b, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, k.opts.CachePath)
	}
	if err != nil {
		k.log.Warn().Err(err).Str("path", k.opts.CachePath).Msg("cluster state cache not written (the next start folds more of the stream)")
		return
	}
	k.mu.Lock()
	k.savedRev = rev
	k.mu.Unlock()
}
