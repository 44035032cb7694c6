package httpapi

import (
	"time"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type applicationJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func applicationOut(a domain.Application) applicationJSON {
	return applicationJSON{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt}
}

type subscriptionJSON struct {
	ID               string            `json:"id"`
	ApplicationID    string            `json:"application_id"`
	URL              string            `json:"url"`
	EventTypes       []string          `json:"event_types"`
	Description      string            `json:"description"`
	Headers          map[string]string `json:"headers"`
	SecretHeaders    []string          `json:"secret_headers,omitempty"`
	RetryScheduleMS  []int64           `json:"retry_schedule_ms,omitempty"`
	Status           string            `json:"status"`
	DisabledReason   string            `json:"disabled_reason,omitempty"`
	DisabledDetail   string            `json:"disabled_detail,omitempty"`
	CurrentKeyID     string            `json:"current_key_id"`
	Keys             []keyJSON         `json:"keys"`
	CreatedAt        time.Time         `json:"created_at"`
	Revision         uint64            `json:"revision"`
	FailingSince     *time.Time        `json:"failing_since,omitempty"`
	LastAcknowledged *time.Time        `json:"last_acknowledged_at,omitempty"`
	Secret           string            `json:"secret,omitempty"`
	AsOfPosition     uint64            `json:"as_of_position,omitempty"`
	createdPos       uint64
}

type keyJSON struct {
	KeyID     string     `json:"key_id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func subscriptionOut(s projections.SubscriptionView) subscriptionJSON {
	// Credentials in custom headers are never shown, to any role: the
	// sender sends them, nobody reads them back.
	headers := domain.RedactHeaders(s.Headers, s.SecretHeaders)
	if headers == nil {
		headers = map[string]string{}
	}
	out := subscriptionJSON{
		ID: s.ID, ApplicationID: s.ApplicationID, URL: s.URL, EventTypes: s.EventTypes, Description: s.Description,
		Headers: headers, SecretHeaders: s.SecretHeaders, RetryScheduleMS: s.RetryScheduleMS, Status: string(s.Status), DisabledReason: s.DisabledReason, DisabledDetail: s.DisabledDetail,
		CurrentKeyID: s.CurrentKeyID(), CreatedAt: s.CreatedAt, Revision: s.Revision(),
		FailingSince: timePtr(s.FailingSince), LastAcknowledged: timePtr(s.LastAcknowledgedAt),
	}
	for _, k := range s.Keys {
		out.Keys = append(out.Keys, keyJSON{KeyID: k.KeyID, CreatedAt: k.CreatedAt, ExpiresAt: timePtr(k.ExpiresAt)})
	}
	return out
}

type deliveryJSON struct {
	ID                   string     `json:"id"`
	MessageID            string     `json:"message_id"`
	SubscriptionID       string     `json:"subscription_id"`
	ApplicationID        string     `json:"application_id"`
	EventType            string     `json:"event_type"`
	Status               string     `json:"status"`
	InFlight             bool       `json:"in_flight"`
	Attempts             int        `json:"attempts"`
	NextDueAt            *time.Time `json:"next_due_at,omitempty"`
	LastStatusCode       int        `json:"last_status_code,omitempty"`
	LastErrorClass       string     `json:"last_error_class,omitempty"`
	ScheduledAt          time.Time  `json:"scheduled_at"`
	FinishedAt           *time.Time `json:"finished_at,omitempty"`
	UpdatedAt            time.Time  `json:"updated_at"`
	SubscriptionRevision uint64     `json:"subscription_revision"`
	Position             uint64     `json:"position"`
}

// apiStatus maps the internal status to the API's: an attempt in flight is
// still pending, with in_flight set.
func apiStatus(s domain.DeliveryStatus) string {
	if s == domain.DeliveryStatusAttempting {
		return string(domain.DeliveryStatusPending)
	}
	return string(s)
}

func deliveryOut(d projections.DeliveryView) deliveryJSON {
	return deliveryJSON{
		ID: d.ID, MessageID: d.MessageID, SubscriptionID: d.SubscriptionID, ApplicationID: d.ApplicationID,
		EventType: d.EventType, Status: apiStatus(d.Status), InFlight: d.Status == domain.DeliveryStatusAttempting,
		Attempts: d.Attempts, NextDueAt: timePtr(d.NextDueAt), LastStatusCode: d.LastStatusCode,
		LastErrorClass: d.LastErrorClass, ScheduledAt: d.ScheduledAt, FinishedAt: timePtr(d.FinishedAt),
		UpdatedAt: d.UpdatedAt, SubscriptionRevision: d.SubscriptionRevision, Position: uint64(d.Position),
	}
}

type messageJSON struct {
	ID             string          `json:"id"`
	ApplicationID  string          `json:"application_id"`
	EventType      string          `json:"event_type"`
	PayloadHash    string          `json:"payload_hash"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	PublishedAt    time.Time       `json:"published_at"`
	Position       uint64          `json:"position"`
	Payload        any             `json:"payload,omitempty"`
	Deliveries     []deliveryBrief `json:"deliveries,omitempty"`
}

type deliveryBrief struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscription_id"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
}

func messageOut(m projections.MessageView) messageJSON {
	return messageJSON{ID: m.ID, ApplicationID: m.ApplicationID, EventType: m.EventType, PayloadHash: m.PayloadHash,
		IdempotencyKey: m.IdempotencyKey, PublishedAt: m.PublishedAt, Position: uint64(m.Position)}
}
