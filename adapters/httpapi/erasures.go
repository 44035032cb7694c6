package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// Eraser is what the API needs to carry out an erasure.
type Eraser interface {
	Erase(ctx context.Context, req domain.RequestErasure, md domain.Metadata) (erasure.Result, error)
}

type erasureIn struct {
	ID         string    `json:"id"`
	Scope      string    `json:"scope"`
	MessageIDs []string  `json:"message_ids"`
	Subject    string    `json:"subject"`
	Before     time.Time `json:"before"`
	Reason     string    `json:"reason"`
}

type erasureJSON struct {
	ID                  string     `json:"id"`
	ApplicationID       string     `json:"application_id"`
	Scope               string     `json:"scope"`
	MessageIDs          []string   `json:"message_ids,omitempty"`
	Subject             string     `json:"subject,omitempty"`
	Before              *time.Time `json:"before,omitempty"`
	Reason              string     `json:"reason"`
	Actor               string     `json:"actor,omitempty"`
	RequestedAt         time.Time  `json:"requested_at"`
	Status              string     `json:"status"` // requested (interrupted: post it again) or completed
	CompletedAt         *time.Time `json:"completed_at,omitempty"`
	KeysDestroyed       []string   `json:"keys_destroyed"`
	EffectiveBefore     *time.Time `json:"effective_before,omitempty"`
	DeliveriesCancelled *int       `json:"deliveries_cancelled,omitempty"`
	Resumed             bool       `json:"resumed,omitempty"`
	Position            uint64     `json:"position,omitempty"`
}

func erasureOut(e domain.Erasure) erasureJSON {
	o := erasureJSON{ID: e.ErasureID, ApplicationID: e.ApplicationID, Scope: e.Scope, MessageIDs: e.MessageIDs, Subject: e.Subject,
		Before: timePtr(e.Before), Reason: e.Reason, RequestedAt: e.RequestedAt, Status: "requested", KeysDestroyed: []string{}}
	if c := e.Completed; c != nil {
		o.Status, o.CompletedAt, o.KeysDestroyed, o.EffectiveBefore = "completed", timePtr(c.CompletedAt), c.KeyIDs, timePtr(c.EffectiveBefore)
	}
	return o
}

// erase makes payloads unreadable for ever (admin): see docs/audit.md
// "Erasure". 201 when carried out, 200 when the erasure existed (a retry
// finishes an interrupted one and changes nothing otherwise).
func (s *Server) erase(c *gin.Context) {
	if s.Eraser == nil {
		writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, "payload encryption is off on this server (--no-payload-encryption): nothing can be erased", "")
		return
	}
	var in erasureIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	app := c.Param("app") // checked by appScope
	if in.ID == "" {
		in.ID = ids.New(domain.PrefixErasure)
	}
	md := actor(c)
	res, err := s.Eraser.Erase(c.Request.Context(), domain.RequestErasure{ErasureID: in.ID, ApplicationID: app, Scope: in.Scope,
		MessageIDs: in.MessageIDs, Subject: in.Subject, Before: in.Before, Reason: in.Reason}, md)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, res.Position)
	out := erasureOut(res.Erasure)
	out.Resumed, out.Position = res.Resumed, uint64(res.Position)
	if !res.Resumed || res.DeliveriesCancelled > 0 {
		out.DeliveriesCancelled = &res.DeliveriesCancelled
	}
	status := http.StatusCreated
	if res.Resumed {
		status = http.StatusOK
	} else {
		setLocation(c, "/v1/applications/"+app+"/erasures/"+out.ID)
	}
	c.JSON(status, out)
}

// getErasure answers one erasure, read from its own stream.
func (s *Server) getErasure(c *gin.Context) {
	id, err := pathID(c, "erasure")
	if err != nil {
		s.fail(c, err)
		return
	}
	recs, err := s.Store.ReadStream(c.Request.Context(), domain.ErasureStream(id), 0, domain.Forward, 16)
	if errors.Is(err, domain.ErrStreamNotFound) {
		s.fail(c, domain.ErrNotFound)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	var e domain.Erasure
	var actorID string
	for i, r := range recs {
		ev, md, err := domain.Decode(r)
		if err != nil {
			s.fail(c, err)
			return
		}
		if i == 0 {
			actorID = md.Actor
		}
		e = domain.EvolveErasure(e, ev)
	}
	if !e.Exists || e.ApplicationID != c.Param("app") {
		s.fail(c, domain.ErrNotFound)
		return
	}
	out := erasureOut(e)
	out.Actor = actorID
	c.JSON(http.StatusOK, out)
}
