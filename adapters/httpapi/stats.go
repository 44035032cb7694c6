package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// statsWindows are the windows GET .../stats answers for.
var statsWindows = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

type statsJSON struct {
	SubscriptionID string    `json:"subscription_id"`
	Window         string    `json:"window"`
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	Attempts       struct {
		Total          int            `json:"total"`
		Acknowledged   int            `json:"acknowledged"`
		Failed         int            `json:"failed"`
		FailedByClass  map[string]int `json:"failed_by_class"`
		OutcomeUnknown int            `json:"outcome_unknown"`
	} `json:"attempts"`
	Deliveries struct {
		Delivered int `json:"delivered"`
		Exhausted int `json:"exhausted"`
		Cancelled int `json:"cancelled"`
	} `json:"deliveries"`
	// SuccessRate is acknowledged / (acknowledged + failed) attempts; null
	// when there were none.
	SuccessRate *float64 `json:"success_rate"`
	LatencyMS   struct {
		P50 *int64 `json:"p50"`
		P99 *int64 `json:"p99"`
	} `json:"latency_ms"`
	Pending               int      `json:"pending"`
	OldestPendingAgeSecs  *float64 `json:"oldest_pending_age_seconds"`
	LatencyBucketBoundsMS []int64  `json:"latency_bucket_bounds_ms"`
	// Series is the window slot by slot, oldest first, for charts: only the
	// slots that saw anything (a quiet hour costs no bytes).
	Series []statsSlotJSON `json:"series"`
}

// statsSlotJSON is one 5-minute slot of a subscription's outcomes.
type statsSlotJSON struct {
	From           time.Time `json:"from"`
	Acknowledged   int       `json:"acknowledged"`
	Failed         int       `json:"failed"`
	OutcomeUnknown int       `json:"outcome_unknown"`
	Exhausted      int       `json:"exhausted"`
	LatencyP50MS   *int64    `json:"latency_p50_ms"`
	LatencyP99MS   *int64    `json:"latency_p99_ms"`
}

func slotOut(b *projections.StatBucket) statsSlotJSON {
	o := statsSlotJSON{From: projections.SlotStart(b.Slot), Acknowledged: b.Acknowledged, Failed: b.Failed, OutcomeUnknown: b.Unknown, Exhausted: b.Exhausted}
	if p := projections.Quantile(b.Latency, 0.5); p >= 0 {
		p99 := projections.Quantile(b.Latency, 0.99)
		o.LatencyP50MS, o.LatencyP99MS = &p, &p99
	}
	return o
}

// subscriptionStats answers a subscription's delivery health over a window,
// from the 5-minute stats buckets the fold keeps in the view store (never a
// scan of history): the window is whole slots, ending with the current one.
func (s *Server) subscriptionStats(c *gin.Context) {
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	window := c.DefaultQuery("window", "24h")
	span, ok := statsWindows[window]
	if !ok {
		s.fail(c, bad(CodeInvalidParameter, "window", "window must be 1h, 24h or 7d"))
		return
	}
	sv, found := s.subscriptionView(c.Param("app"), id)
	if !found {
		s.fail(c, domain.ErrNotFound)
		return
	}
	now := time.Now().UTC()
	to := projections.SlotOf(now)
	from := to - int64(span/projections.StatSlot) + 1
	out := statsJSON{SubscriptionID: id, Window: window, From: projections.SlotStart(from), To: now, LatencyBucketBoundsMS: projections.LatencyBoundsMS}
	out.Attempts.FailedByClass = map[string]int{}
	out.Series = []statsSlotJSON{}
	hist := make([]int, len(projections.LatencyBoundsMS)+1)
	s.Views.Read(func(v *projections.Views) {
		v.Records().StatsOf(id, from, to, func(b *projections.StatBucket) bool {
			out.Attempts.Acknowledged += b.Acknowledged
			out.Attempts.Failed += b.Failed
			out.Attempts.OutcomeUnknown += b.Unknown
			for class, n := range b.FailedByClass {
				out.Attempts.FailedByClass[class] += n
			}
			out.Deliveries.Exhausted += b.Exhausted
			out.Deliveries.Cancelled += b.Cancelled
			out.Series = append(out.Series, slotOut(b))
			for i, n := range b.Latency {
				if i < len(hist) {
					hist[i] += n
				}
			}
			return true
		})
	})
	out.Attempts.Total = out.Attempts.Acknowledged + out.Attempts.Failed + out.Attempts.OutcomeUnknown
	out.Deliveries.Delivered = out.Attempts.Acknowledged // one acknowledgement ends a delivery
	if n := out.Attempts.Acknowledged + out.Attempts.Failed; n > 0 {
		r := float64(out.Attempts.Acknowledged) / float64(n)
		out.SuccessRate = &r
	}
	if p := projections.Quantile(hist, 0.5); p >= 0 {
		p99 := projections.Quantile(hist, 0.99)
		out.LatencyMS.P50, out.LatencyMS.P99 = &p, &p99
	}
	out.Pending = sv.Open
	if o, ok := s.Views.(interface {
		OldestOpen(sub string) (time.Time, bool)
	}); ok && sv.Open > 0 {
		if at, ok := o.OldestOpen(id); ok {
			age := max(now.Sub(at).Seconds(), 0)
			out.OldestPendingAgeSecs = &age
		}
	}
	c.JSON(http.StatusOK, out)
}
