package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hookledger/hookledger/adapters/fsync"
)

// HeadMarkFile is the name, in the data directory, of the durable record of
// the highest position the store ever acknowledged.
//
// Why it exists: Pebble cannot tell a corrupt record in the last block of its
// write-ahead log from a torn tail left by a crash, and it replays such a log
// up to the damage and reports success. Without a second witness a flipped
// bit would make the ledger silently shorter, and a shorter ledger still
// verifies (its seals are a prefix of the real ones). The head mark is that
// witness: it lives outside the WAL, is only ever written after the positions
// it names were synced, and Open refuses a store whose head is below it.
const HeadMarkFile = "ledger-head"

// markSlot is one record of the head mark file: magic, sequence, head,
// CRC-32C of the first 20 bytes, padded to 32 bytes. The file holds two slots
// written alternately, so a torn write of one leaves the other intact.
const (
	markSlot  = 32
	markMagic = "HLH1"
)

func encodeMark(seq, head uint64) []byte {
	b := make([]byte, markSlot)
	copy(b, markMagic)
	binary.BigEndian.PutUint64(b[4:], seq)
	binary.BigEndian.PutUint64(b[12:], head)
	binary.BigEndian.PutUint32(b[20:], crc32.Checksum(b[:20], castagnoli))
	return b
}

func decodeMark(b []byte) (seq, head uint64, ok bool) {
	if len(b) < markSlot || string(b[:4]) != markMagic || crc32.Checksum(b[:20], castagnoli) != binary.BigEndian.Uint32(b[20:]) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[4:]), binary.BigEndian.Uint64(b[12:]), true
}

// readHeadMark returns the recorded head and whether a mark exists. A file
// that exists but has no valid slot is an error: the witness itself is
// damaged, and guessing would defeat its purpose.
func readHeadMark(dir string) (uint64, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, HeadMarkFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", HeadMarkFile, err)
	}
	var best, bestSeq uint64
	found := false
	for off := 0; off+markSlot <= len(b); off += markSlot {
		if seq, head, ok := decodeMark(b[off : off+markSlot]); ok && (!found || seq > bestSeq) {
			best, bestSeq, found = head, seq, true
		}
	}
	if !found {
		return 0, false, fmt.Errorf("%s in %s is damaged (no valid record)", HeadMarkFile, dir)
	}
	return best, true, nil
}

// headMarker writes the head mark in the background: each Advance wakes it,
// it writes the newest head and syncs, then rests for interval so that a
// busy ledger pays one small sync per interval, not one per commit. Appends
// never wait for it; what a crash can lose is the last interval of marks,
// never a mark above what was synced.
type headMarker struct {
	f        *os.File
	seq      uint64
	interval time.Duration
	onError  func(error)

	mu      sync.Mutex
	want    uint64 // newest synced head, to be marked
	written uint64 // newest head durably marked
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func openHeadMarker(dir string, head uint64, interval time.Duration, onError func(error)) (*headMarker, error) {
	f, err := os.OpenFile(filepath.Join(dir, HeadMarkFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", HeadMarkFile, err)
	}
	m := &headMarker{f: f, interval: interval, onError: onError, want: head,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	// Continue the sequence of what is there, so the newest slot stays newest.
	buf := make([]byte, 2*markSlot)
	n, _ := io.ReadFull(f, buf)
	for off := 0; off+markSlot <= n; off += markSlot {
		if seq, _, ok := decodeMark(buf[off : off+markSlot]); ok && seq > m.seq {
			m.seq = seq
		}
	}
	if err := m.write(head); err != nil {
		f.Close()
		return nil, err
	}
	go m.loop()
	return m, nil
}

func (m *headMarker) write(head uint64) error {
	m.seq++
	if _, err := m.f.WriteAt(encodeMark(m.seq, head), int64(m.seq%2)*markSlot); err != nil {
		return fmt.Errorf("write %s: %w", HeadMarkFile, err)
	}
	if err := fsync.Sync(m.f); err != nil {
		return fmt.Errorf("sync %s: %w", HeadMarkFile, err)
	}
	m.mu.Lock()
	m.written = head
	m.mu.Unlock()
	return nil
}

// Advance records that every position up to head is synced.
func (m *headMarker) Advance(head uint64) {
	m.mu.Lock()
	if head > m.want {
		m.want = head
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Written is the newest head durably marked.
func (m *headMarker) Written() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written
}

func (m *headMarker) flush() {
	m.mu.Lock()
	want, written := m.want, m.written
	m.mu.Unlock()
	if want > written {
		if err := m.write(want); err != nil {
			m.onError(err)
		}
	}
}

func (m *headMarker) loop() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		m.flush()
		select {
		case <-m.stop:
			return
		case <-time.After(m.interval):
		}
	}
}

// Close writes the final head and closes the file.
func (m *headMarker) Close() error {
	close(m.stop)
	<-m.done
	m.flush()
	return m.f.Close()
}
