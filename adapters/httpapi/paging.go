package httpapi

import (
	"context"
	"encoding/base64"
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
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.WriteWait)
	defer cancel()
	if err := s.Views.WaitFor(ctx, pos); err != nil {
		s.log.Warn().Uint64("position", uint64(pos)).Msg("views did not reach a write in time; answering anyway")
	}
}

func trimmed(s string) string { return strings.TrimSpace(s) }
