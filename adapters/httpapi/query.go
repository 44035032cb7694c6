package httpapi

import (
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
)

// queryParams lists, per route, the query parameters it reads. Every other
// parameter is refused with 400 invalid_parameter naming it, so a filter the
// server does not implement can never be silently ignored (answering
// unfiltered data as if it were filtered). A route missing here takes none.
var queryParams = map[string][]string{
	"GET /v1/keys":                                       {"limit", "cursor"},
	"GET /v1/me":                                         nil,
	"GET /v1/applications":                               {"limit", "cursor", "deleted"},
	"GET /v1/operational-subscriptions":                  {"limit", "cursor", "status"},
	"GET /v1/applications/:app/subscriptions":            {"limit", "cursor", "status", "as_of"},
	"GET /v1/applications/:app/subscriptions/:sub":       {"as_of"},
	"GET /v1/applications/:app/subscriptions/:sub/stats": {"window"},
	"GET /v1/applications/:app/messages":                 {"limit", "cursor", "since", "until", "event_type"},
	"GET /v1/applications/:app/messages/:msg/explain":    {"subscription_id"},
	"GET /v1/applications/:app/deliveries":               {"limit", "cursor", "since", "until", "status", "subscription_id", "message_id", "event_type"},
	"GET /v1/audit/verify":                               {"from", "to", "erasures"},
	"GET /v1/audit/export":                               {"application", "subscription", "subject", "from", "to", "since", "until"},
	"GET /v1/ledger/events":                              {"limit", "cursor", "from"},
	"GET /v1/ledger/streams/:stream":                     {"limit", "cursor", "direction"},
}

// checkQuery refuses query parameters the route does not read, naming every
// one of them, and a parameter given more than once: only the first would be
// read, so status=failed&status=exhausted would answer the failed ones as if
// they were all.
func (s *Server) checkQuery(c *gin.Context) {
	q := c.Request.URL.Query()
	if len(q) == 0 {
		return
	}
	allowed := queryParams[c.Request.Method+" "+c.FullPath()]
	var unknown []string
	for name := range q {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		var twice []string
		for name, values := range q {
			if len(values) > 1 {
				twice = append(twice, name)
			}
		}
		if len(twice) > 0 {
			sort.Strings(twice)
			s.fail(c, bad(CodeInvalidParameter, twice[0], "query parameter "+twice[0]+" given "+strconv.Itoa(len(q[twice[0]]))+" times: give each parameter once"))
		}
		return
	}
	sort.Strings(unknown)
	detail := "unknown query parameter " + strings.Join(unknown, ", ") + ": this route takes "
	if len(allowed) == 0 {
		detail += "none"
	} else {
		detail += strings.Join(allowed, ", ")
	}
	s.fail(c, bad(CodeInvalidParameter, unknown[0], detail))
}

// eventTypeFilter parses an event_type parameter: an exact type or a pattern
// as subscriptions use them ("invoice.*", "*").
func eventTypeFilter(c *gin.Context) (domain.Filters, error) {
	v := c.Query("event_type")
	if v == "" {
		return nil, nil
	}
	f := domain.Filters{v}
	if err := f.Validate(); err != nil {
		return nil, bad(CodeInvalidParameter, "event_type", "event_type must be an event type or a pattern such as invoice.*: "+err.Error())
	}
	return f, nil
}

// matches reports whether eventType passes the filter (nil passes all).
func matches(f domain.Filters, eventType string) bool {
	if f == nil {
		return true
	}
	_, ok := f.Match(eventType)
	return ok
}
