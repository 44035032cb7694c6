package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads a JSON object strictly: size-limited, unknown fields and
// trailing data refused, every error a precise problem.
func decodeJSON(c *gin.Context, limit int64, dst any) error {
	if err := checkJSONType(c); err != nil {
		return err
	}
	return decodeFrom(&limitWatch{r: http.MaxBytesReader(c.Writer, c.Request.Body, limit)}, limit, dst)
}

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
		return jsonError(err, limit)
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
type limitWatch struct {
	r   io.Reader
	hit bool
}

func (l *limitWatch) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		l.hit = true
	}
	return n, err
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
		field := typ.Field
		return bad(CodeInvalidType, field, fmt.Sprintf("field %q must be %s, not %s", field, typ.Type.String(), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bad(CodeUnknownField, name, fmt.Sprintf("unknown field %q", name))
	}
	return bad(CodeInvalidJSON, "", err.Error())
}
