package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

// The event-type catalog: names, descriptions, optional JSON Schemas the
// payloads must satisfy, and a deprecated flag, kept as ledger events. An
// application with strict_event_types publishes only catalog types.
// Schemas are compiled with github.com/santhosh-tekuri/jsonschema/v6 and
// cached by their bytes. A schema may refer to itself and to the JSON Schema
// metaschemas (built into the library) only: no $ref is loaded from a file
// or the network (noLoader).

type eventTypeIn struct {
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Deprecated  *bool           `json:"deprecated"`
}

type eventTypeJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Deprecated  bool            `json:"deprecated"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Revision    uint64          `json:"revision"`
}

func eventTypeOut(d domain.EventTypeDef) eventTypeJSON {
	return eventTypeJSON{Name: d.Name, Description: d.Description, Schema: d.Schema, Deprecated: d.Deprecated, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		Revision: d.Revision()}
}

func (s *Server) createEventType(c *gin.Context) {
	var in eventTypeIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	s.defineEventType(c, in.Name, in, nil, true, http.StatusCreated)
}

func (s *Server) updateEventType(c *gin.Context) {
	revs, err := ifMatch(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var in eventTypeIn
	if err := decodeJSON(c, smallBody, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.Name != "" && in.Name != c.Param("name") {
		s.fail(c, bad(CodeValidationFailed, "name", "an event type cannot be renamed: define the new name"))
		return
	}
	s.defineEventType(c, c.Param("name"), in, revs, false, http.StatusOK)
}

// defineEventType creates or changes a catalog entry; a change only on one
// of revs (If-Match) when given.
func (s *Server) defineEventType(c *gin.Context, name string, in eventTypeIn, revs []uint64, create bool, status int) {
	if in.Schema != nil && string(bytes.TrimSpace(in.Schema)) != "null" {
		if _, err := s.schemas.compile(in.Schema); err != nil {
			s.fail(c, bad(CodeValidationFailed, "schema", "not a usable JSON Schema: "+err.Error()))
			return
		}
	}
	d, out, err := s.Commands.DefineEventTypeIf(c.Request.Context(), domain.DefineEventType{
		Name: name, Create: create, Description: in.Description, Schema: in.Schema, Deprecated: in.Deprecated}, revs, actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.settle(c, out.Result.Position)
	if status == http.StatusCreated {
		setLocation(c, "/v1/event-types/"+d.Name)
	}
	setETag(c, d.Revision())
	c.JSON(status, eventTypeOut(d))
}

func (s *Server) listEventTypes(c *gin.Context) {
	var out []eventTypeJSON
	s.Views.Read(func(v *projections.Views) {
		for _, d := range v.EventTypes {
			out = append(out, eventTypeOut(d))
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []eventTypeJSON{}
	}
	c.JSON(http.StatusOK, page[eventTypeJSON]{Items: out})
}

func (s *Server) getEventType(c *gin.Context) {
	var d domain.EventTypeDef
	var ok bool
	s.Views.Read(func(v *projections.Views) { d, ok = v.EventTypes[c.Param("name")] })
	if !ok {
		s.fail(c, domain.ErrNotFound)
		return
	}
	setETag(c, d.Revision())
	c.JSON(http.StatusOK, eventTypeOut(d))
}

// checkCatalog applies the catalog to a publish: a strict application may
// publish only catalog types, and a payload must satisfy its type's schema.
// It answers whether the type is deprecated (a warning for the client).
func (s *Server) checkCatalog(app, eventType string, payload []byte) (deprecated bool, err error) {
	var def domain.EventTypeDef
	var known, strict bool
	s.Views.Read(func(v *projections.Views) {
		def, known = v.EventTypes[eventType]
		strict = v.Applications[app].StrictEventTypes
	})
	if !known {
		if strict {
			return false, bad(CodeValidationFailed, "event_type", "event type "+eventType+" is not in the catalog, and this application publishes catalog types only (GET /v1/event-types)")
		}
		return false, nil
	}
	if len(def.Schema) == 0 {
		return def.Deprecated, nil
	}
	sch, err := s.schemas.compile(def.Schema)
	if err != nil {
		return false, nil // defined before this check existed; never blocks a publish
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return false, bad(CodeInvalidJSON, "payload", err.Error())
	}
	if err := sch.Validate(inst); err != nil {
		path, why := schemaFailure(err)
		return false, bad(CodeValidationFailed, "payload"+path, "the payload does not satisfy the schema of "+eventType+" at "+orRoot(path)+": "+why)
	}
	return def.Deprecated, nil
}

// schemaFailure is the JSON pointer and message of the deepest first cause.
func schemaFailure(err error) (string, string) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "", err.Error()
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	path := ""
	for _, p := range ve.InstanceLocation {
		path += "/" + p
	}
	msg := ve.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && !strings.Contains(msg[i:], "jsonschema") {
		msg = msg[i+2:]
	}
	return path, quoteShort(msg)
}

// quoteShort cuts each single-quoted span of a validation message (how the
// library quotes a failing value) past maxQuoted bytes to its start and its
// length, and the whole message past maxDetail: a payload's string of 200
// KB against a pattern was echoed whole.
func quoteShort(msg string) string {
	const maxQuoted, maxDetail = 64, 1024
	var b strings.Builder
	for {
		i := strings.IndexByte(msg, '\'')
		if i < 0 {
			break
		}
		j := strings.IndexByte(msg[i+1:], '\'')
		if j < 0 {
			break
		}
		j += i + 1
		b.WriteString(msg[:i+1])
		if v := msg[i+1 : j]; len(v) > maxQuoted {
			fmt.Fprintf(&b, "%s… (%d bytes)", cutUTF8(v, maxQuoted), len(v))
		} else {
			b.WriteString(v)
		}
		b.WriteByte('\'')
		msg = msg[j+1:]
	}
	b.WriteString(msg)
	out := b.String()
	if len(out) > maxDetail {
		out = cutUTF8(out, maxDetail) + "…"
	}
	return out
}

// cutUTF8 is s cut to at most n bytes, at a character's start.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// noLoader loads nothing. The library's default loader reads file:// URLs:
// a schema could then read the server's files (an error message showed
// their first bytes), and whether a payload is valid would depend on the
// disk of the node that checks it, not on the ledger.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, errors.New("a schema may refer only to itself and the JSON Schema metaschemas: no file or remote $ref is loaded")
}

// schemaCache compiles each distinct schema once.
type schemaCache struct {
	mu sync.Mutex
	m  map[string]*jsonschema.Schema
}

func (c *schemaCache) compile(raw []byte) (*jsonschema.Schema, error) {
	key := string(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if sch, ok := c.m[key]; ok {
		return sch, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	comp := jsonschema.NewCompiler()
	comp.UseLoader(noLoader{})
	if err := comp.AddResource("hookledger:event-type.json", doc); err != nil {
		return nil, err
	}
	sch, err := comp.Compile("hookledger:event-type.json")
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) > 1024 {
		c.m = map[string]*jsonschema.Schema{}
	}
	c.m[key] = sch
	return sch, nil
}
