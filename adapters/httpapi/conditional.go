package httpapi

// Conditional writes of a subscription, an application or an event type:
// its ETag is its revision (its stream's), and a change sent with If-Match
// is made only on the revision the client read, so that two clients editing
// one of them cannot overwrite each other's change unseen (a lost update).

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// etag is the entity tag of a subscription at revision rev. It names the
// subscription's configuration and state, which only its stream changes;
// the delivery figures an answer carries beside them (last_acknowledged_at,
// failing_since) move without it, which is why no route answers 304 to
// If-None-Match with it.
func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// setETag sets the ETag header of an answer about a subscription.
func setETag(c *gin.Context, rev uint64) { c.Header("ETag", etag(rev)) }

// ifMatch reads the If-Match header: the revisions the client made its
// change on. None (nil) when the header is absent or "*" (any current
// subscription: one that does not exist is answered 404 regardless). A
// weak tag never matches (RFC 9110 compares If-Match strongly), nor does
// a tag that is no revision; both are kept as a revision no stream
// reaches, so the change is refused with 412 rather than made
// unconditionally. A header that is not a list of entity tags is a 400.
func ifMatch(c *gin.Context) ([]uint64, error) {
	values := c.Request.Header.Values("If-Match")
	if len(values) == 0 {
		return nil, nil
	}
	var revs []uint64
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "" {
				continue
			}
			if tag == "*" {
				return nil, nil
			}
			weak := strings.HasPrefix(tag, "W/")
			opaque := strings.TrimPrefix(tag, "W/")
			if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' || strings.ContainsAny(opaque[1:len(opaque)-1], "\" ") {
				return nil, &badInput{status: http.StatusBadRequest, code: CodeInvalidHeader, field: "If-Match",
					detail: "If-Match must be \"*\" or entity tags as the ETag header gives them, e.g. If-Match: \"3\" (got " + strconv.Quote(cutUTF8(tag, 64)) + ")"}
			}
			rev, err := strconv.ParseUint(opaque[1:len(opaque)-1], 10, 64)
			if weak || err != nil {
				rev = noRevision
			}
			revs = append(revs, rev)
		}
	}
	if len(revs) == 0 {
		return nil, &badInput{status: http.StatusBadRequest, code: CodeInvalidHeader, field: "If-Match",
			detail: "If-Match is empty: give \"*\" or the ETag of the subscription as read"}
	}
	return revs, nil
}

// noRevision stands for an entity tag no subscription has.
const noRevision = ^uint64(0)
