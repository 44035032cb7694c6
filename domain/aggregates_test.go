package domain_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// scenario is one given/when/then rule: given the events so far, when the
// command is decided at now, then these events (or this error).
type scenario struct {
	name  string
	given []domain.Event
	when  any
	now   time.Time
	then  []domain.Event
	err   error
}

func run[S any](t *testing.T, cases []scenario, evolve func(S, domain.Event) S, decide func(S, any, time.Time) ([]domain.Event, error)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s S
			for _, e := range c.given {
				s = evolve(s, e)
			}
			now := c.now
			if now.IsZero() {
				now = t0
			}
			got, err := decide(s, c.when, now)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("want error %v, got %v (events %+v)", c.err, err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, c.then) {
				t.Fatalf("events:\n got %+v\nwant %+v", got, c.then)
			}
			// evolve never fails on a known event: folding the result works.
			for _, e := range got {
				s = evolve(s, e)
			}
		})
	}
}

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

func TestApplication(t *testing.T) {
	created := domain.ApplicationCreated{ApplicationID: "app_1", Name: "Shop", CreatedAt: t0}
	run(t, []scenario{
		{name: "create", when: domain.CreateApplication{ApplicationID: "app_1", Name: "Shop"}, then: []domain.Event{created}},
		{name: "create twice", given: []domain.Event{created}, when: domain.CreateApplication{ApplicationID: "app_1", Name: "Shop"}, err: domain.ErrAlreadyExists},
		{name: "id with a path trick", when: domain.CreateApplication{ApplicationID: "../etc", Name: "x"}, err: domain.ErrInvalidArgument},
		{name: "blank name", when: domain.CreateApplication{ApplicationID: "app_1", Name: "  "}, err: domain.ErrInvalidArgument},
		{name: "create with its settings: recorded in the same append", when: domain.CreateApplication{ApplicationID: "app_1", Name: "Shop", StrictEventTypes: true, PayloadRetentionDays: 30},
			then: []domain.Event{created, domain.ApplicationUpdated{ApplicationID: "app_1", Name: "Shop", StrictEventTypes: true, PayloadRetentionDays: 30}}},
		{name: "create with a retention out of range", when: domain.CreateApplication{ApplicationID: "app_1", Name: "Shop", PayloadRetentionDays: -1}, err: domain.ErrInvalidArgument},
		{name: "rename", given: []domain.Event{created}, when: domain.RenameApplication{Name: "Store"}, then: []domain.Event{domain.ApplicationUpdated{ApplicationID: "app_1", Name: "Store"}}},
		{name: "rename to the same name changes nothing", given: []domain.Event{created}, when: domain.RenameApplication{Name: "Shop"}},
		{name: "rename unknown", when: domain.RenameApplication{Name: "x"}, err: domain.ErrNotFound},
		{name: "delete", given: []domain.Event{created}, when: domain.DeleteApplication{Reason: "offboarded"},
			then: []domain.Event{domain.ApplicationDeleted{ApplicationID: "app_1", Reason: "offboarded", DeletedAt: t0}}},
		{name: "delete again changes nothing", given: []domain.Event{created, domain.ApplicationDeleted{ApplicationID: "app_1", DeletedAt: t0}}, when: domain.DeleteApplication{}},
		{name: "delete unknown", when: domain.DeleteApplication{}, err: domain.ErrNotFound},
		{name: "rename deleted", given: []domain.Event{created, domain.ApplicationDeleted{ApplicationID: "app_1", DeletedAt: t0}}, when: domain.RenameApplication{Name: "x"}, err: domain.ErrConflict},
	}, domain.EvolveApplication, domain.DecideApplication)
}

func subCreated() domain.SubscriptionCreated {
	return domain.SubscriptionCreated{
		SubscriptionID: "sub_1", ApplicationID: "app_1", URL: "https://example.com/hook",
		EventTypes: domain.Filters{"order.*"},
		Key:        domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: t0},
		CreatedAt:  t0,
	}
}

func TestSubscription(t *testing.T) {
	created := subCreated()
	paused := domain.SubscriptionPaused{SubscriptionID: "sub_1", PausedAt: t0}
	disabled := domain.SubscriptionDisabled{SubscriptionID: "sub_1", Reason: domain.DisabledGone, Detail: "410", DisabledAt: t0}
	deleted := domain.SubscriptionDeleted{SubscriptionID: "sub_1", DeletedAt: t0}
	create := domain.CreateSubscription{SubscriptionID: "sub_1", ApplicationID: "app_1", URL: "https://example.com/hook", EventTypes: domain.Filters{"order.*"}, Secret: secretA}
	newURL := "http://other.example/h"
	withCreate := func(mut func(*domain.CreateSubscription)) domain.CreateSubscription {
		c := create
		mut(&c)
		return c
	}
	run(t, []scenario{
		{name: "create", when: create, then: []domain.Event{created}},
		{name: "create twice", given: []domain.Event{created}, when: create, err: domain.ErrAlreadyExists},
		{name: "relative URL", when: withCreate(func(c *domain.CreateSubscription) { c.URL = "/hook" }), err: domain.ErrInvalidArgument},
		{name: "ftp URL", when: withCreate(func(c *domain.CreateSubscription) { c.URL = "ftp://example.com/" }), err: domain.ErrInvalidArgument},
		{name: "URL with credentials", when: withCreate(func(c *domain.CreateSubscription) { c.URL = "https://u:p@example.com/" }), err: domain.ErrInvalidArgument},
		{name: "no filters", when: withCreate(func(c *domain.CreateSubscription) { c.EventTypes = nil }), err: domain.ErrInvalidArgument},
		{name: "bad wildcard", when: withCreate(func(c *domain.CreateSubscription) { c.EventTypes = domain.Filters{"order*"} }), err: domain.ErrInvalidArgument},
		{name: "reserved header", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"webhook-id": "x"} }), err: domain.ErrInvalidArgument},
		{name: "content-type cannot be overridden", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"content-type": "text/plain"} }), err: domain.ErrInvalidArgument},
		{name: "host cannot be overridden", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"HOST": "internal"} }), err: domain.ErrInvalidArgument},
		{name: "webhook-signature cannot be overridden", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"Webhook-Signature": "v1,x"} }), err: domain.ErrInvalidArgument},
		{name: "content-encoding cannot be set on a body sent plain", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"content-encoding": "gzip"} }), err: domain.ErrInvalidArgument},
		{name: "expect cannot be set", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"Expect": "100-continue"} }), err: domain.ErrInvalidArgument},
		{name: "trailer cannot be set", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"Trailer": "X-Sum"} }), err: domain.ErrInvalidArgument},
		{name: "nor by an update", given: []domain.Event{created}, when: domain.UpdateSubscription{Headers: map[string]string{"webhook-timestamp": "1"}}, err: domain.ErrInvalidArgument},
		{name: "header with a line break", when: withCreate(func(c *domain.CreateSubscription) { c.Headers = map[string]string{"X-A": "a\r\nB: c"} }), err: domain.ErrInvalidArgument},
		{name: "bad secret", when: withCreate(func(c *domain.CreateSubscription) { c.Secret = "plain" }), err: domain.ErrInvalidArgument},
		{name: "update url keeps the rest", given: []domain.Event{created}, when: domain.UpdateSubscription{URL: &newURL},
			then: []domain.Event{domain.SubscriptionUpdated{SubscriptionID: "sub_1", URL: newURL, EventTypes: domain.Filters{"order.*"}, UpdatedAt: t0}}},
		{name: "update filters", given: []domain.Event{created}, when: domain.UpdateSubscription{EventTypes: domain.Filters{"user.created"}},
			then: []domain.Event{domain.SubscriptionUpdated{SubscriptionID: "sub_1", URL: created.URL, EventTypes: domain.Filters{"user.created"}, UpdatedAt: t0}}},
		{name: "update with invalid filters", given: []domain.Event{created}, when: domain.UpdateSubscription{EventTypes: domain.Filters{}}, err: domain.ErrInvalidArgument},
		{name: "an update of nothing changes nothing", given: []domain.Event{created}, when: domain.UpdateSubscription{}},
		{name: "an update to the same settings changes nothing", given: []domain.Event{created},
			when: domain.UpdateSubscription{URL: &created.URL, EventTypes: domain.Filters{"order.*"}}},
		{name: "an update back to an earlier URL is a change", given: []domain.Event{created, domain.SubscriptionUpdated{SubscriptionID: "sub_1", URL: newURL, EventTypes: domain.Filters{"order.*"}, UpdatedAt: t0}},
			when: domain.UpdateSubscription{URL: &created.URL},
			then: []domain.Event{domain.SubscriptionUpdated{SubscriptionID: "sub_1", URL: created.URL, EventTypes: domain.Filters{"order.*"}, UpdatedAt: t0}}},
		{name: "update unknown", when: domain.UpdateSubscription{URL: &newURL}, err: domain.ErrNotFound},
		{name: "pause", given: []domain.Event{created}, when: domain.PauseSubscription{}, then: []domain.Event{paused}},
		{name: "pause paused changes nothing", given: []domain.Event{created, paused}, when: domain.PauseSubscription{}},
		{name: "pause disabled", given: []domain.Event{created, disabled}, when: domain.PauseSubscription{}, err: domain.ErrConflict},
		{name: "resume paused", given: []domain.Event{created, paused}, when: domain.ResumeSubscription{}, then: []domain.Event{domain.SubscriptionResumed{SubscriptionID: "sub_1", ResumedAt: t0}}},
		{name: "resume disabled", given: []domain.Event{created, disabled}, when: domain.ResumeSubscription{}, then: []domain.Event{domain.SubscriptionResumed{SubscriptionID: "sub_1", ResumedAt: t0}}},
		{name: "resume active changes nothing", given: []domain.Event{created}, when: domain.ResumeSubscription{}},
		{name: "pause keeps the reason", given: []domain.Event{created}, when: domain.PauseSubscription{Reason: "endpoint migration"},
			then: []domain.Event{domain.SubscriptionPaused{SubscriptionID: "sub_1", Reason: "endpoint migration", PausedAt: t0}}},
		{name: "resume keeps the reason", given: []domain.Event{created, paused}, when: domain.ResumeSubscription{Reason: "migration done"},
			then: []domain.Event{domain.SubscriptionResumed{SubscriptionID: "sub_1", Reason: "migration done", ResumedAt: t0}}},
		{name: "pause reason too long", given: []domain.Event{created}, when: domain.PauseSubscription{Reason: strings.Repeat("x", domain.MaxReasonLength+1)}, err: domain.ErrInvalidArgument},
		{name: "resume reason too long", given: []domain.Event{created, paused}, when: domain.ResumeSubscription{Reason: strings.Repeat("x", domain.MaxReasonLength+1)}, err: domain.ErrInvalidArgument},
		{name: "disable with reason", given: []domain.Event{created}, when: domain.DisableSubscription{Reason: domain.DisabledGone, Detail: "410"}, then: []domain.Event{disabled}},
		{name: "disable with unknown reason", given: []domain.Event{created}, when: domain.DisableSubscription{Reason: "bored"}, err: domain.ErrInvalidArgument},
		{name: "delete", given: []domain.Event{created, paused}, when: domain.DeleteSubscription{}, then: []domain.Event{deleted}},
		{name: "delete keeps the reason", given: []domain.Event{created}, when: domain.DeleteSubscription{Reason: "customer left"},
			then: []domain.Event{domain.SubscriptionDeleted{SubscriptionID: "sub_1", Reason: "customer left", DeletedAt: t0}}},
		{name: "delete reason too long", given: []domain.Event{created}, when: domain.DeleteSubscription{Reason: strings.Repeat("x", domain.MaxReasonLength+1)}, err: domain.ErrInvalidArgument},
		{name: "delete deleted", given: []domain.Event{created, deleted}, when: domain.DeleteSubscription{}, err: domain.ErrNotFound},
		{name: "resume deleted", given: []domain.Event{created, deleted}, when: domain.ResumeSubscription{}, err: domain.ErrNotFound},
		{name: "rotate", given: []domain.Event{created}, when: domain.RotateSecret{NewSecret: secretB, Grace: time.Hour},
			then: []domain.Event{domain.SubscriptionSecretRotated{SubscriptionID: "sub_1",
				Key:           domain.SigningKey{KeyID: domain.KeyIDForSecret(secretB), Secret: secretB, CreatedAt: t0},
				PreviousKeyID: domain.KeyIDForSecret(secretA), PreviousExpiresAt: t0.Add(time.Hour)}}},
		{name: "rotate to a used secret", given: []domain.Event{created}, when: domain.RotateSecret{NewSecret: secretA}, err: domain.ErrInvalidArgument},
		{name: "rotate with too long a grace", given: []domain.Event{created}, when: domain.RotateSecret{NewSecret: secretB, Grace: 8 * 24 * time.Hour}, err: domain.ErrInvalidArgument},
	}, domain.EvolveSubscription, domain.DecideSubscription)
}

// TestSubscriptionKeepsThePauseReasonInForce: the state holds the reason of
// the pause in force, and nothing once resumed, disabled or deleted.
func TestSubscriptionKeepsThePauseReasonInForce(t *testing.T) {
	paused := domain.EvolveSubscription(domain.EvolveSubscription(domain.Subscription{}, subCreated()),
		domain.SubscriptionPaused{SubscriptionID: "sub_1", Reason: "migration", PausedAt: t0})
	if paused.Status != domain.StatusPaused || paused.PausedReason != "migration" {
		t.Fatalf("paused: %+v", paused)
	}
	for _, ev := range []domain.Event{
		domain.SubscriptionResumed{SubscriptionID: "sub_1", ResumedAt: t0},
		domain.SubscriptionDisabled{SubscriptionID: "sub_1", Reason: domain.DisabledByOperator, DisabledAt: t0},
		domain.SubscriptionDeleted{SubscriptionID: "sub_1", DeletedAt: t0},
	} {
		if s := domain.EvolveSubscription(paused, ev); s.PausedReason != "" {
			t.Errorf("after %s: paused reason %q", ev.Type(), s.PausedReason)
		}
	}
}

func TestSubscriptionKeysDuringRotation(t *testing.T) {
	s := domain.EvolveSubscription(domain.Subscription{}, subCreated())
	evs, err := domain.DecideSubscription(s, domain.RotateSecret{NewSecret: secretB, Grace: time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	s = domain.EvolveSubscription(s, evs[0])
	if got := len(s.ValidKeys(t0.Add(59 * time.Minute))); got != 2 {
		t.Fatalf("during the grace period: %d keys sign, want 2", got)
	}
	keys := s.ValidKeys(t0.Add(time.Hour))
	if len(keys) != 1 || keys[0].Secret != secretB {
		t.Fatalf("after the grace period: keys %+v, want only the new one", keys)
	}
	if s.CurrentKeyID() != domain.KeyIDForSecret(secretB) || s.Revision() != 1 {
		t.Fatalf("current key %s revision %d", s.CurrentKeyID(), s.Revision())
	}
}

func TestPublish(t *testing.T) {
	key := "order-42"
	id := domain.MessageIDForKey("app_1", key)
	payload := []byte(`{"order": 42,  "total": 10}`)
	published := domain.MessagePublished{MessageID: id, ApplicationID: "app_1", EventType: "order.paid",
		Payload: []byte(`{"order":42,"total":10}`), PayloadHash: domain.PayloadHash([]byte(`{"order":42,"total":10}`)),
		IdempotencyKey: key, PublishedAt: t0}
	cmd := domain.PublishMessage{MessageID: id, ApplicationID: "app_1", EventType: "order.paid", Payload: payload, IdempotencyKey: key}
	with := func(mut func(*domain.PublishMessage)) domain.PublishMessage {
		c := cmd
		mut(&c)
		return c
	}
	decide := func(s domain.Message, c any, now time.Time) ([]domain.Event, error) {
		return domain.DecidePublish(s, c.(domain.PublishMessage), now)
	}
	run(t, []scenario{
		{name: "publish compacts the payload and hashes it", when: cmd, then: []domain.Event{published}},
		{name: "duplicate with the same payload changes nothing", given: []domain.Event{published}, when: with(func(c *domain.PublishMessage) { c.Payload = []byte(`{"order":42,"total":10}`) })},
		{name: "same key, other payload", given: []domain.Event{published}, when: with(func(c *domain.PublishMessage) { c.Payload = []byte(`{"order":43}`) }), err: domain.ErrConflict},
		{name: "key with a non-derived id", when: with(func(c *domain.PublishMessage) { c.MessageID = "msg_x" }), err: domain.ErrInvalidArgument},
		{name: "invalid JSON", when: with(func(c *domain.PublishMessage) { c.Payload = []byte(`{"a":`) }), err: domain.ErrInvalidArgument},
		{name: "empty payload", when: with(func(c *domain.PublishMessage) { c.Payload = nil }), err: domain.ErrInvalidArgument},
		{name: "over the size limit", when: with(func(c *domain.PublishMessage) { c.MaxPayload = 10 }), err: domain.ErrEventTooLarge},
		{name: "bad event type", when: with(func(c *domain.PublishMessage) { c.EventType = "order paid" }), err: domain.ErrInvalidArgument},
	}, domain.EvolveMessage, decide)
}

func TestDerivedIDsAreStableAndDistinct(t *testing.T) {
	if domain.MessageIDForKey("a", "k") != domain.MessageIDForKey("a", "k") {
		t.Fatal("derived message id is not stable")
	}
	if domain.MessageIDForKey("a", "k") == domain.MessageIDForKey("b", "k") {
		t.Fatal("two applications with the same key must get different ids")
	}
	if domain.DeliveryIDFor("m", "s1") == domain.DeliveryIDFor("m", "s2") {
		t.Fatal("delivery ids must differ per subscription")
	}
	if err := domain.ValidateID("id", domain.DeliveryIDFor("m", "s")); err != nil {
		t.Fatal(err)
	}
}

func TestDelivery(t *testing.T) {
	id := domain.DeliveryIDFor("msg_1", "sub_1")
	policy := domain.DefaultRetryPolicy()
	scheduled := domain.DeliveryScheduled{DeliveryID: id, MessageID: "msg_1", SubscriptionID: "sub_1", ApplicationID: "app_1",
		EventType: "order.paid", SubscriptionRevision: 3, MatchedPattern: "order.*", MessagePosition: 7, DueAt: t0}
	started := func(n int) domain.AttemptStarted {
		return domain.AttemptStarted{DeliveryID: id, Attempt: n, Worker: "w1", StartedAt: t0}
	}
	failed := func(n int) domain.AttemptFailed {
		return domain.AttemptFailed{DeliveryID: id, Attempt: n, StatusCode: 500, ErrorClass: domain.ErrorClassHTTPStatus, LatencyUS: 1000, KeyIDs: []string{"k"}, FailedAt: t0}
	}
	retry := func(next int, delay time.Duration) domain.RetryScheduled {
		return domain.RetryScheduled{DeliveryID: id, NextAttempt: next, DueAt: t0.Add(delay), DelayMS: delay.Milliseconds(), Reason: domain.ErrorClassHTTPStatus}
	}
	fail500 := func(n int) domain.RecordOutcome {
		return domain.RecordOutcome{Result: domain.AttemptResult{Attempt: n, StatusCode: 500, Latency: time.Millisecond, KeyIDs: []string{"k"}}, Policy: policy, Random: 0.5}
	}
	// history after 7 failed attempts: the 8th is the last of the default schedule.
	var sevenFailures []domain.Event
	sevenFailures = append(sevenFailures, scheduled)
	for n := 1; n <= 7; n++ {
		sevenFailures = append(sevenFailures, started(n), failed(n), retry(n+1, 0))
	}
	run(t, []scenario{
		{name: "schedule", when: domain.ScheduleDelivery{MessageID: "msg_1", SubscriptionID: "sub_1", ApplicationID: "app_1", EventType: "order.paid", SubscriptionRevision: 3, MatchedPattern: "order.*", MessagePosition: 7}, then: []domain.Event{scheduled}},
		{name: "schedule twice", given: []domain.Event{scheduled}, when: domain.ScheduleDelivery{MessageID: "msg_1", SubscriptionID: "sub_1"}, err: domain.ErrAlreadyExists},
		{name: "start first attempt", given: []domain.Event{scheduled}, when: domain.StartAttempt{Worker: "w1"}, then: []domain.Event{started(1)}},
		{name: "start while attempting", given: []domain.Event{scheduled, started(1)}, when: domain.StartAttempt{Worker: "w2"}, err: domain.ErrConflict},
		{name: "acknowledged", given: []domain.Event{scheduled, started(1)},
			when: domain.RecordOutcome{Result: domain.AttemptResult{Attempt: 1, StatusCode: 204, Latency: 2 * time.Millisecond, KeyIDs: []string{"k"}}, Policy: policy},
			then: []domain.Event{domain.AttemptAcknowledged{DeliveryID: id, Attempt: 1, StatusCode: 204, LatencyUS: 2000, KeyIDs: []string{"k"}, AcknowledgedAt: t0}}},
		{name: "500 then a retry in 5 s", given: []domain.Event{scheduled, started(1)}, when: fail500(1), then: []domain.Event{failed(1), retry(2, 5*time.Second)}},
		{name: "second failure waits 5 min", given: []domain.Event{scheduled, started(1), failed(1), retry(2, 5*time.Second), started(2)}, when: fail500(2), then: []domain.Event{failed(2), retry(3, 5*time.Minute)}},
		{name: "outcome for the wrong attempt", given: []domain.Event{scheduled, started(1)}, when: fail500(2), err: domain.ErrConflict},
		{name: "outcome with no open attempt", given: []domain.Event{scheduled}, when: fail500(1), err: domain.ErrConflict},
		{name: "Retry-After honoured", given: []domain.Event{scheduled, started(1)},
			when: domain.RecordOutcome{Result: domain.AttemptResult{Attempt: 1, StatusCode: 429, ErrorClass: domain.ErrorClassThrottled, RetryAfter: time.Minute}, Policy: policy, Random: 0.5},
			then: []domain.Event{
				domain.AttemptFailed{DeliveryID: id, Attempt: 1, StatusCode: 429, ErrorClass: domain.ErrorClassThrottled, RetryAfterMS: 60000, FailedAt: t0},
				domain.RetryScheduled{DeliveryID: id, NextAttempt: 2, DueAt: t0.Add(time.Minute), DelayMS: 60000, Reason: domain.ErrorClassThrottled, RetryAfterHonoured: true}}},
		{name: "eighth failure exhausts", given: append(append([]domain.Event{}, sevenFailures...), started(8)), when: fail500(8),
			then: []domain.Event{failed(8), domain.DeliveryExhausted{DeliveryID: id, Attempts: 8, Reason: "retry schedule exhausted after http_status", ExhaustedAt: t0}}},
		{name: "close an attempt with no outcome", given: []domain.Event{scheduled, started(1)}, when: domain.CloseUnknownAttempt{Attempt: 1, Reason: "process restarted"},
			then: []domain.Event{domain.AttemptOutcomeUnknown{DeliveryID: id, Attempt: 1, Reason: "process restarted", ClosedAt: t0},
				domain.RetryScheduled{DeliveryID: id, NextAttempt: 2, DueAt: t0, Reason: "outcome_unknown"}}},
		{name: "after an unknown outcome the next attempt may start", given: []domain.Event{scheduled, started(1),
			domain.AttemptOutcomeUnknown{DeliveryID: id, Attempt: 1, ClosedAt: t0}, domain.RetryScheduled{DeliveryID: id, NextAttempt: 2, DueAt: t0, Reason: "outcome_unknown"}},
			when: domain.StartAttempt{Worker: "w1"}, then: []domain.Event{started(2)}},
		{name: "redeliver an exhausted delivery", given: append(append([]domain.Event{}, sevenFailures...), started(8), failed(8), domain.DeliveryExhausted{DeliveryID: id, Attempts: 8, ExhaustedAt: t0}),
			when: domain.RequestRedelivery{By: "key_1", Reason: "endpoint fixed"}, then: []domain.Event{domain.RedeliveryRequested{DeliveryID: id, By: "key_1", Reason: "endpoint fixed", DueAt: t0}}},
		{name: "redeliver while attempting", given: []domain.Event{scheduled, started(1)}, when: domain.RequestRedelivery{By: "k"}, err: domain.ErrConflict},
		{name: "cancel pending", given: []domain.Event{scheduled}, when: domain.CancelDelivery{Reason: "subscription deleted"}, then: []domain.Event{domain.DeliveryCancelled{DeliveryID: id, Reason: "subscription deleted", CancelledAt: t0}}},
		{name: "cancel acknowledged", given: []domain.Event{scheduled, started(1), domain.AttemptAcknowledged{DeliveryID: id, Attempt: 1, StatusCode: 200}}, when: domain.CancelDelivery{}, err: domain.ErrConflict},
		{name: "anything on an unknown delivery", when: domain.StartAttempt{}, err: domain.ErrNotFound},
	}, domain.EvolveDelivery, domain.DecideDelivery)
}

func TestDeliveryFoldAfterRedeliveryRestartsTheSchedule(t *testing.T) {
	id := domain.DeliveryIDFor("msg_1", "sub_1")
	var d domain.Delivery
	for _, e := range []domain.Event{
		domain.DeliveryScheduled{DeliveryID: id, MessageID: "msg_1", SubscriptionID: "sub_1", DueAt: t0},
		domain.AttemptStarted{DeliveryID: id, Attempt: 1}, domain.AttemptFailed{DeliveryID: id, Attempt: 1, FailedAt: t0},
		domain.RetryScheduled{DeliveryID: id, NextAttempt: 2, DueAt: t0.Add(5 * time.Second)},
		domain.RedeliveryRequested{DeliveryID: id, DueAt: t0.Add(time.Second)},
	} {
		d = domain.EvolveDelivery(d, e)
	}
	if d.Status != domain.DeliveryStatusPending || d.Failures != 0 || !d.NextDueAt.Equal(t0.Add(time.Second)) || d.Attempts != 1 || d.Revision() != 4 {
		t.Fatalf("after redelivery: %+v", d)
	}
	evs, err := domain.DecideDelivery(d, domain.RecordOutcome{}, t0)
	if err == nil || evs != nil {
		t.Fatal("no attempt is open: an outcome must be refused")
	}
}

func TestExcerptTruncatedAtRuneBoundary(t *testing.T) {
	id := domain.DeliveryIDFor("m", "s")
	d := domain.EvolveDelivery(domain.Delivery{}, domain.DeliveryScheduled{DeliveryID: id})
	d = domain.EvolveDelivery(d, domain.AttemptStarted{DeliveryID: id, Attempt: 1})
	long := ""
	for len(long) < 3*domain.MaxResponseExcerpt {
		long += "é"
	}
	evs, err := domain.DecideDelivery(d, domain.RecordOutcome{Result: domain.AttemptResult{Attempt: 1, StatusCode: 200, ResponseExcerpt: "x" + long}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	ex := evs[0].(domain.AttemptAcknowledged).ResponseExcerpt
	if len(ex) > domain.MaxResponseExcerpt || len(ex) < domain.MaxResponseExcerpt-1 {
		t.Fatalf("excerpt is %d bytes", len(ex))
	}
	for _, r := range ex[1:] {
		if r != 'é' {
			t.Fatalf("excerpt cut inside a rune: %q", ex[len(ex)-4:])
		}
	}
}

func TestAPIKey(t *testing.T) {
	hash := domain.HashAPIKey("secret-key")
	created := domain.APIKeyCreated{KeyID: "key_1", Role: domain.RoleAuditor, Hash: hash, CreatedAt: t0}
	run(t, []scenario{
		{name: "create", when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleAuditor, Hash: hash}, then: []domain.Event{created}},
		{name: "create twice", given: []domain.Event{created}, when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleAuditor, Hash: hash}, err: domain.ErrAlreadyExists},
		{name: "unknown role", when: domain.CreateAPIKey{KeyID: "key_1", Role: "root", Hash: hash}, err: domain.ErrInvalidArgument},
		{name: "application key without application", when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleApplication, Hash: hash}, err: domain.ErrInvalidArgument},
		{name: "admin key naming an application", when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleAdmin, ApplicationID: "app_1", Hash: hash}, err: domain.ErrInvalidArgument},
		{name: "not a hash", when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleAdmin, Hash: "plain"}, err: domain.ErrInvalidArgument},
		{name: "revoke", given: []domain.Event{created}, when: domain.RevokeAPIKey{}, then: []domain.Event{domain.APIKeyRevoked{KeyID: "key_1", RevokedAt: t0}}},
		{name: "revoke revoked changes nothing", given: []domain.Event{created, domain.APIKeyRevoked{KeyID: "key_1", RevokedAt: t0}}, when: domain.RevokeAPIKey{}},
		{name: "revoke unknown", when: domain.RevokeAPIKey{}, err: domain.ErrNotFound},
		{name: "create expiring", when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleAuditor, Hash: hash, ExpiresAt: t0.Add(90 * 24 * time.Hour)},
			then: []domain.Event{domain.APIKeyCreated{KeyID: "key_1", Role: domain.RoleAuditor, Hash: hash, CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour)}}},
		{name: "create expired", when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleAuditor, Hash: hash, ExpiresAt: t0}, err: domain.ErrInvalidArgument},
		{name: "create expiring past ten years", when: domain.CreateAPIKey{KeyID: "key_1", Role: domain.RoleAuditor, Hash: hash, ExpiresAt: t0.Add(domain.MaxAPIKeyLifetime + time.Hour)}, err: domain.ErrInvalidArgument},
	}, domain.EvolveAPIKey, domain.DecideAPIKey)
}

// A key authenticates until it is revoked or its expiry comes, the instant
// of the expiry included.
func TestAPIKeyExpiry(t *testing.T) {
	exp := t0.Add(time.Hour)
	k := domain.EvolveAPIKey(domain.APIKey{}, domain.APIKeyCreated{KeyID: "key_1", Role: domain.RoleAuditor, CreatedAt: t0, ExpiresAt: exp})
	if k.ExpiresAt != exp || !k.Active(exp.Add(-time.Nanosecond)) || k.Active(exp) || !k.Expired(exp) {
		t.Fatalf("expiring key %+v: active before %v, at %v", k, k.Active(exp.Add(-time.Nanosecond)), k.Active(exp))
	}
	forever := domain.EvolveAPIKey(domain.APIKey{}, domain.APIKeyCreated{KeyID: "key_2", Role: domain.RoleAuditor, CreatedAt: t0})
	if !forever.Active(t0.Add(100*365*24*time.Hour)) || domain.EvolveAPIKey(forever, domain.APIKeyRevoked{KeyID: "key_2"}).Active(t0) {
		t.Fatal("a key without expiry must last until revoked, and no longer")
	}
}

// An operational subscription (of the system application) whose pattern
// matches no operational event type would never receive an alert: refused
// on create and on update. Tenants' subscriptions take any type.
func TestOperationalSubscriptionsMatchOperationalEvents(t *testing.T) {
	ops := domain.CreateSubscription{SubscriptionID: "sub_ops", ApplicationID: domain.SystemApplicationID, URL: "https://ops.example/h", EventTypes: domain.Filters{"hookledger.*"}, Secret: secretA}
	opsCreated := func(f domain.Filters) []domain.Event {
		return []domain.Event{domain.SubscriptionCreated{SubscriptionID: "sub_ops", ApplicationID: domain.SystemApplicationID, URL: ops.URL, EventTypes: f,
			Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: t0}, CreatedAt: t0}}
	}
	with := func(f domain.Filters) domain.CreateSubscription { c := ops; c.EventTypes = f; return c }
	for _, ok := range []domain.Filters{{"hookledger.*"}, {"*"}, {domain.OpSubscriptionDisabled}, {"hookledger.delivery.*", domain.OpSealFailed}} {
		if _, err := domain.DecideSubscription(domain.Subscription{}, with(ok), t0); err != nil {
			t.Errorf("operational filters %v refused: %v", ok, err)
		}
	}
	run(t, []scenario{
		{name: "a type without hookledger's prefix", when: with(domain.Filters{"subscription.disabled"}), err: domain.ErrInvalidArgument},
		{name: "one good pattern and one that matches nothing", when: with(domain.Filters{"hookledger.*", "delivery.*"}), err: domain.ErrInvalidArgument},
		{name: "an update to a pattern that matches nothing", given: opsCreated(domain.Filters{"hookledger.*"}),
			when: domain.UpdateSubscription{EventTypes: domain.Filters{"order.*"}}, err: domain.ErrInvalidArgument},
		{name: "an update to an operational type", given: opsCreated(domain.Filters{"hookledger.*"}),
			when: domain.UpdateSubscription{EventTypes: domain.Filters{domain.OpDeliveryExhausted}},
			then: []domain.Event{domain.SubscriptionUpdated{SubscriptionID: "sub_ops", URL: ops.URL, EventTypes: domain.Filters{domain.OpDeliveryExhausted}, UpdatedAt: t0}}},
	}, domain.EvolveSubscription, domain.DecideSubscription)
	var ve *domain.ValidationError
	_, err := domain.DecideSubscription(domain.Subscription{}, with(domain.Filters{"subscription.disabled"}), t0)
	if !errors.As(err, &ve) || ve.Field != "event_types" || !strings.Contains(ve.Reason, domain.OpSubscriptionDisabled) {
		t.Errorf("refusal %v: want event_types named, and the operational types listed", err)
	}
}
