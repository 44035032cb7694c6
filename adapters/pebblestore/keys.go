package pebblestore

import (
	"encoding/binary"

	"github.com/hookledger/hookledger/domain"
)

const (
	prefixEvent  = 'e'
	prefixStream = 's'
	prefixHead   = 'h'
)

func eventKey(pos domain.Position) []byte {
	k := make([]byte, 9)
	k[0] = prefixEvent
	binary.BigEndian.PutUint64(k[1:], uint64(pos))
	return k
}

func appendStreamKey(dst []byte, stream string, rev uint64) []byte {
	dst = append(dst, prefixStream)
	dst = append(dst, stream...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, rev)
}

// streamBounds are the [lower, upper) keys of one stream's index. Stream names
// cannot contain control characters, so 0x00 ends the name unambiguously.
func streamBounds(stream string) (lower, upper []byte) {
	lower = append(append([]byte{prefixStream}, stream...), 0)
	upper = append(append([]byte{prefixStream}, stream...), 1)
	return lower, upper
}

// appendHeadKey appends the key of stream's head to dst.
func appendHeadKey(dst []byte, stream string) []byte {
	return append(append(dst, prefixHead), stream...)
}
