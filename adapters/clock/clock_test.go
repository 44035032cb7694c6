package clock

import (
	"testing"
	"time"
)

func TestFakeFiresOnlyWhenAdvancedPastTheDeadline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(t0)
	ch := f.After(time.Minute)
	f.Advance(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Second)
	select {
	case got := <-ch:
		if !got.Equal(t0.Add(time.Minute)) {
			t.Fatalf("fired with %v", got)
		}
	default:
		t.Fatal("did not fire at the deadline")
	}
	if !f.Now().Equal(t0.Add(time.Minute)) {
		t.Fatal("Now did not move")
	}
}
