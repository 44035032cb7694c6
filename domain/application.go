package domain

import (
	"strings"
	"time"
)

// ApplicationCreated: a tenant was registered.
type ApplicationCreated struct {
	ApplicationID string    `json:"application_id"`
	Name          string    `json:"name"`
	CreatedAt     time.Time `json:"created_at"`
}

// ApplicationUpdated: a tenant was renamed.
type ApplicationUpdated struct {
	ApplicationID string `json:"application_id"`
	Name          string `json:"name"`
}

func (ApplicationCreated) Type() string { return TypeApplicationCreated }
func (ApplicationUpdated) Type() string { return TypeApplicationUpdated }

// Application is the state of one tenant, folded from its stream.
type Application struct {
	ID        string
	Name      string
	CreatedAt time.Time
	Exists    bool
}

// CreateApplication registers a tenant.
type CreateApplication struct {
	ApplicationID string
	Name          string
}

// RenameApplication changes a tenant's display name.
type RenameApplication struct {
	Name string
}

func validateName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("name", "a name is required")
	}
	if len(name) > 256 {
		return invalid("name", "longer than 256 characters")
	}
	return nil
}

// DecideApplication returns the events a command produces, or why it cannot.
func DecideApplication(s Application, cmd any, now time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateApplication:
		if s.Exists {
			return nil, ErrAlreadyExists
		}
		if err := ValidateID("id", c.ApplicationID); err != nil {
			return nil, err
		}
		if err := validateName(c.Name); err != nil {
			return nil, err
		}
		return []Event{ApplicationCreated{ApplicationID: c.ApplicationID, Name: c.Name, CreatedAt: now.UTC()}}, nil
	case RenameApplication:
		if !s.Exists {
			return nil, ErrNotFound
		}
		if err := validateName(c.Name); err != nil {
			return nil, err
		}
		if c.Name == s.Name {
			return nil, nil
		}
		return []Event{ApplicationUpdated{ApplicationID: s.ID, Name: c.Name}}, nil
	}
	return nil, invalid("command", "unknown application command %T", cmd)
}

// EvolveApplication applies one event; unknown events leave the state as is.
func EvolveApplication(s Application, ev Event) Application {
	switch e := ev.(type) {
	case ApplicationCreated:
		return Application{ID: e.ApplicationID, Name: e.Name, CreatedAt: e.CreatedAt, Exists: true}
	case ApplicationUpdated:
		s.Name = e.Name
	}
	return s
}
