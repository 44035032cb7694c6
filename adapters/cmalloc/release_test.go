package cmalloc

import (
	"testing"
	"time"
)

// The stores call Release at every flush and compaction end, many times a
// second under load: it must trim at most once per ReleaseEvery.
func TestReleaseTrimsAtMostOncePerInterval(t *testing.T) {
	lastRelease.Store(0)
	if !Release() {
		t.Fatal("the first Release did not trim")
	}
	for i := 0; i < 100; i++ {
		if Release() {
			t.Fatalf("call %d right after a trim trimmed again", i)
		}
	}
	// As if the last trim were an interval ago.
	lastRelease.Store(time.Now().Add(-ReleaseEvery).UnixNano())
	if !Release() {
		t.Fatal("Release did not trim an interval after the last trim")
	}
}
