package erasure

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hookledger/hookledger/adapters/clock"
	"github.com/hookledger/hookledger/domain"
)

// Retention is one application's payload retention.
type Retention struct {
	ApplicationID string
	Days          int
}

// Sweeper erases, at every Interval, the payloads older than their
// application's retention, through the Eraser: each run that destroys a key
// is an erasure in the ledger (actor "retention-sweeper", the policy as its
// reason); a run that finds nothing to destroy records nothing (it would be
// an event per application per hour, for ever). Its erasure ids are derived
// from the application and the day boundary, so a sweep interrupted or run
// twice is one erasure.
type Sweeper struct {
	Eraser   *Eraser
	Policies func() []Retention
	Clock    clock.Clock
	Interval time.Duration
}

// Run sweeps at once, then every Interval, until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-s.Clock.After(s.Interval):
		}
	}
}

// Sweep runs once and answers the erasures it completed.
func (s *Sweeper) Sweep(ctx context.Context) []Result {
	policies := s.Policies()
	sort.Slice(policies, func(i, j int) bool { return policies[i].ApplicationID < policies[j].ApplicationID })
	var done []Result
	for _, p := range policies {
		if p.Days <= 0 {
			continue
		}
		before := s.Clock.Now().UTC().Add(-time.Duration(p.Days) * 24 * time.Hour)
		boundary := before.Truncate(24 * time.Hour)
		req := domain.RequestErasure{ErasureID: domain.RetentionErasureID(p.ApplicationID, boundary), ApplicationID: p.ApplicationID,
			Scope: domain.EraseBefore, Before: boundary, Reason: fmt.Sprintf("retention: payloads older than %d days", p.Days)}
		keys, _, err := s.Eraser.selectKeys(ctx, req)
		if err != nil {
			s.Eraser.Log.Error().Err(err).Str("application_id", p.ApplicationID).Msg("retention sweep: cannot list the data keys")
			continue
		}
		if len(keys) == 0 {
			s.Eraser.Log.Debug().Str("application_id", p.ApplicationID).Time("before", boundary).Msg("retention sweep: nothing to erase")
			continue
		}
		res, err := s.Eraser.Erase(ctx, req, domain.Metadata{Actor: "retention-sweeper"})
		if err != nil {
			s.Eraser.Log.Error().Err(err).Str("application_id", p.ApplicationID).Str("erasure_id", req.ErasureID).Msg("retention sweep failed; the next run retries it")
			continue
		}
		done = append(done, res)
	}
	return done
}
