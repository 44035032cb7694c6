package projectionstest

import (
	"fmt"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// T0 is the time the scripted history starts.
var T0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

const secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
const secretB = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

type entry struct {
	stream string
	ev     domain.Event
}

// History is a scripted ledger: two applications, subscriptions created,
// paused, rotated, disabled and deleted, messages, deliveries with retries,
// an unknown outcome, a redelivery and a cancellation, an API key, and a
// catalog entry defined then changed.
func History() []domain.RecordedEvent {
	d1 := domain.DeliveryIDFor("msg_1", "sub_a")
	d2 := domain.DeliveryIDFor("msg_1", "sub_b")
	d3 := domain.DeliveryIDFor("msg_2", "sub_a")
	d4 := domain.DeliveryIDFor("msg_3", "sub_c")
	at := func(m int) time.Time { return T0.Add(time.Duration(m) * time.Minute) }
	sched := func(msg, sub, app string, pos domain.Position, rev uint64, m int) domain.DeliveryScheduled {
		return domain.DeliveryScheduled{DeliveryID: domain.DeliveryIDFor(msg, sub), MessageID: msg, SubscriptionID: sub, ApplicationID: app, EventType: "order.paid", SubscriptionRevision: rev, MatchedPattern: "order.*", MessagePosition: pos, DueAt: at(m)}
	}
	es := []entry{
		{"application-app_1", domain.ApplicationCreated{ApplicationID: "app_1", Name: "Shop", CreatedAt: at(0)}},
		{"application-app_2", domain.ApplicationCreated{ApplicationID: "app_2", Name: "Other", CreatedAt: at(0)}},
		{"subscription-sub_a", domain.SubscriptionCreated{SubscriptionID: "sub_a", ApplicationID: "app_1", URL: "https://a.example/h", EventTypes: domain.Filters{"order.*"}, Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: at(1)}, CreatedAt: at(1)}},
		{"subscription-sub_b", domain.SubscriptionCreated{SubscriptionID: "sub_b", ApplicationID: "app_1", URL: "https://b.example/h", EventTypes: domain.Filters{"*"}, Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretB), Secret: secretB, CreatedAt: at(1)}, CreatedAt: at(1)}},
		{"subscription-sub_c", domain.SubscriptionCreated{SubscriptionID: "sub_c", ApplicationID: "app_2", URL: "https://c.example/h", EventTypes: domain.Filters{"order.paid"}, Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: at(1)}, CreatedAt: at(1)}},
		{"message-msg_1", domain.MessagePublished{MessageID: "msg_1", ApplicationID: "app_1", EventType: "order.paid", Payload: []byte(`{"o":1}`), PayloadHash: domain.PayloadHash([]byte(`{"o":1}`)), PublishedAt: at(2)}},
		{"delivery-" + d1, sched("msg_1", "sub_a", "app_1", 6, 0, 2)},
		{"delivery-" + d2, sched("msg_1", "sub_b", "app_1", 6, 0, 2)},
		{"delivery-" + d1, domain.AttemptStarted{DeliveryID: d1, Attempt: 1, Worker: "w", StartedAt: at(2)}},
		{"delivery-" + d1, domain.AttemptFailed{DeliveryID: d1, Attempt: 1, StatusCode: 500, ErrorClass: domain.ErrorClassHTTPStatus, FailedAt: at(2)}},
		{"delivery-" + d1, domain.RetryScheduled{DeliveryID: d1, NextAttempt: 2, DueAt: at(3), DelayMS: 60000, Reason: "http_status"}},
		{"delivery-" + d2, domain.AttemptStarted{DeliveryID: d2, Attempt: 1, Worker: "w", StartedAt: at(2)}},
		{"delivery-" + d2, domain.AttemptAcknowledged{DeliveryID: d2, Attempt: 1, StatusCode: 200, KeyIDs: []string{domain.KeyIDForSecret(secretB)}, AcknowledgedAt: at(2)}},
		{"subscription-sub_a", domain.SubscriptionPaused{SubscriptionID: "sub_a", PausedAt: at(4)}},
		{"subscription-sub_b", domain.SubscriptionSecretRotated{SubscriptionID: "sub_b", Key: domain.SigningKey{KeyID: domain.KeyIDForSecret(secretA), Secret: secretA, CreatedAt: at(5)}, PreviousKeyID: domain.KeyIDForSecret(secretB), PreviousExpiresAt: at(65)}},
		{"message-msg_2", domain.MessagePublished{MessageID: "msg_2", ApplicationID: "app_1", EventType: "order.paid", Payload: []byte(`{"o":2}`), PayloadHash: domain.PayloadHash([]byte(`{"o":2}`)), PublishedAt: at(6)}},
		{"delivery-" + d3, sched("msg_2", "sub_a", "app_1", 16, 1, 6)},
		{"subscription-sub_a", domain.SubscriptionResumed{SubscriptionID: "sub_a", ResumedAt: at(7)}},
		{"delivery-" + d3, domain.AttemptStarted{DeliveryID: d3, Attempt: 1, Worker: "w", StartedAt: at(7)}},
		{"delivery-" + d3, domain.AttemptOutcomeUnknown{DeliveryID: d3, Attempt: 1, Reason: "restart", ClosedAt: at(8)}},
		{"delivery-" + d3, domain.RetryScheduled{DeliveryID: d3, NextAttempt: 2, DueAt: at(8), Reason: "outcome_unknown"}},
		{"message-msg_3", domain.MessagePublished{MessageID: "msg_3", ApplicationID: "app_2", EventType: "order.paid", Payload: []byte(`{"o":3}`), PayloadHash: domain.PayloadHash([]byte(`{"o":3}`)), PublishedAt: at(9)}},
		{"delivery-" + d4, sched("msg_3", "sub_c", "app_2", 22, 0, 9)},
		{"delivery-" + d4, domain.AttemptStarted{DeliveryID: d4, Attempt: 1, Worker: "w", StartedAt: at(9)}},
		{"delivery-" + d4, domain.AttemptFailed{DeliveryID: d4, Attempt: 1, StatusCode: 410, ErrorClass: domain.ErrorClassGone, FailedAt: at(9)}},
		{"delivery-" + d4, domain.RetryScheduled{DeliveryID: d4, NextAttempt: 2, DueAt: at(10), Reason: "gone"}},
		{"subscription-sub_c", domain.SubscriptionDisabled{SubscriptionID: "sub_c", Reason: domain.DisabledGone, DisabledAt: at(9)}},
		{"delivery-" + d1, domain.RedeliveryRequested{DeliveryID: d1, By: "key_1", Reason: "fixed", DueAt: at(11)}},
		{"delivery-" + d4, domain.DeliveryCancelled{DeliveryID: d4, Reason: "operator", CancelledAt: at(12)}},
		{"subscription-sub_b", domain.SubscriptionDeleted{SubscriptionID: "sub_b", DeletedAt: at(13)}},
		{"apikey-key_1", domain.APIKeyCreated{KeyID: "key_1", Role: domain.RoleApplication, ApplicationID: "app_1", Hash: domain.HashAPIKey("k1"), CreatedAt: at(14)}},
		{"apikey-key_1", domain.APIKeyRevoked{KeyID: "key_1", RevokedAt: at(15)}},
		{"eventtype-order.paid", domain.EventTypeDefined{Name: "order.paid", Description: "paid", DefinedAt: at(16)}},
		{"eventtype-order.paid", domain.EventTypeDefined{Name: "order.paid", Description: "an order was paid", Deprecated: true, DefinedAt: at(17)}},
	}
	revs := map[string]uint64{}
	out := make([]domain.RecordedEvent, len(es))
	for i, e := range es {
		d, err := domain.Encode(domain.DerivedEventID("h", fmt.Sprint(i)), e.ev, domain.Metadata{RecordedAt: at(i), Actor: "test"})
		if err != nil {
			panic(err)
		}
		out[i] = domain.RecordedEvent{ID: d.ID, Stream: e.stream, Revision: revs[e.stream], Position: domain.Position(i + 1), Type: d.Type, Data: d.Data, Metadata: d.Metadata, Created: at(i)}
		revs[e.stream]++
	}
	return out
}
