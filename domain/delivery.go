package domain

import (
	"context"
	"time"
	"unicode/utf8"
)

// Error classes of failed attempts (stable strings: they are stored).
const (
	ErrorClassHTTPStatus        = "http_status"        // a non-2xx status other than those below
	ErrorClassGone              = "gone"               // 410: the endpoint asked to be disabled
	ErrorClassThrottled         = "throttled"          // 429, 502, 503, 504
	ErrorClassRedirect          = "redirect"           // 3xx: redirects are never followed
	ErrorClassTimeout           = "timeout"            // connect or total timeout
	ErrorClassConnectionRefused = "connection_refused" // nothing listening
	ErrorClassConnectionReset   = "connection_reset"   // the peer closed or reset the connection
	ErrorClassDNS               = "dns"                // the host name did not resolve
	ErrorClassTLS               = "tls"                // handshake or certificate failure
	ErrorClassBlockedTarget     = "blocked_target"     // the network guard refused the address
	ErrorClassNetwork           = "network"            // any other transport error
	ErrorClassInternal          = "internal"           // hookledger could not build the request (e.g. payload unreadable)
)

// MaxResponseExcerpt bounds the response body excerpt recorded in the ledger.
const MaxResponseExcerpt = 2048

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

const (
	DeliveryStatusPending      DeliveryStatus = "pending"      // waiting for its first attempt (or a redelivery)
	DeliveryStatusAttempting   DeliveryStatus = "attempting"   // an attempt started and has no outcome yet
	DeliveryStatusFailed       DeliveryStatus = "failed"       // the last attempt failed; a retry is scheduled
	DeliveryStatusAcknowledged DeliveryStatus = "acknowledged" // an attempt got a 2xx
	DeliveryStatusExhausted    DeliveryStatus = "exhausted"    // every scheduled attempt failed (dead-lettered)
	DeliveryStatusCancelled    DeliveryStatus = "cancelled"
)

// DeliveryScheduled: a message matched a subscription (as it stood at
// SubscriptionRevision) and will be delivered.
type DeliveryScheduled struct {
	DeliveryID           string    `json:"delivery_id"`
	MessageID            string    `json:"message_id"`
	SubscriptionID       string    `json:"subscription_id"`
	ApplicationID        string    `json:"application_id"`
	EventType            string    `json:"event_type"`
	SubscriptionRevision uint64    `json:"subscription_revision"`
	MatchedPattern       string    `json:"matched_pattern"`
	MessagePosition      Position  `json:"message_position"`
	DueAt                time.Time `json:"due_at"`
	// ScheduledBy is "replay" for a delivery scheduled by a replay request
	// (at ReplayPosition); empty for the fan-out at publish time.
	ScheduledBy    string   `json:"scheduled_by,omitempty"`
	ReplayPosition Position `json:"replay_position,omitempty"`
}

// ScheduledByReplay marks a delivery scheduled by a replay request.
const ScheduledByReplay = "replay"

// AttemptStarted: a worker took the delivery and is about to send attempt n.
type AttemptStarted struct {
	DeliveryID string    `json:"delivery_id"`
	Attempt    int       `json:"attempt"`
	Worker     string    `json:"worker"`
	StartedAt  time.Time `json:"started_at"`
	// In a cluster: the node, and the partition lease and its epoch, under
	// which the attempt was made (absent for a single process).
	NodeID    string `json:"node_id,omitempty"`
	Partition *int   `json:"partition,omitempty"`
	Epoch     uint64 `json:"epoch,omitempty"`
}

// AttemptAcknowledged: the endpoint answered 2xx.
type AttemptAcknowledged struct {
	DeliveryID      string `json:"delivery_id"`
	Attempt         int    `json:"attempt"`
	StatusCode      int    `json:"status_code"`
	LatencyUS       int64  `json:"latency_us"`
	ResponseExcerpt string `json:"response_excerpt,omitempty"`
	// ResponseExcerptSealed holds the excerpt instead when the message's
	// payload is encrypted: under the same data key, erased with it.
	ResponseExcerptSealed *SealedValue `json:"response_excerpt_sealed,omitempty"`
	KeyIDs                []string     `json:"key_ids"`
	AcknowledgedAt        time.Time    `json:"acknowledged_at"`
}

// AttemptFailed: the attempt did not get a 2xx.
type AttemptFailed struct {
	DeliveryID      string `json:"delivery_id"`
	Attempt         int    `json:"attempt"`
	StatusCode      int    `json:"status_code,omitempty"`
	ErrorClass      string `json:"error_class"`
	Error           string `json:"error,omitempty"`
	LatencyUS       int64  `json:"latency_us"`
	ResponseExcerpt string `json:"response_excerpt,omitempty"`
	// ResponseExcerptSealed: as AttemptAcknowledged's.
	ResponseExcerptSealed *SealedValue `json:"response_excerpt_sealed,omitempty"`
	KeyIDs                []string     `json:"key_ids"`
	RetryAfterMS          int64        `json:"retry_after_ms,omitempty"`
	FailedAt              time.Time    `json:"failed_at"`
}

// AttemptOutcomeUnknown: an attempt started and its outcome was never recorded
// (the process died). The endpoint may or may not have received it.
type AttemptOutcomeUnknown struct {
	DeliveryID string    `json:"delivery_id"`
	Attempt    int       `json:"attempt"`
	Reason     string    `json:"reason"`
	ClosedAt   time.Time `json:"closed_at"`
}

// RetryScheduled: the next attempt is due at DueAt.
type RetryScheduled struct {
	DeliveryID         string    `json:"delivery_id"`
	NextAttempt        int       `json:"next_attempt"`
	DueAt              time.Time `json:"due_at"`
	DelayMS            int64     `json:"delay_ms"`
	Reason             string    `json:"reason"`
	RetryAfterHonoured bool      `json:"retry_after_honoured,omitempty"`
}

// DeliveryExhausted: every scheduled attempt failed; the delivery is
// dead-lettered (it can still be redelivered by hand).
type DeliveryExhausted struct {
	DeliveryID  string    `json:"delivery_id"`
	Attempts    int       `json:"attempts"`
	Reason      string    `json:"reason"`
	ExhaustedAt time.Time `json:"exhausted_at"`
}

// RedeliveryRequested: someone asked for a new attempt now; the failure count
// starts over, so the delivery gets the whole retry schedule again.
type RedeliveryRequested struct {
	DeliveryID string    `json:"delivery_id"`
	By         string    `json:"by"`
	Reason     string    `json:"reason,omitempty"`
	DueAt      time.Time `json:"due_at"`
}

// DeliveryCancelled: the delivery will not be attempted again.
type DeliveryCancelled struct {
	DeliveryID  string    `json:"delivery_id"`
	Reason      string    `json:"reason"`
	CancelledAt time.Time `json:"cancelled_at"`
}

func (DeliveryScheduled) Type() string     { return TypeDeliveryScheduled }
func (AttemptStarted) Type() string        { return TypeAttemptStarted }
func (AttemptAcknowledged) Type() string   { return TypeAttemptAcknowledged }
func (AttemptFailed) Type() string         { return TypeAttemptFailed }
func (AttemptOutcomeUnknown) Type() string { return TypeAttemptOutcomeUnknown }
func (RetryScheduled) Type() string        { return TypeRetryScheduled }
func (DeliveryExhausted) Type() string     { return TypeDeliveryExhausted }
func (RedeliveryRequested) Type() string   { return TypeRedeliveryRequested }
func (DeliveryCancelled) Type() string     { return TypeDeliveryCancelled }

// DeliveryEvent is an event of one delivery's stream. Which delivery it
// belongs to is a method of each, so code that acts on any delivery event
// needs no switch over their types, which a new one could be missing from.
type DeliveryEvent interface {
	Event
	OfDelivery() string // the delivery's id
}

func (e DeliveryScheduled) OfDelivery() string     { return e.DeliveryID }
func (e AttemptStarted) OfDelivery() string        { return e.DeliveryID }
func (e AttemptAcknowledged) OfDelivery() string   { return e.DeliveryID }
func (e AttemptFailed) OfDelivery() string         { return e.DeliveryID }
func (e AttemptOutcomeUnknown) OfDelivery() string { return e.DeliveryID }
func (e RetryScheduled) OfDelivery() string        { return e.DeliveryID }
func (e DeliveryExhausted) OfDelivery() string     { return e.DeliveryID }
func (e RedeliveryRequested) OfDelivery() string   { return e.DeliveryID }
func (e DeliveryCancelled) OfDelivery() string     { return e.DeliveryID }

// Delivery is one message to one subscription, folded from its stream.
type Delivery struct {
	ID                   string
	MessageID            string
	SubscriptionID       string
	ApplicationID        string
	EventType            string
	SubscriptionRevision uint64
	MessagePosition      Position
	Status               DeliveryStatus
	// Attempts counts started attempts; OpenAttempt is the number of the
	// started attempt with no outcome yet (0: none).
	Attempts    int
	OpenAttempt int
	// Failures counts failed attempts since scheduling or the last redelivery;
	// it indexes the retry schedule.
	Failures       int
	NextDueAt      time.Time
	LastErrorClass string
	LastStatusCode int
	ScheduledAt    time.Time
	FinishedAt     time.Time
	// FirstFailureAt is when the current run of failures began (zero when the
	// last definite outcome was a success).
	FirstFailureAt time.Time
	Version        uint64
}

// Exists reports whether the delivery was scheduled.
func (d Delivery) Exists() bool { return d.Version > 0 }

// Revision is the stream revision of the last event folded.
func (d Delivery) Revision() uint64 { return d.Version - 1 }

// ScheduleDelivery records that a message matched a subscription.
type ScheduleDelivery struct {
	MessageID            string
	SubscriptionID       string
	ApplicationID        string
	EventType            string
	SubscriptionRevision uint64
	MatchedPattern       string
	MessagePosition      Position
	// FirstDelay is the subscription's retry schedule[0]: the delay before
	// the first attempt (RetryPolicy).
	FirstDelay time.Duration `json:",omitempty"`
	// ReplayPosition is set when a replay request schedules the delivery.
	ReplayPosition Position `json:",omitempty"`
}

// StartAttempt claims the delivery for one attempt.
type StartAttempt struct {
	Worker string
	// Lease is the cluster partition lease the attempt runs under (nil: a
	// single process).
	Lease *AttemptLease
}

// AttemptLease is the partition lease an attempt runs under.
type AttemptLease struct {
	NodeID    string
	Partition int
	Epoch     uint64
}

// AttemptResult is what the sender observed. StatusCode is 0 when no HTTP
// response arrived; ErrorClass is empty for a 2xx.
type AttemptResult struct {
	Attempt         int
	StatusCode      int
	ErrorClass      string
	Error           string
	Latency         time.Duration
	ResponseExcerpt string
	// ResponseExcerptSealed replaces ResponseExcerpt when the message is
	// encrypted (SealExcerpt).
	ResponseExcerptSealed *SealedValue
	KeyIDs                []string
	RetryAfter            time.Duration
}

// RecordOutcome records an attempt's result and decides the next step with
// Policy and Random (in [0, 1), drawn by the caller).
type RecordOutcome struct {
	Result AttemptResult
	Policy RetryPolicy
	Random float64
}

// CloseUnknownAttempt closes an attempt whose outcome was never recorded; the
// delivery is retried at once (at-least-once: nothing is silently dropped).
type CloseUnknownAttempt struct {
	Attempt int
	Reason  string
}

// RequestRedelivery asks for a new attempt now.
type RequestRedelivery struct {
	By     string
	Reason string
}

// CancelDelivery stops a delivery that has not succeeded.
type CancelDelivery struct{ Reason string }

// SealExcerpt encrypts r's response excerpt under the data key of the
// message's payload (keyID), so that erasing the message erases what its
// endpoint answered too. With the key already destroyed, the excerpt is
// dropped: nothing about an erased message is written in the clear.
func SealExcerpt(ctx context.Context, c ExcerptSealer, keyID, messageID string, r *AttemptResult) {
	if r.ResponseExcerpt == "" {
		return
	}
	v, err := c.SealUnder(ctx, keyID, ExcerptAAD(messageID), []byte(truncateExcerpt(r.ResponseExcerpt)))
	r.ResponseExcerpt = ""
	if err == nil {
		r.ResponseExcerptSealed = v
	}
}

// ExcerptSealer seals a value under an existing data key.
type ExcerptSealer interface {
	SealUnder(ctx context.Context, keyID, aad string, plaintext []byte) (*SealedValue, error)
}

// ExcerptAAD binds a response excerpt to its message.
func ExcerptAAD(messageID string) string { return "response:" + messageID }

func truncateExcerpt(s string) string {
	if len(s) <= MaxResponseExcerpt {
		return s
	}
	cut := MaxResponseExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// DecideDelivery returns the events a command produces, or why it cannot.
func DecideDelivery(d Delivery, cmd any, now time.Time) ([]Event, error) {
	now = now.UTC()
	if c, ok := cmd.(ScheduleDelivery); ok {
		if d.Exists() {
			return nil, ErrAlreadyExists
		}
		if err := ValidateID("message_id", c.MessageID); err != nil {
			return nil, err
		}
		if err := ValidateID("subscription_id", c.SubscriptionID); err != nil {
			return nil, err
		}
		ev := DeliveryScheduled{
			DeliveryID: DeliveryIDFor(c.MessageID, c.SubscriptionID), MessageID: c.MessageID,
			SubscriptionID: c.SubscriptionID, ApplicationID: c.ApplicationID, EventType: c.EventType,
			SubscriptionRevision: c.SubscriptionRevision, MatchedPattern: c.MatchedPattern,
			MessagePosition: c.MessagePosition, DueAt: now.Add(max(c.FirstDelay, 0)),
		}
		if c.ReplayPosition != 0 {
			ev.ScheduledBy, ev.ReplayPosition = ScheduledByReplay, c.ReplayPosition
		}
		return []Event{ev}, nil
	}
	if !d.Exists() {
		return nil, ErrNotFound
	}
	stateErr := func(command string) error {
		return &StateError{Aggregate: "delivery", ID: d.ID, State: string(d.Status), Command: command}
	}
	switch c := cmd.(type) {
	case StartAttempt:
		if d.Status != DeliveryStatusPending && d.Status != DeliveryStatusFailed {
			return nil, stateErr("start an attempt")
		}
		started := AttemptStarted{DeliveryID: d.ID, Attempt: d.Attempts + 1, Worker: c.Worker, StartedAt: now}
		if l := c.Lease; l != nil {
			p := l.Partition
			started.NodeID, started.Partition, started.Epoch = l.NodeID, &p, l.Epoch
		}
		return []Event{started}, nil
	case RecordOutcome:
		r := c.Result
		if d.Status != DeliveryStatusAttempting || r.Attempt != d.OpenAttempt {
			return nil, stateErr("record the outcome of attempt " + itoa(r.Attempt))
		}
		latency := r.Latency.Microseconds()
		if r.ErrorClass == "" && r.StatusCode >= 200 && r.StatusCode < 300 {
			return []Event{AttemptAcknowledged{
				DeliveryID: d.ID, Attempt: r.Attempt, StatusCode: r.StatusCode, LatencyUS: latency,
				ResponseExcerpt: truncateExcerpt(r.ResponseExcerpt), ResponseExcerptSealed: r.ResponseExcerptSealed, KeyIDs: r.KeyIDs, AcknowledgedAt: now,
			}}, nil
		}
		class := r.ErrorClass
		if class == "" {
			class = ErrorClassHTTPStatus
		}
		failed := AttemptFailed{
			DeliveryID: d.ID, Attempt: r.Attempt, StatusCode: r.StatusCode, ErrorClass: class,
			Error: truncateExcerpt(r.Error), LatencyUS: latency, ResponseExcerpt: truncateExcerpt(r.ResponseExcerpt),
			ResponseExcerptSealed: r.ResponseExcerptSealed, KeyIDs: r.KeyIDs, RetryAfterMS: r.RetryAfter.Milliseconds(), FailedAt: now,
		}
		delay, honoured, ok := c.Policy.NextDelay(d.Failures+1, c.Random, r.RetryAfter)
		if !ok {
			return []Event{failed, DeliveryExhausted{
				DeliveryID: d.ID, Attempts: d.Attempts, Reason: "retry schedule exhausted after " + class, ExhaustedAt: now,
			}}, nil
		}
		return []Event{failed, RetryScheduled{
			DeliveryID: d.ID, NextAttempt: d.Attempts + 1, DueAt: now.Add(delay), DelayMS: delay.Milliseconds(),
			Reason: class, RetryAfterHonoured: honoured,
		}}, nil
	case CloseUnknownAttempt:
		if d.Status != DeliveryStatusAttempting || c.Attempt != d.OpenAttempt {
			return nil, stateErr("close attempt " + itoa(c.Attempt))
		}
		return []Event{
			AttemptOutcomeUnknown{DeliveryID: d.ID, Attempt: c.Attempt, Reason: c.Reason, ClosedAt: now},
			RetryScheduled{DeliveryID: d.ID, NextAttempt: d.Attempts + 1, DueAt: now, Reason: "outcome_unknown"},
		}, nil
	case RequestRedelivery:
		if d.Status == DeliveryStatusAttempting {
			return nil, stateErr("redeliver")
		}
		if len(c.Reason) > 1024 {
			return nil, invalid("reason", "longer than 1024 characters")
		}
		return []Event{RedeliveryRequested{DeliveryID: d.ID, By: c.By, Reason: c.Reason, DueAt: now}}, nil
	case CancelDelivery:
		switch d.Status {
		case DeliveryStatusCancelled:
			return nil, nil
		case DeliveryStatusPending, DeliveryStatusFailed:
			return []Event{DeliveryCancelled{DeliveryID: d.ID, Reason: c.Reason, CancelledAt: now}}, nil
		}
		return nil, stateErr("cancel")
	}
	return nil, invalid("command", "unknown delivery command %T", cmd)
}

// EvolveDelivery applies one event of the delivery's stream.
func EvolveDelivery(d Delivery, ev Event) Delivery {
	switch e := ev.(type) {
	case DeliveryScheduled:
		d = Delivery{
			ID: e.DeliveryID, MessageID: e.MessageID, SubscriptionID: e.SubscriptionID,
			ApplicationID: e.ApplicationID, EventType: e.EventType, SubscriptionRevision: e.SubscriptionRevision,
			MessagePosition: e.MessagePosition, Status: DeliveryStatusPending, NextDueAt: e.DueAt, ScheduledAt: e.DueAt,
		}
	case AttemptStarted:
		d.Status, d.Attempts, d.OpenAttempt = DeliveryStatusAttempting, e.Attempt, e.Attempt
	case AttemptAcknowledged:
		d.Status, d.OpenAttempt, d.LastStatusCode, d.LastErrorClass = DeliveryStatusAcknowledged, 0, e.StatusCode, ""
		d.NextDueAt, d.FinishedAt, d.FirstFailureAt = time.Time{}, e.AcknowledgedAt, time.Time{}
	case AttemptFailed:
		d.OpenAttempt, d.LastStatusCode, d.LastErrorClass = 0, e.StatusCode, e.ErrorClass
		d.Failures++
		if d.FirstFailureAt.IsZero() {
			d.FirstFailureAt = e.FailedAt
		}
	case AttemptOutcomeUnknown:
		d.OpenAttempt, d.LastErrorClass = 0, "outcome_unknown"
	case RetryScheduled:
		d.Status, d.NextDueAt = DeliveryStatusFailed, e.DueAt
		if e.Reason == "outcome_unknown" && d.Failures == 0 {
			d.Status = DeliveryStatusPending
		}
	case DeliveryExhausted:
		d.Status, d.NextDueAt, d.FinishedAt = DeliveryStatusExhausted, time.Time{}, e.ExhaustedAt
	case RedeliveryRequested:
		d.Status, d.NextDueAt, d.Failures, d.FinishedAt = DeliveryStatusPending, e.DueAt, 0, time.Time{}
	case DeliveryCancelled:
		d.Status, d.NextDueAt, d.FinishedAt = DeliveryStatusCancelled, time.Time{}, e.CancelledAt
	default:
		return d
	}
	d.Version++
	return d
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
