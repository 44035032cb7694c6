package domain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// EventTypeDefined: an event type of the catalog was defined or changed. It
// carries the whole definition, so one event says the whole truth.
type EventTypeDefined struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"` // a JSON Schema the payloads must satisfy
	Deprecated  bool            `json:"deprecated,omitempty"`
	DefinedAt   time.Time       `json:"defined_at"`
}

func (EventTypeDefined) Type() string { return TypeEventTypeDefined }

// EventTypeDef is a catalog entry, folded from its stream.
type EventTypeDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Deprecated  bool            `json:"deprecated,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Exists      bool            `json:"-"`
	// Version counts the events folded (its stream's revision + 1).
	Version uint64 `json:"version,omitempty"`
}

// Revision is the stream revision of the last event folded: what the entry's
// ETag names.
func (d EventTypeDef) Revision() uint64 { return d.Version - 1 }

// EventTypeStream names a catalog entry's stream.
func EventTypeStream(name string) string { return "eventtype-" + name }

// DefineEventType creates a catalog entry (Create: refused if it exists) or
// changes one (nil fields unchanged). The schema's validity as a JSON Schema
// is checked by the caller, which holds a JSON Schema implementation.
type DefineEventType struct {
	Name        string
	Create      bool
	Description *string
	Schema      json.RawMessage // nil: unchanged; "null": removed
	Deprecated  *bool
}

// DecideEventType returns the events a command produces, or why it cannot.
func DecideEventType(s EventTypeDef, c DefineEventType, now time.Time) ([]Event, error) {
	if c.Create && s.Exists {
		return nil, fmt.Errorf("event type %s %w", c.Name, ErrAlreadyExists)
	}
	if !c.Create && !s.Exists {
		return nil, ErrNotFound
	}
	if err := ValidateEventType("name", c.Name); err != nil {
		return nil, err
	}
	ev := EventTypeDefined{Name: c.Name, Description: s.Description, Schema: s.Schema, Deprecated: s.Deprecated, DefinedAt: now.UTC()}
	if c.Description != nil {
		if len(*c.Description) > 1024 {
			return nil, invalid("description", "longer than 1024 characters")
		}
		ev.Description = *c.Description
	}
	if c.Schema != nil {
		switch t := bytes.TrimSpace(c.Schema); {
		case string(t) == "null":
			ev.Schema = nil
		case len(t) > 0 && t[0] == '{' && json.Valid(t):
			var compact bytes.Buffer
			json.Compact(&compact, t)
			ev.Schema = compact.Bytes()
		default:
			return nil, invalid("schema", "must be a JSON Schema object")
		}
	}
	if c.Deprecated != nil {
		ev.Deprecated = *c.Deprecated
	}
	if !c.Create && ev.Description == s.Description && bytes.Equal(ev.Schema, s.Schema) && ev.Deprecated == s.Deprecated {
		return nil, nil
	}
	return []Event{ev}, nil
}

// EvolveEventType applies one event of an entry's stream.
func EvolveEventType(s EventTypeDef, ev Event) EventTypeDef {
	if e, ok := ev.(EventTypeDefined); ok {
		if !s.Exists {
			s.CreatedAt = e.DefinedAt
		}
		s.Name, s.Description, s.Schema, s.Deprecated, s.UpdatedAt, s.Exists = e.Name, e.Description, e.Schema, e.Deprecated, e.DefinedAt, true
		s.Version++
	}
	return s
}

// DefineEventType runs the command on the entry's stream.
func (c *Commands) DefineEventType(ctx context.Context, cmd DefineEventType, md Metadata) (EventTypeDef, Outcome, error) {
	return c.DefineEventTypeIf(ctx, cmd, nil, md)
}

// DefineEventTypeIf is DefineEventType made only on one of revisions (an
// If-Match; none: on any), else a *PreconditionError, as
// ChangeSubscriptionIf.
func (c *Commands) DefineEventTypeIf(ctx context.Context, cmd DefineEventType, revisions []uint64, md Metadata) (EventTypeDef, Outcome, error) {
	if err := ValidateEventType("name", cmd.Name); err != nil {
		return EventTypeDef{}, Outcome{}, err
	}
	return execute(ctx, c, EventTypeStream(cmd.Name), EvolveEventType,
		func(s EventTypeDef, now time.Time, _ *Metadata) ([]Event, error) {
			evs, err := DecideEventType(s, cmd, now)
			if err == nil && len(revisions) > 0 && !slices.Contains(revisions, s.Revision()) {
				return nil, &PreconditionError{Aggregate: "event type", ID: cmd.Name, Revision: s.Revision()}
			}
			return evs, err
		}, md)
}
