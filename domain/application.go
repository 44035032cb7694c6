package domain

import (
	"fmt"
	"strings"
	"time"
)

// ApplicationCreated: a tenant was registered.
type ApplicationCreated struct {
	ApplicationID string    `json:"application_id"`
	Name          string    `json:"name"`
	CreatedAt     time.Time `json:"created_at"`
}

// ApplicationUpdated: a tenant's settings changed (the event holds their new
// values: name, and whether publishes must use catalog event types).
type ApplicationUpdated struct {
	ApplicationID    string `json:"application_id"`
	Name             string `json:"name"`
	StrictEventTypes bool   `json:"strict_event_types,omitempty"`
	// PayloadRetentionDays: payloads older than this many days are erased
	// (0: kept until erased by request).
	PayloadRetentionDays int `json:"payload_retention_days,omitempty"`
}

// ApplicationDeleted: a tenant was offboarded. Its history stays in the
// ledger and readable; nothing more is published to it or subscribed to it
// (its subscriptions are deleted and its keys revoked, each in its own
// stream, after this event).
type ApplicationDeleted struct {
	ApplicationID string    `json:"application_id"`
	Reason        string    `json:"reason,omitempty"`
	DeletedAt     time.Time `json:"deleted_at"`
}

func (ApplicationCreated) Type() string { return TypeApplicationCreated }
func (ApplicationUpdated) Type() string { return TypeApplicationUpdated }
func (ApplicationDeleted) Type() string { return TypeApplicationDeleted }

// Application is the state of one tenant, folded from its stream.
type Application struct {
	ID                   string
	Name                 string
	StrictEventTypes     bool `json:",omitempty"`
	PayloadRetentionDays int  `json:",omitempty"`
	CreatedAt            time.Time
	Exists               bool
	// DeletedAt is when the application was deleted (zero: it was not).
	DeletedAt     time.Time `json:",omitzero"`
	DeletedReason string    `json:",omitempty"`
	// Version counts the events folded (its stream's revision + 1).
	Version uint64 `json:",omitempty"`
}

// Revision is the stream revision of the last event folded: what the
// application's ETag names.
func (a Application) Revision() uint64 { return a.Version - 1 }

// Deleted reports whether the application was deleted.
func (a Application) Deleted() bool { return !a.DeletedAt.IsZero() }

// DeleteApplication offboards a tenant (its history stays).
type DeleteApplication struct {
	Reason string
}

// CreateApplication registers a tenant, with its settings from the start
// (zero: the defaults, any event type and payloads kept until erased).
type CreateApplication struct {
	ApplicationID        string
	Name                 string
	StrictEventTypes     bool
	PayloadRetentionDays int
}

// RenameApplication changes a tenant's settings: its display name, and
// whether it may publish only event types of the catalog (nil: unchanged).
type RenameApplication struct {
	Name             string
	StrictEventTypes *bool
	// PayloadRetentionDays sets the retention (0 removes it; nil: unchanged).
	PayloadRetentionDays *int
}

// MaxRetentionDays bounds a retention period (100 years).
const MaxRetentionDays = 36500

func validateName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("name", "a name is required")
	}
	if len(name) > 256 {
		return invalid("name", "longer than 256 characters")
	}
	return nil
}

func validateRetention(days int) error {
	if days < 0 || days > MaxRetentionDays {
		return invalid("payload_retention_days", "want 1 to %d days, or 0 to keep payloads until erased", MaxRetentionDays)
	}
	return nil
}

// DecideApplication returns the events a command produces, or why it cannot.
func DecideApplication(s Application, cmd any, now time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateApplication:
		if s.Exists {
			return nil, fmt.Errorf("application %s %w", c.ApplicationID, ErrAlreadyExists)
		}
		if err := ValidateID("id", c.ApplicationID); err != nil {
			return nil, err
		}
		if err := validateName(c.Name); err != nil {
			return nil, err
		}
		if err := validateRetention(c.PayloadRetentionDays); err != nil {
			return nil, err
		}
		evs := []Event{ApplicationCreated{ApplicationID: c.ApplicationID, Name: c.Name, CreatedAt: now.UTC()}}
		if c.StrictEventTypes || c.PayloadRetentionDays != 0 {
			// Settings given at creation are recorded with it, in the same
			// append: there is no moment when the application exists
			// without them (publishing any type, keeping payloads forever).
			evs = append(evs, ApplicationUpdated{ApplicationID: c.ApplicationID, Name: c.Name,
				StrictEventTypes: c.StrictEventTypes, PayloadRetentionDays: c.PayloadRetentionDays})
		}
		return evs, nil
	case DeleteApplication:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if len(c.Reason) > MaxReasonLength {
			return nil, invalid("reason", "longer than %d characters", MaxReasonLength)
		}
		if s.Deleted() {
			return nil, nil // deleted already: a retried deletion finishes its sweep
		}
		return []Event{ApplicationDeleted{ApplicationID: s.ID, Reason: c.Reason, DeletedAt: now.UTC()}}, nil
	case RenameApplication:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if s.Deleted() {
			return nil, &StateError{Aggregate: "application", ID: s.ID, State: "deleted", Command: "change its settings"}
		}
		ev := ApplicationUpdated{ApplicationID: s.ID, Name: s.Name, StrictEventTypes: s.StrictEventTypes, PayloadRetentionDays: s.PayloadRetentionDays}
		if c.Name != "" {
			if err := validateName(c.Name); err != nil {
				return nil, err
			}
			ev.Name = c.Name
		}
		if c.StrictEventTypes != nil {
			ev.StrictEventTypes = *c.StrictEventTypes
		}
		if c.PayloadRetentionDays != nil {
			if err := validateRetention(*c.PayloadRetentionDays); err != nil {
				return nil, err
			}
			ev.PayloadRetentionDays = *c.PayloadRetentionDays
		}
		if ev.Name == s.Name && ev.StrictEventTypes == s.StrictEventTypes && ev.PayloadRetentionDays == s.PayloadRetentionDays {
			return nil, nil
		}
		return []Event{ev}, nil
	}
	return nil, invalid("command", "unknown application command %T", cmd)
}

// EvolveApplication applies one event; unknown events leave the state as is.
func EvolveApplication(s Application, ev Event) Application {
	switch e := ev.(type) {
	case ApplicationCreated:
		return Application{ID: e.ApplicationID, Name: e.Name, CreatedAt: e.CreatedAt, Exists: true, Version: 1}
	case ApplicationUpdated:
		s.Name, s.StrictEventTypes, s.PayloadRetentionDays = e.Name, e.StrictEventTypes, e.PayloadRetentionDays
		s.Version++
	case ApplicationDeleted:
		s.DeletedAt, s.DeletedReason = e.DeletedAt, e.Reason
		s.Version++
	}
	return s
}
