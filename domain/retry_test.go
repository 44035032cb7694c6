package domain_test

import (
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

func TestDefaultScheduleWithJitterBounds(t *testing.T) {
	p := domain.DefaultRetryPolicy()
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	for i, base := range want {
		failed := i + 1
		lo, _, ok := p.NextDelay(failed, 0, 0)
		mid, _, _ := p.NextDelay(failed, 0.5, 0)
		hi, _, _ := p.NextDelay(failed, 0.9999999, 0)
		if !ok {
			t.Fatalf("after %d failures: exhausted too early", failed)
		}
		if mid != base {
			t.Errorf("after %d failures, rnd 0.5: %s, want %s", failed, mid, base)
		}
		if lo != time.Duration(float64(base)*0.8).Round(time.Millisecond) {
			t.Errorf("after %d failures, rnd 0: %s, want -20%% of %s", failed, lo, base)
		}
		if hi < base || hi > time.Duration(float64(base)*1.2) {
			t.Errorf("after %d failures, rnd ~1: %s, want within +20%% of %s", failed, hi, base)
		}
	}
	if _, _, ok := p.NextDelay(8, 0.5, 0); ok {
		t.Fatal("after 8 failed attempts the default schedule must be exhausted")
	}
}

func TestRetryAfterHonouredWithinBounds(t *testing.T) {
	p := domain.DefaultRetryPolicy()
	d, honoured, _ := p.NextDelay(1, 0.5, 2*time.Minute)
	if d != 2*time.Minute || !honoured {
		t.Fatalf("Retry-After 2m over a 5s delay: got %s honoured=%v", d, honoured)
	}
	d, honoured, _ = p.NextDelay(2, 0.5, time.Second)
	if d != 5*time.Minute || honoured {
		t.Fatalf("Retry-After shorter than the schedule: got %s honoured=%v, want 5m false", d, honoured)
	}
	d, _, _ = p.NextDelay(1, 0.5, 90*24*time.Hour)
	if d != p.MaxRetryAfter {
		t.Fatalf("Retry-After of 90 days: got %s, want the cap %s", d, p.MaxRetryAfter)
	}
}

func TestPolicyFromMS(t *testing.T) {
	p := domain.PolicyFromMS([]int64{0, 1000})
	if d, _, ok := p.NextDelay(1, 0.5, 0); !ok || d != time.Second {
		t.Fatalf("custom schedule: %s %v", d, ok)
	}
	if _, _, ok := p.NextDelay(2, 0.5, 0); ok {
		t.Fatal("custom schedule of 2 must exhaust after 2 failures")
	}
}
