package viewstore

// Key layout (see doc.go) and Pebble's logger.

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/domain"
)

// kindSpan is Pebble's span policy for the view store (Options.Experimental.
// SpanPolicyFunc): every table a flush or a compaction writes ends where the
// kind of key its first key has ends (a kind is the first byte, the index
// kinds x* the first two), so that no table holds two kinds.
//
// Why: each kind's new keys come at the end of its range (ids are
// time-ordered, index entries are by position) and a flush holds every
// kind, so a table cut by size alone spanned from the new keys of one kind
// to those of the next, which covers all the older keys of the second kind
// between. Merging such a table into the level below rewrote those older
// keys each time, up to Pebble's cap on a table's overlap (ten times the
// target table size, 5 MiB here): in a throughput run the compactions
// wrote 36 MB of tables for a store of 13 MB. Cut by kind, a table of new records covers only new
// records, and the open and in-flight index entries set and deleted within
// seconds, whose tombstones start most compactions, are merged with their
// own few tables: 3.8 MB written (docs/benchmarks.md).
func kindSpan(start []byte) (pebble.SpanPolicy, []byte, error) {
	switch {
	case len(start) == 0:
		return pebble.SpanPolicy{}, []byte{0}, nil
	case start[0] == 'x' && len(start) > 1 && start[1] < 0xff:
		return pebble.SpanPolicy{}, []byte{'x', start[1] + 1}, nil
	case start[0] == 'x':
		return pebble.SpanPolicy{}, []byte{'y'}, nil
	case start[0] == 0xff:
		return pebble.SpanPolicy{}, nil, nil // to the end of the key space
	}
	return pebble.SpanPolicy{}, []byte{start[0] + 1}, nil
}

// The key builders come in two forms: appendX appends to a buffer (a commit
// reuses one: Pebble copies keys into its batch), X returns a new key.

func key(kind byte, id string) []byte { return appendKey(make([]byte, 0, 1+len(id)), kind, id) }

func appendKey(k []byte, kind byte, id string) []byte { return append(append(k, kind), id...) }

// indexKey is prefix + id + 0 + position: ids never contain a zero byte.
func indexKey(prefix, id string, pos domain.Position) []byte {
	return appendIndexKey(make([]byte, 0, len(prefix)+len(id)+9), prefix, id, pos)
}

func appendIndexKey(k []byte, prefix, id string, pos domain.Position) []byte {
	k = append(append(append(k, prefix...), id...), 0)
	return binary.BigEndian.AppendUint64(k, uint64(pos))
}

// statKey is z + subscription + 0 + slot (sign-flipped, big-endian).
func statKey(sub string, slot int64) string {
	k := make([]byte, 0, 2+len(sub)+8)
	k = append(append(append(k, 'z'), sub...), 0)
	return string(binary.BigEndian.AppendUint64(k, uint64(slot)^(1<<63)))
}

func openKey(sub string, due int64, id string) []byte {
	return appendOpenKey(make([]byte, 0, 1+len(sub)+9+len(id)), sub, due, id)
}

func appendOpenKey(k []byte, sub string, due int64, id string) []byte {
	k = append(append(append(k, 'q'), sub...), 0)
	k = binary.BigEndian.AppendUint64(k, uint64(due)^(1<<63)) // sign flip: negative times sort first
	return append(k, id...)
}

// orderKey is p + subscription + 0 + the message's position + delivery id:
// a subscription's open deliveries in publish order (what a FIFO
// subscription sends next).
func orderKey(sub string, msgPos domain.Position, id string) []byte {
	return appendOrderKey(make([]byte, 0, 1+len(sub)+9+len(id)), sub, msgPos, id)
}

func appendOrderKey(k []byte, sub string, msgPos domain.Position, id string) []byte {
	k = append(append(append(k, 'p'), sub...), 0)
	k = binary.BigEndian.AppendUint64(k, uint64(msgPos))
	return append(k, id...)
}

func decodeOrderKey(k []byte) (pos domain.Position, id string, ok bool) {
	rest := k[1:]
	i := indexByte(rest, 0)
	if i < 0 || len(rest) < i+9 {
		return 0, "", false
	}
	return domain.Position(binary.BigEndian.Uint64(rest[i+1 : i+9])), string(rest[i+9:]), true
}

func decodeOpenKey(k []byte) (sub string, due time.Time, id string, ok bool) {
	rest := k[1:]
	i := indexByte(rest, 0)
	if i < 0 || len(rest) < i+9 {
		return "", time.Time{}, "", false
	}
	n := int64(binary.BigEndian.Uint64(rest[i+1:i+9]) ^ (1 << 63))
	return string(rest[:i]), time.Unix(0, n).UTC(), string(rest[i+9:]), true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// pebbleLogger sends Pebble's logs to zerolog. A fatal error panics rather
// than exit the process as Pebble's default does.
type pebbleLogger struct{ l zerolog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug().Str("origin", "pebble-views").Msgf(format, args...)
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error().Str("origin", "pebble-views").Msgf(format, args...)
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error().Str("origin", "pebble-views").Msg(msg)
	panic("view store: " + msg)
}
