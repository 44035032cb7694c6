package audit

// The key store is the one part of a ledger's evidence that changes: an
// erasure destroys keys in it, outside the hash chain. VerifyErasures
// holds it to the ledger's record: every key a completed erasure names is
// destroyed there (the erasure took effect), and every key destroyed there
// was destroyed by an erasure the ledger records (none was destroyed
// silently). It needs no master key: tombstones are not secret.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// KeyTombstones is what VerifyErasures reads of the key store.
type KeyTombstones interface {
	ErasedKeys
	// KeyIDs lists the key store's keys, live and destroyed (of the
	// applications named, for a key store that finds keys through them).
	KeyIDs(ctx context.Context, applications []string) ([]string, error)
}

// NoKeyStore is the key store of a ledger that never encrypted: it holds no
// key, live or destroyed (so an erasure it records was never carried out).
type NoKeyStore struct{}

func (NoKeyStore) Destroyed(string) (string, time.Time, bool, error) {
	return "", time.Time{}, false, nil
}
func (NoKeyStore) KeyIDs(context.Context, []string) ([]string, error) { return nil, nil }

// Kinds of an erasure problem.
const (
	// KindErasureNotEffective: a completed erasure names a key the key
	// store still holds, or holds destroyed by no erasure of the ledger.
	KindErasureNotEffective = "erasure_not_effective"
	// KindErasureIncomplete: a key destroyed by an erasure the ledger
	// records as requested and never completed (a run cut short: request
	// it again with its id to record it).
	KindErasureIncomplete = "erasure_incomplete"
	// KindKeyDestroyedUnrecorded: a key destroyed by an erasure the
	// ledger does not hold at all.
	KindKeyDestroyedUnrecorded = "key_destroyed_unrecorded"
)

// ErasureProblem is one disagreement between the key store and the ledger.
type ErasureProblem struct {
	Kind      string `json:"kind"`
	KeyID     string `json:"key_id"`
	ErasureID string `json:"erasure_id,omitempty"`
	Detail    string `json:"detail"`
}

// ErasureReport is what VerifyErasures found.
type ErasureReport struct {
	OK bool `json:"ok"`
	// Erasures completed in the ledger, and the keys they name.
	Erasures  int `json:"erasures"`
	KeysNamed int `json:"keys_named"`
	// Tombstones in the key store.
	Tombstones int              `json:"tombstones"`
	Problems   []ErasureProblem `json:"problems,omitempty"`
}

// VerifyErasures reads the ledger's erasures (and applications, through
// which a ledger's key store finds its keys) and checks keys against them.
func VerifyErasures(ctx context.Context, store domain.EventStore, keys KeyTombstones) (ErasureReport, error) {
	var rep ErasureReport
	completed := map[string][]string{} // erasure -> keys it names
	requested := map[string]bool{}
	apps := map[string]bool{domain.SystemApplicationID: true}
	err := eachOfTypes(ctx, store, func(ev domain.Event) {
		switch e := ev.(type) {
		case domain.ApplicationCreated:
			apps[e.ApplicationID] = true
		case domain.ErasureRequested:
			requested[e.ErasureID] = true
		case domain.ErasureCompleted:
			completed[e.ErasureID] = append(completed[e.ErasureID], e.KeyIDs...)
		}
	}, domain.TypeApplicationCreated, domain.TypeErasureRequested, domain.TypeErasureCompleted)
	if err != nil {
		return rep, err
	}
	fail := func(kind, key, erasure, format string, args ...any) {
		rep.Problems = append(rep.Problems, ErasureProblem{Kind: kind, KeyID: key, ErasureID: erasure, Detail: fmt.Sprintf(format, args...)})
	}
	ids := make([]string, 0, len(completed))
	for id := range completed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, erasure := range ids {
		rep.Erasures++
		for _, key := range completed[erasure] {
			rep.KeysNamed++
			by, _, gone, err := keys.Destroyed(key)
			switch {
			case err != nil:
				return rep, fmt.Errorf("key %s: %w", key, err)
			case !gone:
				fail(KindErasureNotEffective, key, erasure, "erasure %s completed naming key %s, which the key store still holds: its payloads can be read", erasure, key)
			case by != erasure && completed[by] == nil:
				fail(KindErasureNotEffective, key, erasure, "erasure %s completed naming key %s, which the key store holds destroyed by %s, an erasure the ledger does not record as completed", erasure, key, by)
			}
		}
	}
	all, err := keys.KeyIDs(ctx, sortedKeys(apps))
	if err != nil {
		return rep, err
	}
	for _, key := range all {
		by, _, gone, err := keys.Destroyed(key)
		if err != nil {
			return rep, fmt.Errorf("key %s: %w", key, err)
		}
		if !gone {
			continue
		}
		rep.Tombstones++
		switch {
		case completed[by] != nil:
		case requested[by]:
			fail(KindErasureIncomplete, key, by, "key %s was destroyed by erasure %s, which the ledger records as requested and not completed: request it again with its id to record it", key, by)
		default:
			fail(KindKeyDestroyedUnrecorded, key, by, "key %s was destroyed, naming erasure %q, which the ledger does not hold: a key destroyed outside hookledger's erasures", key, by)
		}
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// ApplicationIDs lists every application the ledger ever had (deleted ones
// too) and hookledger's own, reading the whole ledger: a ledger's key
// store finds its keys through their applications.
func ApplicationIDs(ctx context.Context, store domain.EventStore) ([]string, error) {
	apps := map[string]bool{domain.SystemApplicationID: true}
	err := eachOfTypes(ctx, store, func(ev domain.Event) {
		apps[ev.(domain.ApplicationCreated).ApplicationID] = true
	}, domain.TypeApplicationCreated)
	return sortedKeys(apps), err
}

// eachOfTypes reads the whole ledger and hands fn the events of the types
// named, decoded (the others are not).
func eachOfTypes(ctx context.Context, store domain.EventStore, fn func(domain.Event), types ...string) error {
	for from := domain.Position(1); ; {
		recs, err := store.ReadAll(ctx, from, 4096)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !slices.Contains(types, r.Type) {
				continue
			}
			ev, err := domain.DecodeEvent(r)
			if err != nil {
				return fmt.Errorf("position %d: %w", r.Position, err)
			}
			fn(ev)
		}
		if len(recs) < 4096 {
			return nil
		}
		from = recs[len(recs)-1].Position + 1
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
