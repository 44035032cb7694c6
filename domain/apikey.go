package domain

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
)

// Roles of API keys.
const (
	RoleAdmin       = "admin"       // everything
	RoleAuditor     = "auditor"     // read everything, change nothing
	RoleApplication = "application" // its own application only
)

// APIKeyCreated: a key was issued. Only the SHA-256 of the key is stored.
type APIKeyCreated struct {
	KeyID         string    `json:"key_id"`
	Role          string    `json:"role"`
	ApplicationID string    `json:"application_id,omitempty"`
	Hash          string    `json:"hash"`
	Name          string    `json:"name,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// ExpiresAt: from then on the key no longer authenticates (zero: it
	// lasts until revoked).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// APIKeyRevoked: a key no longer authenticates.
type APIKeyRevoked struct {
	KeyID     string    `json:"key_id"`
	RevokedAt time.Time `json:"revoked_at"`
}

func (APIKeyCreated) Type() string { return TypeAPIKeyCreated }
func (APIKeyRevoked) Type() string { return TypeAPIKeyRevoked }

// APIKey is a key's state.
type APIKey struct {
	ID            string    `json:"id"`
	Role          string    `json:"role"`
	ApplicationID string    `json:"application_id,omitempty"`
	Hash          string    `json:"hash"`
	Name          string    `json:"name,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	Revoked       bool      `json:"revoked"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
}

// Expired says whether the key has expired at now.
func (k APIKey) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// Active says whether the key authenticates at now: not revoked, not expired.
func (k APIKey) Active(now time.Time) bool { return !k.Revoked && !k.Expired(now) }

// HashAPIKey is how keys are stored and looked up.
func HashAPIKey(key string) string {
	return labelledSHA256(sha256.Sum256([]byte(key)))
}

// KeyIDForHash derives a key's id from its hash, so that the same bootstrap
// key always gets the same id (and appending it twice is refused).
func KeyIDForHash(hash string) string { return derive(PrefixKey, "apikey", hash) }

// APIKeyStream names a key's stream.
func APIKeyStream(id string) string { return "apikey-" + id }

// CreateAPIKey issues a key whose hash the caller computed.
type CreateAPIKey struct {
	KeyID         string
	Role          string
	ApplicationID string
	Hash          string
	Name          string
	ExpiresAt     time.Time // zero: until revoked
}

// MaxAPIKeyLifetime bounds an expiry, so that a typo (a year 20260 for 2026)
// does not make a key that outlives every rotation policy unseen.
const MaxAPIKeyLifetime = 10 * 366 * 24 * time.Hour

// RevokeAPIKey revokes a key.
type RevokeAPIKey struct{}

// DecideAPIKey returns the events a command produces, or why it cannot.
func DecideAPIKey(s APIKey, cmd any, now time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateAPIKey:
		if s.ID != "" {
			return nil, ErrAlreadyExists
		}
		if err := ValidateID("id", c.KeyID); err != nil {
			return nil, err
		}
		switch c.Role {
		case RoleAdmin, RoleAuditor:
			if c.ApplicationID != "" {
				return nil, invalid("application", "only application keys name an application")
			}
		case RoleApplication:
			if err := ValidateID("application", c.ApplicationID); err != nil {
				return nil, invalid("application", "an application key needs the application it belongs to")
			}
		default:
			return nil, invalid("role", "must be admin, auditor or application")
		}
		if len(c.Name) > 256 {
			return nil, invalid("name", "longer than 256 characters")
		}
		if len(c.Hash) != len("sha256:")+64 {
			return nil, invalid("hash", "not a key hash")
		}
		if !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(now) {
			return nil, invalid("expires_at", "must be in the future (it is %s now)", now.UTC().Format(time.RFC3339))
		}
		if c.ExpiresAt.Sub(now) > MaxAPIKeyLifetime {
			return nil, invalid("expires_at", "more than ten years ahead: leave it out for a key that lasts until revoked")
		}
		var exp time.Time
		if !c.ExpiresAt.IsZero() {
			exp = c.ExpiresAt.UTC()
		}
		return []Event{APIKeyCreated{KeyID: c.KeyID, Role: c.Role, ApplicationID: c.ApplicationID, Hash: c.Hash, Name: c.Name, CreatedAt: now.UTC(), ExpiresAt: exp}}, nil
	case RevokeAPIKey:
		if s.ID == "" {
			return nil, ErrNotFound
		}
		if s.Revoked {
			return nil, nil
		}
		return []Event{APIKeyRevoked{KeyID: s.ID, RevokedAt: now.UTC()}}, nil
	}
	return nil, invalid("command", "unknown api key command %T", cmd)
}

// EvolveAPIKey applies one event of a key's stream.
func EvolveAPIKey(s APIKey, ev Event) APIKey {
	switch e := ev.(type) {
	case APIKeyCreated:
		return APIKey{ID: e.KeyID, Role: e.Role, ApplicationID: e.ApplicationID, Hash: e.Hash, Name: e.Name, CreatedAt: e.CreatedAt, ExpiresAt: e.ExpiresAt}
	case APIKeyRevoked:
		s.Revoked, s.RevokedAt = true, e.RevokedAt
	}
	return s
}

// CreateAPIKey issues a key (the caller drew the key and hashed it).
func (c *Commands) CreateAPIKey(ctx context.Context, cmd CreateAPIKey, md Metadata) (APIKey, Outcome, error) {
	if cmd.Role == RoleApplication {
		// Checked here, before the application is looked up, so that the
		// answer names the field the caller sent.
		if cmd.ApplicationID == "" {
			return APIKey{}, Outcome{}, invalid("application", "an application key must name its application")
		}
		if cmd.ApplicationID == SystemApplicationID {
			// Its keys could publish, and its messages are the operators'
			// alerts: only hookledger publishes them.
			return APIKey{}, Outcome{}, invalid("application", "%s is hookledger's own application (operational events): it has no application keys; admin keys manage its subscriptions", SystemApplicationID)
		}
		if err := ValidateID("application", cmd.ApplicationID); err != nil {
			return APIKey{}, Outcome{}, err
		}
		app, err := c.GetApplication(ctx, cmd.ApplicationID)
		if err != nil {
			return APIKey{}, Outcome{}, fmt.Errorf("application %s: %w", cmd.ApplicationID, err)
		}
		if app.Deleted() {
			return APIKey{}, Outcome{}, &StateError{Aggregate: "application", ID: app.ID, State: "deleted", Command: "issue it a key"}
		}
	}
	if err := ValidateID("id", cmd.KeyID); err != nil {
		return APIKey{}, Outcome{}, err
	}
	return execute(ctx, c, APIKeyStream(cmd.KeyID), EvolveAPIKey,
		func(s APIKey, now time.Time, _ *Metadata) ([]Event, error) { return DecideAPIKey(s, cmd, now) }, md)
}

// RevokeAPIKey revokes a key.
func (c *Commands) RevokeAPIKey(ctx context.Context, id string, md Metadata) (APIKey, Outcome, error) {
	if err := ValidateID("id", id); err != nil {
		return APIKey{}, Outcome{}, err
	}
	return execute(ctx, c, APIKeyStream(id), EvolveAPIKey,
		func(s APIKey, now time.Time, _ *Metadata) ([]Event, error) {
			return DecideAPIKey(s, RevokeAPIKey{}, now)
		}, md)
}

// ActorName is how people read an actor: an API key as "name (role)" (its
// id when it has no name), a process by its name.
func ActorName(actor string, key *APIKey) string {
	if key == nil {
		return actor
	}
	name := key.Name
	if name == "" {
		name = key.ID
	}
	return name + " (" + key.Role + ")"
}
