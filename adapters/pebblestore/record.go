package pebblestore

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// A record is the stored form of one event:
//
//	crc32c(4)  over every following byte
//	position(8) revision(8) created-unix-nanos(8)
//	uvarint len + stream, uvarint len + id, uvarint len + type,
//	uvarint len + metadata, uvarint len + data
//
// The position inside the record guards against a record being served from
// the wrong key.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const recordHeader = 4 + 8 + 8 + 8

func recordSize(stream string, e *domain.EventData) int {
	return recordHeader + 5*binary.MaxVarintLen32 + len(stream) + len(e.ID) + len(e.Type) + len(e.Metadata) + len(e.Data)
}

func appendRecord(dst []byte, pos domain.Position, rev uint64, created int64, stream string, e *domain.EventData) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(pos))
	dst = binary.BigEndian.AppendUint64(dst, rev)
	dst = binary.BigEndian.AppendUint64(dst, uint64(created))
	dst = appendBytes(dst, []byte(stream))
	dst = appendBytes(dst, []byte(e.ID))
	dst = appendBytes(dst, []byte(e.Type))
	dst = appendBytes(dst, e.Metadata)
	dst = appendBytes(dst, e.Data)
	binary.BigEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decodeRecord parses a record the caller owns (the returned event's byte
// slices alias buf). types interns event type strings, which repeat (nil:
// none).
func decodeRecord(buf []byte, want domain.Position, types *interner) (domain.RecordedEvent, error) {
	corrupt := func(detail string) (domain.RecordedEvent, error) {
		return domain.RecordedEvent{}, &domain.CorruptError{Position: want, Detail: detail}
	}
	if len(buf) < recordHeader {
		return corrupt("record shorter than its header")
	}
	if crc32.Checksum(buf[4:], castagnoli) != binary.BigEndian.Uint32(buf) {
		return corrupt("checksum mismatch")
	}
	var ev domain.RecordedEvent
	ev.Position = domain.Position(binary.BigEndian.Uint64(buf[4:]))
	if ev.Position != want {
		return corrupt("record holds another position")
	}
	ev.Revision = binary.BigEndian.Uint64(buf[12:])
	ev.Created = time.Unix(0, int64(binary.BigEndian.Uint64(buf[20:]))).UTC()
	rest := buf[recordHeader:]
	var fields [5][]byte
	for i := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return corrupt("truncated field")
		}
		fields[i] = rest[k : k+int(n)]
		rest = rest[k+int(n):]
	}
	ev.Stream = string(fields[0])
	ev.ID = string(fields[1])
	ev.Type = types.intern(fields[2])
	if len(fields[3]) > 0 {
		ev.Metadata = fields[3]
	}
	if len(fields[4]) > 0 {
		ev.Data = fields[4]
	}
	return ev, nil
}

// interner returns one shared string per distinct event type: a ledger has a
// few dozen types and millions of events.
type interner struct {
	m map[string]string
}

func (in *interner) intern(b []byte) string {
	if in == nil { // a read of one event: nothing to share
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < 4096 {
		in.m[s] = s
	}
	return s
}

// arena copies many small values into shared chunks: one allocation per chunk
// instead of one per event. A chunk is never written again once handed out.
// The first chunk is sized for the events the read will return (a live read
// of the few events just committed, one read per commit of the fold's
// catch-up, takes a few KiB; a fixed 256 KiB chunk per read was half of
// everything the delivery pipeline allocated); later chunks grow with what
// the arena has copied, up to 256 KiB.
type arena struct {
	buf    []byte
	copied int
	expect int // bytes the first chunk is sized for
}

const (
	arenaFirstChunk = 8 << 10
	arenaChunk      = 256 << 10
	// arenaPerEvent is what a ledger event is reckoned to take when sizing a
	// read's first chunk: a message with a ~1 KiB body takes more, the
	// delivery events (three of four) less.
	arenaPerEvent = 512
)

// newArena returns an arena for a read of up to events events.
func newArena(events int) arena { return arena{expect: events * arenaPerEvent} }

func (a *arena) copy(v []byte) []byte {
	if len(v) > arenaChunk/4 {
		return append([]byte(nil), v...)
	}
	if cap(a.buf)-len(a.buf) < len(v) {
		a.buf = make([]byte, 0, min(arenaChunk, max(arenaFirstChunk, a.expect, 2*a.copied, len(v))))
		a.expect = 0
	}
	a.copied += len(v)
	start := len(a.buf)
	a.buf = append(a.buf, v...)
	return a.buf[start:len(a.buf):len(a.buf)]
}
