package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type createApplicationIn struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	StrictEventTypes     bool   `json:"strict_event_types"`
	PayloadRetentionDays int    `json:"payload_retention_days"`
}

func (s *Server) createApplication(c *gin.Context) {
	var in createApplicationIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.ID == "" {
		in.ID = ids.New(domain.PrefixApplication)
	}
	if err := refuseSystemApplication(in.ID); err != nil {
		s.fail(c, err)
		return
	}
	a, out, err := s.Commands.CreateApplication(c.Request.Context(), domain.CreateApplication{ApplicationID: in.ID, Name: in.Name,
		StrictEventTypes: in.StrictEventTypes, PayloadRetentionDays: in.PayloadRetentionDays}, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	setLocation(c, "/v1/applications/"+a.ID)
	setETag(c, a.Revision())
	c.JSON(http.StatusCreated, applicationOut(a))
}

func (s *Server) listApplications(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	// deleted=true lists the deleted applications instead (an auditor's
	// way to them: their history stays).
	var deleted bool
	switch c.Query("deleted") {
	case "", "false":
	case "true":
		deleted = true
	default:
		s.fail(c, bad(CodeInvalidParameter, "deleted", "deleted must be true (the deleted applications) or false (the others, the default)"))
		return
	}
	var apps []domain.Application
	s.Views.Read(func(v *projections.Views) {
		for _, a := range v.Applications {
			if a.Deleted() == deleted {
				apps = append(apps, a)
			}
		}
	})
	sort.Slice(apps, func(i, j int) bool { return apps[i].ID < apps[j].ID })
	after := c.Query("cursor")
	out := page[applicationJSON]{Items: []applicationJSON{}}
	for _, a := range apps {
		if after != "" && a.ID <= after {
			continue
		}
		if len(out.Items) == limit {
			out.NextCursor = out.Items[len(out.Items)-1].ID
			break
		}
		out.Items = append(out.Items, applicationOut(a))
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getApplication(c *gin.Context) {
	var a domain.Application
	s.Views.Read(func(v *projections.Views) { a = v.Applications[c.Param("app")] })
	setETag(c, a.Revision())
	c.JSON(http.StatusOK, applicationOut(a))
}

type renameApplicationIn struct {
	Name                 *string `json:"name"`
	StrictEventTypes     *bool   `json:"strict_event_types"`
	PayloadRetentionDays *int    `json:"payload_retention_days"`
}

// renameApplication changes a tenant's name, its strict_event_types setting
// or its payload retention (application.updated).
func (s *Server) renameApplication(c *gin.Context) {
	revs, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in renameApplicationIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	cmd := domain.RenameApplication{StrictEventTypes: in.StrictEventTypes, PayloadRetentionDays: in.PayloadRetentionDays}
	if in.Name != nil {
		if cmd.Name = trimmed(*in.Name); cmd.Name == "" {
			s.fail(c, bad(CodeValidationFailed, "name", "a name is required"))
			return
		}
	}
	a, out, err := s.Commands.ChangeApplicationIf(c.Request.Context(), c.Param("app"), revs, cmd, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	setETag(c, a.Revision())
	c.JSON(http.StatusOK, applicationOut(a))
}

// deleteApplication offboards a tenant: the deletion is recorded first (so
// that nothing is published or subscribed to it from then on), then each of
// its subscriptions is deleted (their pending deliveries cancelled) and
// each of its keys revoked, each in its own stream. Run again, it records
// nothing new and finishes what a run cut short left.
func (s *Server) deleteApplication(c *gin.Context) {
	app := c.Param("app")
	if app == domain.SystemApplicationID {
		s.fail(c, &badInput{status: http.StatusConflict, code: CodeConflict,
			detail: domain.SystemApplicationID + " is hookledger's own application (operational events): it cannot be deleted; delete its subscriptions instead"})
		return
	}
	revs, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	reason, ok := s.optionalReason(c)
	if !ok {
		return
	}
	ctx, md := c.Request.Context(), actor(c)
	_, out, err := s.Commands.ChangeApplicationIf(ctx, app, revs, domain.DeleteApplication{Reason: reason}, md)
	if err != nil {
		s.fail(c, err)
		return
	}
	last := out.Result.Position
	// The sweep reads the views: first let them fold everything the ledger
	// holds, so that a subscription created just before is not missed.
	head, err := s.Store.Head(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, s.WriteWait)
	defer cancel()
	if err := s.Views.WaitFor(wctx, head); err != nil {
		s.fail(c, fmt.Errorf("%w: the application is deleted, but the views are behind the ledger; delete it again to delete its subscriptions and revoke its keys", domain.ErrUnavailable))
		return
	}
	var subs, keys []string
	s.Views.Read(func(v *projections.Views) {
		for id, sv := range v.Subscriptions {
			if sv.ApplicationID == app && sv.Status != domain.StatusDeleted {
				subs = append(subs, id)
			}
		}
		for id, k := range v.Keys {
			if k.ApplicationID == app && !k.Revoked {
				keys = append(keys, id)
			}
		}
	})
	sort.Strings(subs)
	sort.Strings(keys)
	why := "the application was deleted"
	if reason != "" {
		why += ": " + reason
	}
	if len(why) > domain.MaxReasonLength {
		why = cutUTF8(why, domain.MaxReasonLength)
	}
	for _, id := range subs {
		_, o, err := s.Commands.ChangeSubscription(ctx, app, id, domain.DeleteSubscription{Reason: why}, md)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			s.fail(c, fmt.Errorf("the application is deleted, but deleting its subscription %s failed (delete the application again to finish): %w", id, err))
			return
		}
		last = max(last, o.Result.Position)
	}
	for _, id := range keys {
		_, o, err := s.Commands.RevokeAPIKey(ctx, id, md)
		if err != nil {
			s.fail(c, fmt.Errorf("the application is deleted, but revoking its key %s failed (delete the application again to finish): %w", id, err))
			return
		}
		last = max(last, o.Result.Position)
	}
	s.settle(c, last)
	c.Status(http.StatusNoContent)
}
