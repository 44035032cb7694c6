package httpapi

// A subscription's changes of state: pause, resume, delete and secret
// rotation, each one command through changeSubscription.

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
)

func (s *Server) changeSubscription(c *gin.Context, cmd any, status int, secret string) {
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	revs, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	_, out, err := s.Commands.ChangeSubscriptionIf(c.Request.Context(), c.Param("app"), id, revs, cmd, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	if status == http.StatusNoContent {
		setETag(c, out.Revision)
		c.Status(status)
		return
	}
	o, ok := s.currentSubscription(c, id)
	if !ok {
		return
	}
	o.showSecret(secret)
	setETag(c, o.Revision)
	c.JSON(status, o)
}

func (s *Server) deleteSubscription(c *gin.Context) {
	if reason, ok := s.optionalReason(c); ok {
		s.changeSubscription(c, domain.DeleteSubscription{Reason: reason}, http.StatusNoContent, "")
	}
}
func (s *Server) pauseSubscription(c *gin.Context) {
	if reason, ok := s.optionalReason(c); ok {
		s.changeSubscription(c, domain.PauseSubscription{Reason: reason}, http.StatusOK, "")
	}
}
func (s *Server) resumeSubscription(c *gin.Context) {
	if reason, ok := s.optionalReason(c); ok {
		s.changeSubscription(c, domain.ResumeSubscription{Reason: reason}, http.StatusOK, "")
	}
}

type reasonIn struct {
	Reason string `json:"reason"`
}

// optionalReason reads the body of pause, resume and delete: none, or an object
// with an optional reason the ledger keeps with the change. A body is
// decoded strictly, so that a misspelt field is refused rather than
// dropped from the record. false: the answer is written.
func (s *Server) optionalReason(c *gin.Context) (string, bool) {
	if c.Request.ContentLength == 0 {
		return "", true
	}
	var in reasonIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return "", false
	}
	return strings.TrimSpace(in.Reason), true
}

type rotateIn struct {
	Secret       string `json:"secret"`
	GraceSeconds *int64 `json:"grace_seconds"`
}

func (s *Server) rotateSecret(c *gin.Context) {
	var in rotateIn
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, smallBody, &in); err != nil {
			s.fail(c, err)
			return
		}
	}
	id, err := pathID(c, "sub")
	if err != nil {
		s.fail(c, err)
		return
	}
	scheme := domain.SigningHMAC
	if sv, ok := s.subscriptionView(c.Param("app"), id); ok {
		for _, k := range sv.Keys {
			if k.KeyID == sv.CurrentKeyID() {
				scheme = domain.SchemeOf(k.Secret)
			}
		}
	}
	// A rotation keeps the subscription's signing scheme.
	if err := newSigningSecret(&in.Secret, scheme); err != nil {
		s.fail(c, err)
		return
	}
	grace := 24 * time.Hour
	if in.GraceSeconds != nil {
		if *in.GraceSeconds < 0 || *in.GraceSeconds > int64(domain.MaxRotationGrace/time.Second) {
			s.fail(c, bad(CodeValidationFailed, "grace_seconds", "grace_seconds must be from 0 to 604800 (7 days)"))
			return
		}
		grace = time.Duration(*in.GraceSeconds) * time.Second
	}
	s.changeSubscription(c, domain.RotateSecret{NewSecret: in.Secret, Grace: grace}, http.StatusOK, in.Secret)
}
