package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
)

// Operational subscriptions are ordinary subscriptions of the built-in
// system application (domain.SystemApplicationID), created by an admin; the
// application is registered on first use. Everything else (GET, PATCH,
// pause, rotate, deliveries) goes through the application routes with that
// id.

// systemApp routes a handler to the system application.
func systemApp(c *gin.Context) {
	c.Params = append(c.Params, gin.Param{Key: "app", Value: domain.SystemApplicationID})
}

func (s *Server) createOperationalSubscription(c *gin.Context) {
	_, _, err := s.Commands.CreateApplication(c.Request.Context(),
		domain.CreateApplication{ApplicationID: domain.SystemApplicationID, Name: "hookledger operational events"}, actor(c))
	if err != nil && !errors.Is(err, domain.ErrAlreadyExists) {
		s.fail(c, err)
		return
	}
	systemApp(c)
	s.createSubscription(c)
}

func (s *Server) listOperationalSubscriptions(c *gin.Context) {
	systemApp(c)
	s.listSubscriptions(c)
}

// refuseSystemApplication keeps the system application's id from tenants.
func refuseSystemApplication(id string) error {
	if id == domain.SystemApplicationID {
		return &badInput{status: http.StatusConflict, code: CodeIDUnavailable, field: "id",
			detail: domain.SystemApplicationID + " is hookledger's own application (operational events); subscribe with POST /v1/operational-subscriptions"}
	}
	return nil
}
