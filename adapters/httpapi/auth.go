package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

type principal struct {
	keyID string
	role  string
	app   string
}

func who(c *gin.Context) principal { return c.MustGet("principal").(principal) }

// authenticate resolves the bearer key (stored hashed) to a principal.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if h == "" {
		writeProblem(c, http.StatusUnauthorized, CodeUnauthorized, "send Authorization: Bearer <api key>", "")
		return
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
		writeProblem(c, http.StatusUnauthorized, CodeUnauthorized, "the Authorization header must be \"Bearer <api key>\"", "")
		return
	}
	hash := domain.HashAPIKey(strings.TrimSpace(key))
	var p principal
	var expired time.Time
	found := false
	now := s.Commands.Now()
	s.Views.Read(func(v *projections.Views) {
		if k := v.KeyByHash(hash); k != nil && !k.Revoked {
			if k.Expired(now) {
				expired = k.ExpiresAt
				return
			}
			p, found = principal{keyID: k.ID, role: k.Role, app: k.ApplicationID}, true
		}
	})
	if !expired.IsZero() {
		// The caller holds the key: saying it expired tells them nothing
		// about anyone else's, and tells them what to do.
		writeProblem(c, http.StatusUnauthorized, CodeUnauthorized,
			"this API key expired at "+expired.UTC().Format(time.RFC3339)+": ask an admin for a new one", "")
		return
	}
	if !found && !s.Views.Ready() {
		// The keys are in the ledger: until the views have read it (the
		// store unreachable, or catching up after a start), "unknown key"
		// would be a lie that makes clients drop a good key.
		c.Header("Retry-After", "2")
		writeProblem(c, http.StatusServiceUnavailable, CodeStoreUnavailable,
			"the ledger is not read yet (store unreachable or views catching up): the key cannot be checked; retry shortly", "")
		return
	}
	if !found {
		writeProblem(c, http.StatusUnauthorized, CodeUnauthorized, "unknown or revoked API key", "")
		return
	}
	c.Set("principal", p)
}

func (s *Server) adminOnly(c *gin.Context) {
	if who(c).role != domain.RoleAdmin {
		writeProblem(c, http.StatusForbidden, CodeForbidden, "this route needs an admin key", "")
	}
}

// readAll lets admin and auditor keys through: routes that span applications.
func (s *Server) readAll(c *gin.Context) {
	if r := who(c).role; r != domain.RoleAdmin && r != domain.RoleAuditor {
		writeProblem(c, http.StatusForbidden, CodeForbidden, "this route needs an admin or auditor key", "")
	}
}

// canWrite refuses auditors: they read everything and change nothing.
func (s *Server) canWrite(c *gin.Context) {
	if who(c).role == domain.RoleAuditor {
		writeProblem(c, http.StatusForbidden, CodeForbidden, "auditor keys cannot change anything", "")
	}
}

// appScope checks the :app parameter and that an application key only sees
// its own application: another application's ids answer 404, not 403, so a
// key learns nothing about other tenants.
func (s *Server) appScope(c *gin.Context) {
	app := c.Param("app")
	if err := domain.ValidateID("app", app); err != nil {
		s.fail(c, bad(CodeInvalidID, "app", err.Error()))
		return
	}
	p := who(c)
	if p.role == domain.RoleApplication && p.app != app {
		writeProblem(c, http.StatusNotFound, CodeNotFound, "application "+app+" not found", "")
		return
	}
	var a domain.Application
	s.Views.Read(func(v *projections.Views) { a = v.Applications[app] })
	if !a.Exists {
		writeProblem(c, http.StatusNotFound, CodeNotFound, "application "+app+" not found", "")
		return
	}
	// A deleted application's history stays readable, and its payloads
	// erasable; nothing else is written to it.
	if a.Deleted() && c.Request.Method != http.MethodGet && c.FullPath() != "/v1/applications/:app/erasures" &&
		!(c.Request.Method == http.MethodDelete && c.FullPath() == "/v1/applications/:app") {
		writeProblem(c, http.StatusConflict, CodeConflict, "application "+app+" was deleted at "+a.DeletedAt.UTC().Format(time.RFC3339)+
			": its history can be read and its payloads erased; nothing else can be changed or published", "")
	}
}

// visible reports whether the principal may see an object of application app.
func visible(p principal, app string) bool {
	return p.role != domain.RoleApplication || p.app == app
}

// actor is the metadata of a change made through the API.
func actor(c *gin.Context) domain.Metadata {
	rid, _ := c.Get("request_id")
	s, _ := rid.(string)
	return domain.Metadata{Actor: who(c).keyID, CausationID: s}
}
