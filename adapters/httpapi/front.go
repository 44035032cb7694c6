package httpapi

// What happens to a request before the router sees it: HEAD served as GET,
// and the reads compressed.

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// ServeHTTP implements http.Handler. A HEAD request is served as the GET
// of its route, as HTTP requires of every GET resource (RFC 9110, 9.3.2):
// uptime monitors and load balancers probe with it. The router sees a GET
// on a shallow copy of the request; net/http, holding the original, sends
// the GET's status and header and drops its body.
//
// The reads under /v1 are compressed (gzip or zstd, as the client's
// Accept-Encoding allows, 1 KiB and larger): an export or a page of
// deliveries is JSON that shrinks several times, and an audit export can
// be the whole ledger. The writes are not wrapped: their answers are small,
// and a publish is the path every message takes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		r = r.WithContext(context.WithValue(r.Context(), headRequest{}, true))
		r.Method = http.MethodGet
	}
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/") {
		s.compressed.ServeHTTP(w, r)
		return
	}
	s.engine.ServeHTTP(w, r)
}

// headRequest marks, in a request's context, a HEAD served as a GET.
type headRequest struct{}

// method is the request's method as the client sent it (HEAD, not the GET
// it is served as), for logs, metrics and answers.
func method(c *gin.Context) string {
	if head, _ := c.Request.Context().Value(headRequest{}).(bool); head {
		return http.MethodHead
	}
	return c.Request.Method
}
