package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type applicationJSON struct {
	ID                   string     `json:"id"`
	Name                 string     `json:"name"`
	StrictEventTypes     bool       `json:"strict_event_types"`
	PayloadRetentionDays int        `json:"payload_retention_days"`
	CreatedAt            time.Time  `json:"created_at"`
	DeletedAt            *time.Time `json:"deleted_at,omitempty"`
	DeletedReason        string     `json:"deleted_reason,omitempty"`
	Revision             uint64     `json:"revision"`
}

func applicationOut(a domain.Application) applicationJSON {
	return applicationJSON{ID: a.ID, Name: a.Name, StrictEventTypes: a.StrictEventTypes, PayloadRetentionDays: a.PayloadRetentionDays, CreatedAt: a.CreatedAt,
		DeletedAt: timePtr(a.DeletedAt), DeletedReason: a.DeletedReason, Revision: a.Revision()}
}

type subscriptionJSON struct {
	ID              string            `json:"id"`
	ApplicationID   string            `json:"application_id"`
	URL             string            `json:"url"`
	EventTypes      []string          `json:"event_types"`
	Description     string            `json:"description"`
	Headers         map[string]string `json:"headers"`
	SecretHeaders   []string          `json:"secret_headers,omitempty"`
	RetryScheduleMS []int64           `json:"retry_schedule_ms,omitempty"`
	RateLimit       *domain.RateLimit `json:"rate_limit,omitempty"`
	// ClientCertificate describes the certificate presented to the
	// endpoint (mutual TLS); its key is never shown.
	ClientCertificate *domain.ClientCertificateInfo `json:"client_certificate,omitempty"`
	Ordering          string                        `json:"ordering"`
	Status            string                        `json:"status"`
	DisabledReason    string                        `json:"disabled_reason,omitempty"`
	DisabledDetail    string                        `json:"disabled_detail,omitempty"`
	PausedReason      string                        `json:"paused_reason,omitempty"`
	Signing           string                        `json:"signing"`
	PublicKey         string                        `json:"public_key,omitempty"`
	CurrentKeyID      string                        `json:"current_key_id"`
	Keys              []keyJSON                     `json:"keys"`
	CreatedAt         time.Time                     `json:"created_at"`
	Revision          uint64                        `json:"revision"`
	FailingSince      *time.Time                    `json:"failing_since,omitempty"`
	LastAcknowledged  *time.Time                    `json:"last_acknowledged_at,omitempty"`
	Secret            string                        `json:"secret,omitempty"`
	AsOfPosition      uint64                        `json:"as_of_position,omitempty"`
	createdPos        uint64
}

type keyJSON struct {
	KeyID     string     `json:"key_id"`
	PublicKey string     `json:"public_key,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// currentSubscription is subscription id of the path's application as the
// views hold it now, shaped for an answer; false: there is none, and the
// 404 is answered.
func (s *Server) currentSubscription(c *gin.Context, id string) (subscriptionJSON, bool) {
	sv, ok := s.subscriptionView(c.Param("app"), id)
	if !ok {
		s.fail(c, domain.ErrNotFound)
		return subscriptionJSON{}, false
	}
	return s.subOut(c, sv), true
}

// subOut is subscriptionOut with the headers decrypted (or gone, erased
// with their application).
func (s *Server) subOut(c *gin.Context, sv projections.SubscriptionView) subscriptionJSON {
	sv.Subscription, _ = domain.OpenSubscriptionHeaders(c.Request.Context(), s.Cipher, sv.Subscription)
	return subscriptionOut(sv)
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
		Headers: headers, SecretHeaders: s.SecretHeaders, RetryScheduleMS: s.RetryScheduleMS, RateLimit: s.RateLimit, Ordering: orderingOf(s.Ordering), Status: string(s.Status), DisabledReason: s.DisabledReason, DisabledDetail: s.DisabledDetail, PausedReason: s.PausedReason,
		CurrentKeyID: s.CurrentKeyID(), CreatedAt: s.CreatedAt, Revision: s.Revision(),
		FailingSince: timePtr(s.FailingSince), LastAcknowledged: timePtr(s.LastAcknowledgedAt),
	}
	if s.ClientCert != nil {
		info := s.ClientCert.Info()
		out.ClientCertificate = &info
	}
	out.Signing = domain.SigningHMAC
	for _, k := range s.Keys {
		pub, _ := domain.PublicKeyOf(k.Secret)
		out.Keys = append(out.Keys, keyJSON{KeyID: k.KeyID, PublicKey: pub, CreatedAt: k.CreatedAt, ExpiresAt: timePtr(k.ExpiresAt)})
		if k.KeyID == out.CurrentKeyID {
			out.Signing, out.PublicKey = domain.SchemeOf(k.Secret), pub
		}
	}
	return out
}

func orderingOf(o string) string {
	if o == "" {
		return domain.OrderingConcurrent
	}
	return o
}

// showSecret adds a new secret to the answer that created or rotated it: a
// shared (whsec_) secret is shown this once; an ed25519 private key never
// is — receivers need its public key, which every answer carries.
func (o *subscriptionJSON) showSecret(secret string) {
	if domain.SchemeOf(secret) == domain.SigningHMAC {
		o.Secret = secret
	}
}

// signingKey answers the public keys of an ed25519 subscription: the
// current one and any rotated out but still signing (grace period).
func (s *Server) signingKey(c *gin.Context) {
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	sv, ok := s.subscriptionView(c.Param("app"), id)
	if !ok {
		s.fail(c, domain.ErrNotFound)
		return
	}
	o := s.subOut(c, sv)
	if o.Signing != domain.SigningEd25519 {
		s.fail(c, &badInput{status: http.StatusConflict, code: CodeConflict,
			detail: "this subscription signs with a shared secret (v1, HMAC-SHA256): it has no public key; create it with \"signing\": \"ed25519\" for v1a signatures"})
		return
	}
	keys := []keyJSON{}
	now := time.Now()
	for _, k := range sv.ValidKeys(now) {
		pub, _ := domain.PublicKeyOf(k.Secret)
		keys = append(keys, keyJSON{KeyID: k.KeyID, PublicKey: pub, CreatedAt: k.CreatedAt, ExpiresAt: timePtr(k.ExpiresAt)})
	}
	c.JSON(http.StatusOK, gin.H{"algorithm": "ed25519", "signature_version": "v1a", "current_key_id": o.CurrentKeyID, "keys": keys})
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
	WaitingReason        string     `json:"waiting_reason,omitempty"`
	HeldBehind           string     `json:"held_behind,omitempty"`
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
	ID             string    `json:"id"`
	ApplicationID  string    `json:"application_id"`
	EventType      string    `json:"event_type"`
	PayloadHash    string    `json:"payload_hash"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Subject        string    `json:"subject,omitempty"`
	PublishedAt    time.Time `json:"published_at"`
	Position       uint64    `json:"position"`
	Payload        any       `json:"payload,omitempty"`
	// Encrypted: the ledger holds the payload encrypted (erasable);
	// PayloadErased: its data key was destroyed (Payload says so too).
	Encrypted     bool            `json:"encrypted,omitempty"`
	PayloadErased *erasedPayload  `json:"payload_erased,omitempty"`
	Deliveries    []deliveryBrief `json:"deliveries,omitempty"`
	// DeliveryCount is how many deliveries the message has; Deliveries
	// holds the first messageDeliveriesInline of them, in the order they
	// were scheduled, and MoreDeliveries, when there are more, is the
	// listing that pages through them all.
	DeliveryCount  int    `json:"delivery_count"`
	MoreDeliveries string `json:"more_deliveries,omitempty"`
}

// erasedPayload stands where an erased payload was.
type erasedPayload struct {
	Erased    bool      `json:"erased"`
	ErasureID string    `json:"erasure_id"`
	ErasedAt  time.Time `json:"erased_at"`
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

// setLocation names, in a 201, where what it created is read: without it,
// RFC 9110 takes the created resource to be the request's target, the
// collection.
func setLocation(c *gin.Context, path string) { c.Header("Location", path) }
