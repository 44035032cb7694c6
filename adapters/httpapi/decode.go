package httpapi

import (
	"compress/gzip"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads a JSON object strictly: size-limited, unknown fields and
// trailing data refused, every error a precise problem.
func decodeJSON(c *gin.Context, limit int64, dst any) error {
	if err := checkJSONBody(c, limit); err != nil {
		return err
	}
	return decodeFrom(&limitWatch{r: http.MaxBytesReader(c.Writer, c.Request.Body, limit)}, limit, dst)
}

// checkJSONBody refuses what can be refused before the body is read: a
// media type other than JSON, a declared length over limit. Refused unread,
// a body is never asked for (no 100 Continue), so the client gets the 413
// instead of a connection reset halfway through sending megabytes.
func checkJSONBody(c *gin.Context, limit int64) error {
	if err := checkJSONType(c); err != nil {
		return err
	}
	if c.Request.ContentLength > limit {
		return tooLarge(limit)
	}
	return decodeContent(c)
}

// decodeContent undoes a body's Content-Encoding: gzip is read through
// (the limit, applied after, bounds what it inflates to), identity is the
// body as it is, and any other coding is refused with 415 and the codings
// taken (RFC 9110, 15.5.16): read as if it were not encoded, a body sent
// with Content-Encoding: br was taken for JSON it was not meant as.
func decodeContent(c *gin.Context) error {
	coding := strings.ToLower(strings.TrimSpace(strings.Join(c.Request.Header.Values("Content-Encoding"), ",")))
	switch coding {
	case "", "identity":
		return nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(c.Request.Body)
		if err != nil {
			return bad(CodeInvalidJSON, "", "the body is sent with Content-Encoding: gzip but is not gzip data ("+err.Error()+")")
		}
		c.Request.Body = gzipBody{zr, c.Request.Body}
		c.Request.Header.Del("Content-Encoding")
		c.Request.ContentLength = -1
		return nil
	}
	c.Header("Accept-Encoding", "gzip")
	return bad(CodeUnsupportedMedia, "", "Content-Encoding "+strconv.Quote(cutUTF8(coding, 64))+" is not taken: send the body as it is, or gzip-compressed with Content-Encoding: gzip")
}

// gzipBody reads the inflated body and closes the request's own.
type gzipBody struct {
	*gzip.Reader
	raw io.Closer
}

func (g gzipBody) Close() error { return g.raw.Close() }

// Read says that a failure is the compressed body's (truncated, corrupt).
func (g gzipBody) Read(p []byte) (int, error) {
	n, err := g.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = &gzipError{err} // the limit is applied outside, on the inflated bytes
	}
	return n, err
}

// gzipError is a compressed body's failure to inflate.
type gzipError struct{ err error }

func (e *gzipError) Error() string {
	if errors.Is(e.err, io.ErrUnexpectedEOF) {
		return "the gzip-compressed body ends before its gzip stream does"
	}
	return "the gzip-compressed body does not inflate: " + e.err.Error()
}

func (e *gzipError) Unwrap() error { return e.err }

func checkJSONType(c *gin.Context) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return bad(CodeUnsupportedMedia, "", "send the body as application/json")
		}
	}
	return nil
}

func decodeFrom(body *limitWatch, limit int64, dst any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if body.hit {
			return tooLarge(limit)
		}
		if body.gzip != nil {
			// The compressed stream failed, not the JSON in it.
			return bad(CodeInvalidJSON, "", body.gzip.Error())
		}
		return jsonError(err, limit)
	}
	if body.first == 'n' {
		return nullBody()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if body.hit {
			return tooLarge(limit)
		}
		return bad(CodeInvalidJSON, "", "unexpected data after the JSON object")
	}
	return nil
}

// limitWatch notes that the body limit was hit. The JSON decoder may report
// the read error as a syntax error without wrapping it (encoding/json built
// on v2 does), so the limit is recognised here rather than in its error.
// It also keeps the body's first byte that is not white space: a body of
// null decodes into any struct without an error, and is refused after.
type limitWatch struct {
	r     io.Reader
	hit   bool
	first byte
	// gzip: the body's gzip stream failed (the decoder's error is then
	// about JSON cut short, not about why).
	gzip *gzipError
}

func (l *limitWatch) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.first == 0 {
		l.first = firstNonSpace(p[:n])
	}
	var mbe *http.MaxBytesError
	var ge *gzipError
	if errors.As(err, &mbe) {
		l.hit = true
	} else if errors.As(err, &ge) {
		l.gzip = ge
	}
	return n, err
}

// firstNonSpace is b's first byte that is not JSON white space (0: none).
func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return c
		}
	}
	return 0
}

// nullBody: every body is an object, and null is not one.
func nullBody() error {
	return bad(CodeInvalidType, "", "the request body must be a JSON object, not null")
}

func tooLarge(limit int64) error {
	return bad(CodePayloadTooLarge, "", fmt.Sprintf("the request body is over %d bytes", limit))
}

func jsonError(err error, limit int64) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, io.EOF):
		return bad(CodeInvalidJSON, "", "the request body is empty; send a JSON object")
	case errors.As(err, &syn):
		return bad(CodeInvalidJSON, "", fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, err))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad(CodeInvalidJSON, "", "the JSON body ends too early")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return bad(CodeInvalidType, "", "the request body must be a JSON object, not "+jsonValueName(typ.Value))
		}
		return bad(CodeInvalidType, typ.Field, fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonTypeName(typ.Type), jsonValueName(typ.Value)))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bad(CodeUnknownField, name, fmt.Sprintf("unknown field %q", name))
	}
	return bad(CodeInvalidJSON, "", err.Error())
}

// jsonTypeName says in JSON's words what a field of type t takes ("an
// array of strings", not "[]string"): the client never saw our Go types.
func jsonTypeName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a JSON value"
	}
	switch t {
	case reflect.TypeFor[time.Time]():
		return "a time (RFC 3339)"
	case reflect.TypeFor[json.RawMessage]():
		return "a JSON value"
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) && t.Kind() != reflect.String {
		return "a string" // decoded from its text, whatever its Go kind
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array of " + plural(jsonTypeName(t.Elem()))
	case reflect.Map:
		return "an object of " + plural(jsonTypeName(t.Elem()))
	case reflect.Struct:
		return "an object"
	}
	return "a JSON value"
}

// plural turns "a string" into "strings", "an array of x" into "arrays of x".
func plural(name string) string {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "a "), "an ")
	switch {
	case name == "true or false":
		return "booleans"
	case strings.HasPrefix(name, "time "):
		return "times (RFC 3339)"
	}
	head, rest, _ := strings.Cut(name, " ")
	if rest != "" {
		return head + "s " + rest
	}
	return head + "s"
}

// jsonValueName names the kind of value a client sent ("an array").
func jsonValueName(v string) string {
	switch v {
	case "array", "object", "integer":
		return "an " + v
	case "string", "number":
		return "a " + v
	case "bool", "boolean", "true", "false":
		return "true or false"
	}
	return v
}
