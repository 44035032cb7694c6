package httpapi

import (
	"strings"
	"testing"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Given the subscription as it stood at a message's position, explainMatch
// says what the fan-out decided and why, one reason per state.
func TestExplainMatchSaysWhyForEachState(t *testing.T) {
	msg := domain.MessagePublished{MessageID: "msg_m", ApplicationID: "app_a", EventType: "order.paid"}
	sub := func(status domain.SubscriptionStatus, app string, types ...string) *projections.SubscriptionView {
		return &projections.SubscriptionView{Subscription: domain.Subscription{ID: "sub_s", ApplicationID: app, Status: status,
			EventTypes: domain.Filters(types), DisabledReason: domain.DisabledGone}}
	}
	now := projections.SubscriptionView{CreatedPosition: 42}
	for _, c := range []struct {
		name             string
		then             *projections.SubscriptionView
		decision, reason string
		detail, pattern  string
	}{
		{"not yet created", nil, "not_scheduled", "not_created_yet", "(at position 42)", ""},
		{"another application's", sub(domain.StatusActive, "app_b", "order.*"), "not_scheduled", "other_application", "application app_b", ""},
		{"deleted", sub(domain.StatusDeleted, "app_a", "order.*"), "not_scheduled", "deleted", "deleted before", ""},
		{"disabled", sub(domain.StatusDisabled, "app_a", "order.*"), "not_scheduled", "disabled", "disabled (" + domain.DisabledGone + ")", ""},
		{"no filter matches", sub(domain.StatusActive, "app_a", "user.*"), "not_scheduled", "no_filter_match", "matches none", ""},
		{"matched", sub(domain.StatusActive, "app_a", "user.*", "order.*"), "scheduled", "matched", "matched the pattern order.*", "order.*"},
		{"matched while paused", sub(domain.StatusPaused, "app_a", "order.paid"), "scheduled", "matched", "waited for the resume", "order.paid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := explainMatch(c.then, now, msg)
			if x.decision != c.decision || x.reason != c.reason || x.pattern != c.pattern || !strings.Contains(x.detail, c.detail) {
				t.Fatalf("got %+v, want %s / %s / pattern %q / detail with %q", x, c.decision, c.reason, c.pattern, c.detail)
			}
		})
	}
}
