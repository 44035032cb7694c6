package viewstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Digest is a deterministic digest of the committed views: every record,
// configuration view and index entry, in key order, with the checkpoint.
// The pipeline's own state (open fan-outs) is left out: two stores folded
// from the same events have the same digest.
func (s *Store) Digest() (string, error) {
	h := sha256.New()
	err := s.each(func(k, v []byte) error {
		fmt.Fprintf(h, "%d:%s%d:", len(k), k, len(v))
		h.Write(v)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// FirstDifference names the first key whose entry differs between two
// stores ("" when they hold the same views).
func FirstDifference(a, b *Store) (string, error) {
	ia, err := a.iter()
	if err != nil {
		return "", err
	}
	defer ia.Close()
	ib, err := b.iter()
	if err != nil {
		return "", err
	}
	defer ib.Close()
	oka, okb := first(ia), first(ib)
	for oka || okb {
		switch {
		case !oka:
			return fmt.Sprintf("%q (only in the second)", ib.Key()), nil
		case !okb:
			return fmt.Sprintf("%q (only in the first)", ia.Key()), nil
		}
		if c := bytes.Compare(ia.Key(), ib.Key()); c != 0 {
			if c < 0 {
				return fmt.Sprintf("%q (only in the first)", ia.Key()), nil
			}
			return fmt.Sprintf("%q (only in the second)", ib.Key()), nil
		}
		if !bytes.Equal(ia.Value(), ib.Value()) {
			return fmt.Sprintf("%q (values differ)", ia.Key()), nil
		}
		oka, okb = next(ia), next(ib)
	}
	if err := ia.Error(); err != nil {
		return "", err
	}
	return "", ib.Error()
}

// compared: everything but the pipeline's state ('f').
func compared(k []byte) bool { return len(k) > 0 && k[0] != 'f' }

func first(it *pebble.Iterator) bool {
	ok := it.First()
	for ok && !compared(it.Key()) {
		ok = it.Next()
	}
	return ok
}

func next(it *pebble.Iterator) bool {
	ok := it.Next()
	for ok && !compared(it.Key()) {
		ok = it.Next()
	}
	return ok
}

func (s *Store) iter() (*pebble.Iterator, error) { return s.newIter(nil) }

func (s *Store) each(fn func(k, v []byte) error) error {
	it, err := s.iter()
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := first(it); ok; ok = next(it) {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}
