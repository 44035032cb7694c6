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
	from, _, err := parseCursor(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	recs, err := s.Store.ReadStream(c.Request.Context(), stream, from, domain.Forward, limit)
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
		out.NextCursor = encodeCursor(recs[len(recs)-1].Revision + 1)
	}
	c.JSON(http.StatusOK, out)
}
