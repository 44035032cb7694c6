package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
)

func (s *Server) ledgerEvents(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	from := uint64(0)
	if v := c.Query("from"); v != "" {
		if from, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.fail(c, bad(CodeInvalidParameter, "from", "from must be a ledger position (an unsigned integer)"))
			return
		}
	}
	if cur, ok, err := parseCursor(c); err != nil {
		s.fail(c, err)
		return
	} else if ok {
		from = cur
	}
	recs, err := s.Store.ReadAll(c.Request.Context(), domain.Position(from), limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := page[eventJSON]{Items: s.eventsOut(recs)}
	if len(recs) == limit {
		out.NextCursor = encodeCursor(uint64(recs[len(recs)-1].Position) + 1)
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) ledgerStream(c *gin.Context) {
	stream := c.Param("stream")
	if err := domain.ValidateStreamName(stream); err != nil {
		s.fail(c, bad(CodeInvalidID, "stream", err.Error()))
		return
	}
	limit, err := parseLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	dir := domain.Forward
	switch c.Query("direction") {
	case "", "forward":
	case "backward":
		dir = domain.Backward
	default:
		s.fail(c, bad(CodeInvalidParameter, "direction", "direction must be forward (oldest first, the default) or backward (newest first)"))
		return
	}
	from, hasCursor, err := parseCursor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if dir == domain.Backward && !hasCursor {
		from = domain.RevisionEnd
	}
	recs, err := s.Store.ReadStream(c.Request.Context(), stream, from, dir, limit)
	if errors.Is(err, domain.ErrStreamNotFound) {
		if named, ok := domain.EntityStream(stream); ok {
			// An entity's id, not its stream's name (`hookledger history`
			// takes either): say which name it has.
			kind, _, _ := strings.Cut(named, "-")
			if kind == "apikey" {
				kind = "API key"
			}
			s.fail(c, &badInput{status: http.StatusNotFound, code: CodeNotFound,
				detail: "no stream " + stream + ": the stream of " + kind + " " + stream + " is " + named})
			return
		}
		s.fail(c, domain.ErrNotFound)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	out := page[eventJSON]{Items: s.eventsOut(recs)}
	if len(recs) == limit {
		// The cursor is the next page's first revision, whichever way it reads.
		if last := recs[len(recs)-1].Revision; dir == domain.Forward {
			out.NextCursor = encodeCursor(last + 1)
		} else if last > 0 {
			out.NextCursor = encodeCursor(last - 1)
		}
	}
	c.JSON(http.StatusOK, out)
}
