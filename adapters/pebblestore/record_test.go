package pebblestore

import (
	"bytes"
	"testing"
)

// An arena hands out copies that stay as they were while later values are
// copied, in chunks sized for the read (a live read of one event allocates a
// few KiB, not a scan's chunk) that grow to arenaChunk for long pages.
func TestArenaCopiesIntoChunksThatGrowWithThePage(t *testing.T) {
	if a := newArena(2048); func() int { a.copy([]byte("x")); return cap(a.buf) }() != arenaChunk {
		t.Fatalf("a read of 2,048 events starts with a chunk smaller than %d", arenaChunk)
	}
	a := newArena(1)
	first := a.copy([]byte("one event"))
	if cap(a.buf) != arenaFirstChunk {
		t.Fatalf("first chunk %d bytes, want %d", cap(a.buf), arenaFirstChunk)
	}
	value := bytes.Repeat([]byte("x"), 700)
	var copies [][]byte
	chunks := map[int]bool{}
	for i := 0; i < 2048; i++ {
		value[0] = byte(i)
		c := a.copy(value)
		if cap(c) != len(c) {
			t.Fatalf("copy %d can be appended to in place (cap %d, len %d)", i, cap(c), len(c))
		}
		copies = append(copies, c)
		chunks[cap(a.buf)] = true
	}
	if string(first) != "one event" {
		t.Fatalf("first copy changed: %q", first)
	}
	for i, c := range copies {
		if c[0] != byte(i) || !bytes.Equal(c[1:], value[1:]) {
			t.Fatalf("copy %d changed", i)
		}
	}
	if !chunks[arenaChunk] || len(chunks) < 4 {
		t.Fatalf("chunk sizes %v: want growth up to %d", chunks, arenaChunk)
	}
	big := bytes.Repeat([]byte("y"), arenaChunk/4+1)
	if c := a.copy(big); !bytes.Equal(c, big) || cap(a.buf) > arenaChunk {
		t.Fatalf("a large value is copied on its own")
	}
}
