package httpapi

import (
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
	c.JSON(http.StatusCreated, applicationOut(a))
}

func (s *Server) listApplications(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var apps []domain.Application
	s.Views.Read(func(v *projections.Views) {
		for _, a := range v.Applications {
			apps = append(apps, a)
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
	a, out, err := s.Commands.RenameApplication(c.Request.Context(), c.Param("app"), cmd, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	c.JSON(http.StatusOK, applicationOut(a))
}
