package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// A publish's answer written by hand is the one c.JSON writes, header and
// body, and an id that needs escaping goes to c.JSON.
func TestWritePublishedAnswersAsJSONDoes(t *testing.T) {
	for _, out := range []publishedOut{
		{ID: "msg_01m92z5xv3mp3p37mgmhbrrkav5", Position: 4},
		{ID: "msg_k.x-y", Position: 18446744073709551615, Duplicate: true},
		{ID: "", Position: 0},
		{ID: `a"b\c<d>&é` + "\x01", Position: 7, Duplicate: true},
		{ID: "a&b"}, {ID: "a<b"}, {ID: "a>b"}, {ID: `a\b`}, {ID: `a"b`}, {ID: "a\tb"}, {ID: "é"}, {ID: "\u2028"},
	} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		cw, _ := gin.CreateTestContext(want)
		cw.JSON(202, out)
		cg, _ := gin.CreateTestContext(got)
		writePublished(cg, 202, out)
		if got.Code != want.Code || got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("%+v: got %d %q %q, c.JSON writes %d %q %q", out, got.Code, got.Header().Get("Content-Type"), got.Body, want.Code, want.Header().Get("Content-Type"), want.Body)
		}
	}
}
