package pebblestore

import (
	"bytes"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// fresh tells the committer, without reading Pebble, that most new streams
// have no head yet. Every message and delivery starts a stream, and looking
// up its head (a miss, answered by the tables' bloom filters level by
// level) was 3% of a saturated delivery's CPU. Their names are a category
// ("message-", "delivery-") and a time-ordered id, so a new stream's name
// sorts after nearly every name its category has: for each category fresh
// keeps a floor, at or above the name of every stream of the category that
// has a head, except the names written since the store opened that are above
// it, which it keeps. A name above the floor and not kept has no head. Any
// other name (an id of another kind, a clock stepped back, a stream named
// without a category) is looked up in Pebble as before, so the answer never
// depends on how ids are made, only how often Pebble is asked.
//
// Only the committer uses it (it is the store's only writer, so the floors
// and the names above them are exact); it needs no lock.
type fresh struct {
	cats map[string]*category
	// top holds, for a category whose floor is not read yet, the greatest
	// name written to it since the store opened: the turn before the one
	// that reads the floor may not be in Pebble yet.
	top map[string]string
	// full is set once a category's writes went unrecorded (top was
	// full): no category is followed from then on.
	full bool
	// aboveMax is freshAboveMax but in tests.
	aboveMax int
}

type category struct {
	floor string              // no stream of the category above it has a head, but those in above
	above map[string]struct{} // streams written since open whose names are above floor
}

const (
	// freshCategoriesMax bounds the categories followed; streams of
	// any other are looked up. Stream names have a handful.
	freshCategoriesMax = 64
	// freshAboveMax bounds the names kept above a floor: when full, the
	// floor moves up to the middle one. New names sort above the rest, so
	// the names it passes are those of streams no longer new.
	freshAboveMax = 4096
)

func newFresh() *fresh {
	return &fresh{cats: map[string]*category{}, top: map[string]string{}, aboveMax: freshAboveMax}
}

// categoryOf is the stream's name up to its first '-' included, or "" for a
// name without one.
func categoryOf(stream string) string {
	i := strings.IndexByte(stream, '-')
	if i <= 0 {
		return ""
	}
	return stream[:i+1]
}

// isNew reports that stream surely has no head. false means it may have one:
// look it up. iter gives an iterator over the heads' keys, to read a
// category's floor the first time the category is asked about.
func (f *fresh) isNew(iter func() (*pebble.Iterator, error), stream string) (bool, error) {
	c := categoryOf(stream)
	if c == "" {
		return false, nil
	}
	cat, ok := f.cats[c]
	if !ok {
		if f.full || len(f.cats) >= freshCategoriesMax {
			return false, nil
		}
		it, err := iter()
		if err != nil {
			return false, err
		}
		if cat, err = f.readFloor(it, c); err != nil {
			return false, err
		}
	}
	if stream <= cat.floor {
		return false, nil
	}
	_, kept := cat.above[stream]
	return !kept, nil
}

// readFloor starts following category c: its floor is the greatest name of
// the category with a head in Pebble, or written since the store opened.
func (f *fresh) readFloor(it *pebble.Iterator, c string) (*category, error) {
	lower := appendHeadKey(nil, c)
	upper := bytes.Clone(lower)
	upper[len(upper)-1]++ // c ends with '-': the key after every name that starts with c
	floor := f.top[c]
	if it.SeekLT(upper) && bytes.HasPrefix(it.Key(), lower) {
		floor = max(floor, string(it.Key()[1:]))
	} else if err := it.Error(); err != nil {
		return nil, translate(err, 0)
	}
	cat := &category{floor: floor, above: map[string]struct{}{}}
	f.cats[c] = cat
	delete(f.top, c)
	return cat, nil
}

// wrote records that stream has a head now.
func (f *fresh) wrote(stream string) {
	c := categoryOf(stream)
	if c == "" {
		return
	}
	cat, ok := f.cats[c]
	if !ok {
		if t, ok := f.top[c]; ok || len(f.top) < freshCategoriesMax {
			f.top[c] = max(t, stream)
		} else {
			f.full = true
		}
		return
	}
	if stream <= cat.floor {
		return
	}
	cat.above[stream] = struct{}{}
	if len(cat.above) > f.aboveMax {
		cat.raise()
	}
}

// raise moves the floor up to the middle name kept and forgets the names at
// or below it.
func (cat *category) raise() {
	names := make([]string, 0, len(cat.above))
	for n := range cat.above {
		names = append(names, n)
	}
	slices.Sort(names)
	cat.floor = names[len(names)/2-1]
	for _, n := range names[:len(names)/2] {
		delete(cat.above, n)
	}
}
