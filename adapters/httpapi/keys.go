package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

const smallBody = 64 << 10

type createKeyIn struct {
	Role        string `json:"role"`
	Application string `json:"application"`
	Name        string `json:"name"`
	ExpiresAt   string `json:"expires_at"`
}

type keyOut struct {
	ID          string     `json:"id"`
	Key         string     `json:"key,omitempty"`
	Role        string     `json:"role"`
	Application string     `json:"application,omitempty"`
	Name        string     `json:"name,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Expired     bool       `json:"expired"`
}

func keyOutOf(k domain.APIKey, now time.Time) keyOut {
	return keyOut{ID: k.ID, Role: k.Role, Application: k.ApplicationID, Name: k.Name, CreatedAt: k.CreatedAt, Revoked: k.Revoked, RevokedAt: timePtr(k.RevokedAt),
		ExpiresAt: timePtr(k.ExpiresAt), Expired: k.Expired(now)}
}

func (s *Server) createKey(c *gin.Context) {
	var in createKeyIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	var expires time.Time
	if in.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339Nano, in.ExpiresAt)
		if err != nil {
			s.fail(c, &domain.ValidationError{Field: "expires_at", Reason: "must be an RFC 3339 time, e.g. 2027-03-01T00:00:00Z"})
			return
		}
		expires = t
	}
	key := NewAPIKey()
	hash := domain.HashAPIKey(key)
	k, out, err := s.Commands.CreateAPIKey(c.Request.Context(), domain.CreateAPIKey{
		KeyID: domain.KeyIDForHash(hash), Role: in.Role, ApplicationID: in.Application, Hash: hash, Name: in.Name, ExpiresAt: expires,
	}, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	o := keyOutOf(k, s.Commands.Now())
	o.Key = key
	c.JSON(http.StatusCreated, o)
}

// NewAPIKey draws a new API key: "hlk_" and 32 random bytes.
func NewAPIKey() string { return ids.NewToken("hlk_", 32) }

func (s *Server) listKeys(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var keys []domain.APIKey
	s.Views.Read(func(v *projections.Views) {
		for _, k := range v.Keys {
			keys = append(keys, *k)
		}
	})
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID < keys[j].ID })
	after := c.Query("cursor")
	out := page[keyOut]{Items: []keyOut{}}
	now := s.Commands.Now()
	for _, k := range keys {
		if after != "" && k.ID <= after {
			continue
		}
		if len(out.Items) == limit {
			out.NextCursor = out.Items[len(out.Items)-1].ID
			break
		}
		out.Items = append(out.Items, keyOutOf(k, now))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) revokeKey(c *gin.Context) {
	id, err := pathID(c, "key")
	if err != nil {
		s.fail(c, err)
		return
	}
	// One revocation at a time, checked against views that hold every key
	// change before it, so two concurrent revocations cannot both remove
	// "the other" admin key.
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if err := s.refuseLastAdmin(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	_, out, err := s.Commands.RevokeAPIKey(c.Request.Context(), id, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	c.Status(http.StatusNoContent)
}

// refuseLastAdmin refuses to revoke the only active admin key: without one,
// nobody can manage keys, and HOOKLEDGER_ADMIN_KEY only bootstraps a ledger
// with no keys at all. (Recovery is `hookledger keys create-admin` with the
// server stopped; docs/operations.md.)
func (s *Server) refuseLastAdmin(ctx context.Context, id string) error {
	head, err := s.Store.Head(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.WriteWait)
	defer cancel()
	if err := s.Views.WaitFor(wctx, head); err != nil {
		return fmt.Errorf("%w: the views are behind the ledger", domain.ErrUnavailable)
	}
	var target *domain.APIKey
	others := 0
	now := s.Commands.Now()
	s.Views.Read(func(v *projections.Views) {
		for _, k := range v.Keys {
			switch {
			case k.ID == id:
				t := *k
				target = &t
			case k.Role == domain.RoleAdmin && k.Active(now):
				others++
			}
		}
	})
	// Another admin key that has expired manages nothing: it is not one.
	if target != nil && target.Role == domain.RoleAdmin && target.Active(now) && others == 0 {
		return &badInput{status: http.StatusConflict, code: CodeLastAdmin,
			detail: "this is the only active admin key: create another admin key first (POST /v1/keys {\"role\":\"admin\"})"}
	}
	return nil
}

// me answers which key the request was made with: its id, role, application
// and name, never its hash. Any valid key may ask (the console signs in with
// it, and shows only what the role may do).
func (s *Server) me(c *gin.Context) {
	p := who(c)
	var o keyOut
	s.Views.Read(func(v *projections.Views) {
		if k := v.Keys[p.keyID]; k != nil {
			o = keyOutOf(*k, s.Commands.Now())
		}
	})
	if o.ID == "" { // authenticated a moment ago; revoked since
		s.fail(c, domain.ErrNotFound)
		return
	}
	c.JSON(http.StatusOK, o)
}
