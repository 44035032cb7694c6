package logging

import (
	"testing"
	"time"
)

func TestRepeatsQuietsALineWithinItsWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRepeats(10 * time.Second)
	r.now = func() time.Time { return now }
	if ok, n := r.Allow("a"); !ok || n != 0 {
		t.Fatal("the first line is logged")
	}
	for i := 0; i < 100; i++ {
		now = now.Add(50 * time.Millisecond)
		if ok, _ := r.Allow("a"); ok {
			t.Fatalf("repeat %d within the window was logged", i)
		}
	}
	if ok, _ := r.Allow("b"); !ok {
		t.Fatal("another line is logged")
	}
	now = now.Add(10 * time.Second)
	if ok, n := r.Allow("a"); !ok || n != 100 {
		t.Fatalf("after the window: %v, %d left out, want 100", ok, n)
	}
}
