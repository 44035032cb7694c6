package domain

import (
	"fmt"
	"strings"
	"time"
)

// Erasure streams and events.
const (
	TypeErasureRequested = "erasure.requested"
	TypeErasureCompleted = "erasure.completed"
)

// ErasureStream is one erasure's stream.
func ErasureStream(id string) string { return "erasure-" + id }

// What an erasure covers.
const (
	EraseApplication = "application"
	EraseMessages    = "messages"
	EraseSubject     = "subject"
	EraseBefore      = "published_before"
)

// ErasureRequested: an operator (or the retention sweeper) asked that some
// payloads be made unreadable. Recorded before any key is destroyed.
type ErasureRequested struct {
	ErasureID     string    `json:"erasure_id"`
	ApplicationID string    `json:"application_id"`
	Scope         string    `json:"scope"`
	MessageIDs    []string  `json:"message_ids,omitempty"`
	Subject       string    `json:"subject,omitempty"`
	Before        time.Time `json:"before,omitzero"`
	Reason        string    `json:"reason"`
	RequestedAt   time.Time `json:"requested_at"`
}

// ErasureCompleted: the data keys were destroyed. KeyIDs are what was made
// unreadable; EffectiveBefore, for an erasure by time, the day boundary it
// reached (keys hold whole UTC days).
type ErasureCompleted struct {
	ErasureID       string    `json:"erasure_id"`
	ApplicationID   string    `json:"application_id"`
	KeyIDs          []string  `json:"key_ids"`
	EffectiveBefore time.Time `json:"effective_before,omitzero"`
	CompletedAt     time.Time `json:"completed_at"`
}

func (ErasureRequested) Type() string { return TypeErasureRequested }
func (ErasureCompleted) Type() string { return TypeErasureCompleted }

// Erasure is an erasure's state, folded from its stream.
type Erasure struct {
	ErasureRequested
	Completed *ErasureCompleted
	Exists    bool
}

// EvolveErasure applies one event of an erasure's stream.
func EvolveErasure(s Erasure, ev Event) Erasure {
	switch e := ev.(type) {
	case ErasureRequested:
		return Erasure{ErasureRequested: e, Exists: true}
	case ErasureCompleted:
		s.Completed = &e
	}
	return s
}

// RequestErasure asks for an erasure. Exactly the field its Scope names is
// set: MessageIDs, Subject or Before (nothing for the application).
type RequestErasure struct {
	ErasureID     string
	ApplicationID string
	Scope         string
	MessageIDs    []string
	Subject       string
	Before        time.Time
	Reason        string
}

// CompleteErasure records the destroyed keys.
type CompleteErasure struct {
	KeyIDs          []string
	EffectiveBefore time.Time
}

// MaxErasureMessages bounds the message ids of one erasure request.
const MaxErasureMessages = 1000

// DecideErasure returns the events of an erasure command. A request for an
// erasure that exists with the same content changes nothing (a retry resumes
// it); with other content it is a conflict.
func DecideErasure(s Erasure, cmd any, now time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case RequestErasure:
		if err := ValidateErasure(c); err != nil {
			return nil, err
		}
		ev := ErasureRequested{ErasureID: c.ErasureID, ApplicationID: c.ApplicationID, Scope: c.Scope, MessageIDs: c.MessageIDs,
			Subject: c.Subject, Before: c.Before.UTC(), Reason: c.Reason, RequestedAt: now.UTC()}
		if c.Before.IsZero() {
			ev.Before = time.Time{}
		}
		if s.Exists {
			if !sameErasure(ev, s.ErasureRequested) {
				return nil, fmt.Errorf("%w: erasure %s was requested with other content", ErrConflict, c.ErasureID)
			}
			return nil, nil
		}
		return []Event{ev}, nil
	case CompleteErasure:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Completed != nil {
			return nil, nil
		}
		keys := c.KeyIDs
		if keys == nil {
			keys = []string{}
		}
		return []Event{ErasureCompleted{ErasureID: s.ErasureID, ApplicationID: s.ApplicationID, KeyIDs: keys,
			EffectiveBefore: c.EffectiveBefore.UTC(), CompletedAt: now.UTC()}}, nil
	}
	return nil, fmt.Errorf("%w: unknown erasure command %T", ErrInvalidArgument, cmd)
}

func sameErasure(a, b ErasureRequested) bool {
	return a.ApplicationID == b.ApplicationID && a.Scope == b.Scope && strings.Join(a.MessageIDs, ",") == strings.Join(b.MessageIDs, ",") &&
		a.Subject == b.Subject && a.Before.Equal(b.Before) && a.Reason == b.Reason
}

// ValidateErasure checks an erasure request as DecideErasure does, for a
// caller that acts on the request before recording it (the key store's
// selection of the keys it destroys).
func ValidateErasure(c RequestErasure) error {
	if err := ValidateID("erasure_id", c.ErasureID); err != nil {
		return err
	}
	if err := ValidateID("application_id", c.ApplicationID); err != nil {
		return err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return invalid("reason", "say why (it is kept in the ledger)")
	}
	if len(c.Reason) > 512 {
		return invalid("reason", "longer than 512 characters")
	}
	// In a fixed order, so that the same request gets the same answer.
	for _, f := range []struct {
		scope string
		set   bool
	}{{EraseMessages, len(c.MessageIDs) > 0}, {EraseSubject, c.Subject != ""}, {EraseBefore, !c.Before.IsZero()}} {
		if f.set && f.scope != c.Scope {
			return invalid(scopeField(f.scope), "only with scope %s", f.scope)
		}
	}
	switch c.Scope {
	case EraseApplication:
	case EraseMessages:
		if len(c.MessageIDs) == 0 {
			return invalid("message_ids", "scope messages needs message ids")
		}
		if len(c.MessageIDs) > MaxErasureMessages {
			return invalid("message_ids", "at most %d per erasure", MaxErasureMessages)
		}
		for _, id := range c.MessageIDs {
			if err := ValidateID("message_ids", id); err != nil {
				return err
			}
		}
	case EraseSubject:
		if c.Subject == "" {
			return invalid("subject", "scope subject needs a subject")
		}
		if err := ValidateSubject(c.Subject); err != nil {
			return err
		}
	case EraseBefore:
		if c.Before.IsZero() {
			return invalid("before", "scope published_before needs a time")
		}
	default:
		return invalid("scope", "want application, messages, subject or published_before")
	}
	return nil
}

func scopeField(scope string) string {
	switch scope {
	case EraseMessages:
		return "message_ids"
	case EraseSubject:
		return "subject"
	}
	return "before"
}

// ValidateSubject checks a message's subject (a customer id, say): short,
// printable, no control characters.
func ValidateSubject(s string) error {
	if len(s) > 256 {
		return invalid("subject", "longer than 256 characters")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid("subject", "control characters are not allowed")
		}
	}
	return nil
}

// RetentionErasureID names the retention sweeper's erasure of an
// application's payloads published before boundary (a UTC day): the same
// sweep run twice is one erasure.
func RetentionErasureID(app string, boundary time.Time) string {
	return derive(PrefixErasure, "retention", app, boundary.UTC().Format("20060102"))
}
