package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
)

const (
	defaultLimit = 50
	maxLimit     = 1000
)

// page is the shape of every listing.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func parseLimit(c *gin.Context) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, bad(CodeInvalidParameter, "limit", "limit must be an integer from 1 to 1000")
	}
	return n, nil
}

// A cursor is an opaque token holding a position (exclusive upper bound of
// the next page, newest first).
func encodeCursor(pos uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.FormatUint(pos, 10)))
}

func parseCursor(c *gin.Context) (uint64, bool, error) {
	v := c.Query("cursor")
	if v == "" {
		return 0, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err == nil && len(b) > 1 && b[0] == 'p' {
		if n, err := strconv.ParseUint(string(b[1:]), 10, 64); err == nil {
			return n, true, nil
		}
	}
	return 0, false, bad(CodeInvalidParameter, "cursor", "cursor is not one this server issued")
}

func parseTimeParam(c *gin.Context, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, bad(CodeInvalidParameter, name, name+" must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z")
	}
	return t, nil
}

func pathID(c *gin.Context, name string) (string, error) {
	id := c.Param(name)
	if err := domain.ValidateID(name, id); err != nil {
		return "", bad(CodeInvalidID, name, err.Error())
	}
	return id, nil
}

// settle waits until the views have folded pos, so that the client's next read
// sees its write. A slow fold is logged, not failed: the write is durable.
func (s *Server) settle(c *gin.Context, pos domain.Position) {
	if pos == 0 {
		return
	}
	if c.Request.Method != http.MethodGet {
		answerPosition(c, pos)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.WriteWait)
	defer cancel()
	if err := s.Views.WaitFor(ctx, pos); err != nil {
		s.log.Warn().Uint64("position", uint64(pos)).Msg("views did not reach a write in time; answering anyway")
	}
}

func trimmed(s string) string { return strings.TrimSpace(s) }

// listQuery is what a listing reads from its query string, parsed by one
// helper that reports every bad value at once (which parameters a route
// accepts at all is checkQuery's job).
type listQuery struct {
	limit        int
	cursor       uint64
	hasCursor    bool
	since, until time.Time
	eventTypes   domain.Filters // nil: every type
}

// parseListQuery reads limit, cursor, since, until and event_type; a route
// that does not take some of them has them refused by checkQuery first.
func parseListQuery(c *gin.Context) (listQuery, error) {
	var q listQuery
	var problems []*badInput
	note := func(err error) {
		var b *badInput
		if errors.As(err, &b) {
			problems = append(problems, b)
		}
	}
	var err error
	if q.limit, err = parseLimit(c); err != nil {
		note(err)
	}
	if q.cursor, q.hasCursor, err = parseCursor(c); err != nil {
		note(err)
	}
	if q.since, err = parseTimeParam(c, "since"); err != nil {
		note(err)
	}
	if q.until, err = parseTimeParam(c, "until"); err != nil {
		note(err)
	}
	if q.eventTypes, err = eventTypeFilter(c); err != nil {
		note(err)
	}
	if !q.since.IsZero() && !q.until.IsZero() && q.until.Before(q.since) {
		problems = append(problems, bad(CodeInvalidParameter, "until", "until is before since").(*badInput))
	}
	if len(problems) == 0 {
		return q, nil
	}
	details := make([]string, len(problems))
	for i, p := range problems {
		details[i] = p.detail
	}
	return q, bad(CodeInvalidParameter, problems[0].field, strings.Join(details, "; "))
}

// inRange reports whether t is within the query's since and until.
func (q listQuery) inRange(t time.Time) bool {
	return (q.since.IsZero() || !t.Before(q.since)) && (q.until.IsZero() || !t.After(q.until))
}

// scanBudget bounds the records one listing page examines: a filter that
// matches little answers a short (even empty) page with a next_cursor to
// continue from, rather than scan the whole history under one request.
const scanBudget = 5000

// timeSlack: listings run newest position first, and an event's own time is
// taken moments before it is appended, so a record older than a time bound
// by more than this means every further one is older too.
const timeSlack = time.Hour

// scan tracks one listing page: what was examined and where to resume.
type scan struct {
	budget  int
	seen    int
	last    domain.Position // of the last item taken
	full    bool            // the page is full: resume after the last item
	stopped domain.Position // the budget ran out at this record: resume before it
}

// next counts a record examined at pos and says whether to go on.
func (s *scan) next(pos domain.Position) bool {
	s.seen++
	if s.seen >= s.budget {
		s.stopped = pos
		return false
	}
	return true
}

// cursor is the page's next_cursor ("" when the listing is complete).
func (s *scan) cursor() string {
	switch {
	case s.full:
		return encodeCursor(uint64(s.last))
	case s.stopped > 0:
		return encodeCursor(uint64(s.stopped))
	}
	return ""
}
