package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/erasure"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// Problem is an RFC 9457 problem document with hookledger's stable code.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Code     string `json:"code"`
	Detail   string `json:"detail,omitempty"`
	Field    string `json:"field,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// Stable problem codes (clients switch on these).
const (
	CodeInvalidJSON         = "invalid_json"
	CodeUnknownField        = "unknown_field"
	CodeInvalidType         = "invalid_type"
	CodeInvalidID           = "invalid_id"
	CodeInvalidParameter    = "invalid_parameter"
	CodeValidationFailed    = "validation_failed"
	CodeForbiddenTarget     = "forbidden_target"
	CodePayloadTooLarge     = "payload_too_large"
	CodeUnsupportedMedia    = "unsupported_media_type"
	CodeUnauthorized        = "unauthorized"
	CodeForbidden           = "forbidden"
	CodeNotFound            = "not_found"
	CodeRouteNotFound       = "route_not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeAlreadyExists       = "already_exists"
	CodeConflict            = "conflict"
	CodeIdempotencyConflict = "idempotency_conflict"
	CodeConcurrent          = "concurrent_modification"
	CodePreconditionFailed  = "precondition_failed"
	CodeInvalidHeader       = "invalid_header"
	CodeUnavailable         = "unavailable"
	CodeStoreUnavailable    = "store_unavailable"
	CodeLedgerUnreadable    = "ledger_unreadable"
	CodeLastAdmin           = "last_admin_key"
	CodeTooManyAuthFailures = "too_many_auth_failures"
	CodeIDUnavailable       = "id_unavailable"
	CodeNotErasable         = "not_erasable"
	CodeOverloaded          = "overloaded"
	CodeViewsBehind         = "views_behind"
	CodeInternal            = "internal"
)

var titles = map[string]string{
	CodeInvalidJSON: "Malformed JSON", CodeUnknownField: "Unknown field", CodeInvalidType: "Wrong type",
	CodeInvalidID: "Invalid id", CodeInvalidParameter: "Invalid query parameter", CodeValidationFailed: "Validation failed",
	CodeForbiddenTarget: "Forbidden webhook target", CodePayloadTooLarge: "Payload too large",
	CodeUnsupportedMedia: "Unsupported media type", CodeUnauthorized: "Unauthorized", CodeForbidden: "Forbidden",
	CodeNotFound: "Not found", CodeRouteNotFound: "No such route", CodeMethodNotAllowed: "Method not allowed",
	CodeAlreadyExists: "Already exists", CodeConflict: "Conflict", CodeIdempotencyConflict: "Idempotency key reused",
	CodeConcurrent: "Concurrent modification", CodePreconditionFailed: "Precondition failed", CodeInvalidHeader: "Invalid header", CodeUnavailable: "Unavailable", CodeStoreUnavailable: "Store unavailable", CodeLedgerUnreadable: "Ledger unreadable", CodeLastAdmin: "Last admin key", CodeTooManyAuthFailures: "Too many failed authentications", CodeIDUnavailable: "Id unavailable", CodeNotErasable: "Not erasable", CodeOverloaded: "Overloaded", CodeViewsBehind: "Views behind", CodeInternal: "Internal error",
}

// writeProblem answers with a problem document and aborts the chain.
func writeProblem(c *gin.Context, status int, code, detail, field string) {
	p := Problem{Type: "https://hookledger.dev/problems/" + code, Title: titles[code], Status: status, Code: code,
		Detail: detail, Field: field, Instance: c.Request.URL.Path}
	b, _ := json.Marshal(p)
	c.Header("Content-Type", "application/problem+json")
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="hookledger"`)
	}
	c.Data(status, "application/problem+json", b)
	c.Abort()
}

// fail maps an error to its problem: the one place where domain and adapter
// errors become HTTP statuses and codes.
func (s *Server) fail(c *gin.Context, err error) {
	var ve *domain.ValidationError
	var ice *domain.IdempotencyConflictError
	var blocked *sender.BlockedError
	var be *badInput
	var ne *erasure.NotErasableError
	var pe *domain.PreconditionError
	switch {
	case errors.As(err, &ne):
		field := "message_ids"
		if ne.Subject != "" {
			field = "subject"
		}
		writeProblem(c, http.StatusUnprocessableEntity, CodeNotErasable, ne.Error(), field)
	case errors.As(err, &be):
		writeProblem(c, be.status, be.code, be.detail, be.field)
	case errors.As(err, &blocked):
		writeProblem(c, http.StatusUnprocessableEntity, CodeForbiddenTarget, blocked.Error(), "url")
	case errors.As(err, &ve):
		writeProblem(c, http.StatusUnprocessableEntity, CodeValidationFailed, ve.Error(), ve.Field)
	case errors.Is(err, domain.ErrEventTooLarge):
		writeProblem(c, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, err.Error(), "")
	case errors.Is(err, domain.ErrNotFound):
		detail := err.Error()
		if err == domain.ErrNotFound {
			if detail = s.deletedDetail(c.Params); detail == "" {
				detail = notFoundDetail(c.Params)
			}
		}
		writeProblem(c, http.StatusNotFound, CodeNotFound, detail, "")
	case errors.Is(err, domain.ErrAlreadyExists):
		writeProblem(c, http.StatusConflict, CodeAlreadyExists, err.Error(), "")
	case errors.As(err, &ice):
		writeProblem(c, http.StatusConflict, CodeIdempotencyConflict, ice.Error(), "idempotency_key")
	case errors.Is(err, domain.ErrConflict):
		writeProblem(c, http.StatusConflict, CodeConflict, err.Error(), "")
	case errors.As(err, &pe):
		// The ETag of what the subscription is now, so that a client can
		// tell its read is stale without reading again to learn the tag.
		setETag(c, pe.Revision)
		writeProblem(c, http.StatusPreconditionFailed, CodePreconditionFailed, pe.Error(), "If-Match")
	case errors.Is(err, domain.ErrWrongRevision):
		writeProblem(c, http.StatusConflict, CodeConcurrent, "the resource changed concurrently; retry", "")
	case errors.Is(err, domain.ErrInvalidArgument):
		writeProblem(c, http.StatusUnprocessableEntity, CodeValidationFailed, err.Error(), "")
	case errors.Is(err, domain.ErrClosed):
		writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, "the ledger is shutting down", "")
	case errors.Is(err, domain.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn().Err(err).Str("path", c.Request.URL.Path).Msg("store unavailable")
		c.Header("Retry-After", "1")
		detail := "the event store is unavailable; retry shortly"
		if errors.Is(err, syscall.ENOSPC) {
			c.Header("Retry-After", "30")
			detail = "the ledger's disk is full; nothing was written; retry after the operator frees space"
		}
		writeProblem(c, http.StatusServiceUnavailable, CodeStoreUnavailable, detail, "")
	case errors.Is(err, domain.ErrCorrupt):
		s.log.Error().Err(err).Str("path", c.Request.URL.Path).Msg("the ledger is damaged: a record could not be read")
		writeProblem(c, http.StatusInternalServerError, CodeLedgerUnreadable, err.Error(), "")
	default:
		s.log.Error().Err(err).Str("path", c.Request.URL.Path).Msg("request failed")
		writeProblem(c, http.StatusInternalServerError, CodeInternal, "internal error; see the server log", "")
	}
}

// badInput is a request error found by the HTTP layer itself.
type badInput struct {
	status              int
	code, detail, field string
}

func (b *badInput) Error() string { return b.detail }

func bad(code, field, detail string) error {
	status := http.StatusBadRequest
	switch code {
	case CodePayloadTooLarge:
		status = http.StatusRequestEntityTooLarge
	case CodeUnsupportedMedia:
		status = http.StatusUnsupportedMediaType
	case CodeValidationFailed:
		status = http.StatusUnprocessableEntity
	}
	return &badInput{status: status, code: code, detail: detail, field: field}
}

// notFound is a 404 whose detail names what was not found, for a resource
// a query parameter or the body names (the path's are named by
// notFoundDetail).
func notFound(field, detail string) error {
	return &badInput{status: http.StatusNotFound, code: CodeNotFound, detail: detail, field: field}
}

// deletedDetail says, for a path naming a subscription of its application
// that was deleted, that it was, and where its history is ("": the path
// names no such subscription). A deleted subscription is not one that never
// existed, and an audit-first ledger keeps what it was.
func (s *Server) deletedDetail(ps gin.Params) string {
	app, sub := ps.ByName("app"), ps.ByName("sub")
	if app == "" || sub == "" || ps[len(ps)-1].Key != "sub" {
		return ""
	}
	deleted := false
	s.Views.Read(func(v *projections.Views) {
		p := v.Subscriptions[sub]
		deleted = p != nil && p.ApplicationID == app && p.Status == domain.StatusDeleted
	})
	if !deleted {
		return ""
	}
	return "subscription " + sub + " was deleted; its history stays in the ledger: GET /v1/ledger/streams/" + domain.SubscriptionStream(sub) +
		", or GET /v1/applications/" + app + "/subscriptions/" + sub + "?as_of= a time or position before the deletion"
}

// resourceNouns names what each path parameter addresses.
var resourceNouns = map[string]string{
	"app": "application", "sub": "subscription", "msg": "message", "dlv": "delivery",
	"key": "API key", "erasure": "erasure", "name": "event type", "stream": "stream",
}

// notFoundDetail says which resource of the path was not found: the last one
// it names (its application too, when it names one), rather than the bare
// sentinel's "not found".
func notFoundDetail(ps gin.Params) string {
	if len(ps) == 0 {
		return "not found"
	}
	last := ps[len(ps)-1]
	noun, ok := resourceNouns[last.Key]
	if !ok {
		return "not found"
	}
	detail := "no " + noun + " " + last.Value
	if len(ps) > 1 && ps[0].Key == "app" {
		detail += " in application " + ps[0].Value
	}
	return detail
}
