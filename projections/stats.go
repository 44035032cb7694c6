package projections

import (
	"sort"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// StatSlot is the width of a stats bucket: a subscription's outcomes are
// counted per 5 minutes, so a window of 7 days reads 2,016 small records.
const StatSlot = 5 * time.Minute

// LatencyBoundsMS are the upper bounds of the latency histogram's buckets
// (the last bucket is everything slower).
var LatencyBoundsMS = []int64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}

// StatBucket is what one subscription's attempts and deliveries came to in
// one slot, by the events' own times.
type StatBucket struct {
	SubscriptionID string         `json:"subscription_id"`
	Slot           int64          `json:"slot"` // unix time / StatSlot
	Acknowledged   int            `json:"acknowledged"`
	Failed         int            `json:"failed"`
	FailedByClass  map[string]int `json:"failed_by_class,omitempty"`
	Unknown        int            `json:"outcome_unknown"`
	Exhausted      int            `json:"exhausted"`
	Cancelled      int            `json:"cancelled"`
	// Latency counts attempts with a response or a timeout by
	// LatencyBoundsMS bucket (len(LatencyBoundsMS)+1 entries).
	Latency []int `json:"latency"`
}

// SlotOf is the stats slot of a time.
func SlotOf(t time.Time) int64 { return t.Unix() / int64(StatSlot/time.Second) }

// SlotStart is when a slot begins.
func SlotStart(slot int64) time.Time {
	return time.Unix(slot*int64(StatSlot/time.Second), 0).UTC()
}

func latencyBucket(us int64) int {
	ms := us / 1000
	return sort.Search(len(LatencyBoundsMS), func(i int) bool { return ms <= LatencyBoundsMS[i] })
}

// foldStat counts a delivery event into its subscription's slot.
func (v *Views) foldStat(sub string, ev domain.Event) {
	var at time.Time
	var apply func(b *StatBucket)
	switch e := ev.(type) {
	case domain.AttemptAcknowledged:
		at = e.AcknowledgedAt
		apply = func(b *StatBucket) { b.Acknowledged++; b.Latency[latencyBucket(e.LatencyUS)]++ }
	case domain.AttemptFailed:
		at = e.FailedAt
		apply = func(b *StatBucket) {
			b.Failed++
			if b.FailedByClass == nil {
				b.FailedByClass = map[string]int{}
			}
			b.FailedByClass[e.ErrorClass]++
			if e.LatencyUS > 0 {
				b.Latency[latencyBucket(e.LatencyUS)]++
			}
		}
	case domain.AttemptOutcomeUnknown:
		at, apply = e.ClosedAt, func(b *StatBucket) { b.Unknown++ }
	case domain.DeliveryExhausted:
		at, apply = e.ExhaustedAt, func(b *StatBucket) { b.Exhausted++ }
	case domain.DeliveryCancelled:
		at, apply = e.CancelledAt, func(b *StatBucket) { b.Cancelled++ }
	default:
		return
	}
	slot := SlotOf(at)
	b := v.records.Stat(sub, slot)
	if b == nil {
		b = &StatBucket{SubscriptionID: sub, Slot: slot, Latency: make([]int, len(LatencyBoundsMS)+1)}
	}
	apply(b)
	v.records.PutStat(b)
}

// Quantile estimates a latency quantile (0..1) in milliseconds from a
// histogram: the upper bound of the bucket holding it (-1: no samples; the
// last, open bucket reports its lower bound).
func Quantile(hist []int, q float64) int64 {
	total := 0
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return -1
	}
	rank := int(q*float64(total-1)) + 1
	seen := 0
	for i, n := range hist {
		seen += n
		if seen >= rank {
			if i < len(LatencyBoundsMS) {
				return LatencyBoundsMS[i]
			}
			return LatencyBoundsMS[len(LatencyBoundsMS)-1]
		}
	}
	return LatencyBoundsMS[len(LatencyBoundsMS)-1]
}
