package keystore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
)

// KeyLister is a backend that can list the ids of its keys, live and
// destroyed: the local one lists them all, a ledger's those of the
// applications named (its keys are found through their applications).
type KeyLister interface {
	KeyIDs(ctx context.Context, applications []string) ([]string, error)
}

// CopyReport is what CopyKeys did.
type CopyReport struct {
	Keys, Tombstones, AlreadyThere int
	MasterID                       string // the master key that wraps them ("" when the source has none)
}

// CopyKeys copies the keys of src (of the applications named, for a source
// that finds keys through them) into dst as they are: wrapped by the same
// master key, which is not needed (nor seen) here, and the tombstones of
// destroyed keys with them, so that an erased payload stays erased. A key
// dst holds already is left (a copy run again resumes); dst wrapped by
// another master key is refused before anything is written.
func CopyKeys(ctx context.Context, src, dst Backend, applications []string) (CopyReport, error) {
	var rep CopyReport
	id, err := src.Master(ctx)
	if err != nil || id == "" {
		return rep, err
	}
	rep.MasterID = id
	ids, err := keyIDs(ctx, src, applications)
	if err != nil {
		return rep, err
	}
	if have, err := dst.InitMaster(ctx, id); err != nil {
		return rep, err
	} else if have != id {
		return rep, fmt.Errorf("%w: the destination's keys are wrapped by master key %s, the source's by %s: a key store holds keys of one master key", ErrWrongMasterKey, have, id)
	}
	destroyed := map[Tombstone][]string{}
	for _, id := range ids {
		base, gen, ok := splitKeyID(id)
		if !ok {
			return rep, fmt.Errorf("the source holds a key id %q of no generation", id)
		}
		rec, tomb, err := src.Get(ctx, id)
		switch {
		case errors.Is(err, ErrNoKey):
			continue // listed, never made (a creation cut short)
		case err != nil:
			return rep, err
		case tomb != nil:
			destroyed[*tomb] = append(destroyed[*tomb], id)
			continue
		}
		switch err := dst.Create(ctx, base, gen, id, rec); {
		case err == nil:
			rep.Keys++
		case errors.Is(err, ErrKeyExists):
			have, htomb, herr := dst.Get(ctx, id)
			if herr != nil {
				return rep, herr
			}
			if htomb == nil && !reflect.DeepEqual(have.Wrapped, rec.Wrapped) {
				return rep, fmt.Errorf("the destination holds another key %s than the source: it is another ledger's key store", id)
			}
			rep.AlreadyThere++
		default:
			return rep, err
		}
	}
	// Tombstones last, one Destroy per erasure (the local store compacts
	// at each).
	tombs := make([]Tombstone, 0, len(destroyed))
	for t := range destroyed {
		tombs = append(tombs, t)
	}
	sort.Slice(tombs, func(i, j int) bool { return tombs[i].DestroyedAt.Before(tombs[j].DestroyedAt) })
	for _, t := range tombs {
		if err := dst.Destroy(ctx, destroyed[t], t); err != nil {
			return rep, err
		}
		rep.Tombstones += len(destroyed[t])
	}
	return rep, nil
}

// keyIDs lists b's keys, live and destroyed, when b can.
func keyIDs(ctx context.Context, b Backend, applications []string) ([]string, error) {
	l, ok := b.(KeyLister)
	if !ok {
		return nil, errors.New("the key store cannot list its keys")
	}
	return l.KeyIDs(ctx, applications)
}

// OpenLocalReadOnly opens the local backend in dir for reading (a copy's
// source), never changing it.
func OpenLocalReadOnly(dir string) (Backend, error) { return openLocal(dir, true) }
