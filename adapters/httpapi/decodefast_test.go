package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gin-gonic/gin"
)

// decodeBoth runs both decoders on one request body and fails unless they
// answer the same: the same values, or errors that are the same problem.
func decodeBoth(t *testing.T, body io.Reader, limit int64) (publishIn, error) {
	t.Helper()
	raw, _ := io.ReadAll(body)
	ctx := func() *gin.Context {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("POST", "/", bytes.NewReader(raw))
		c.Request.Header.Set("Content-Type", "application/json")
		return c
	}
	var slow, fast publishIn
	errSlow := decodeJSON(ctx(), limit, &slow)
	errFast := decodeJSONFast(ctx(), limit, &fast)
	if !reflect.DeepEqual(errSlow, errFast) {
		t.Fatalf("body %q: errors differ:\n generic %v\n fast    %v", raw, errSlow, errFast)
	}
	if errSlow == nil && !reflect.DeepEqual(slow, fast) {
		t.Fatalf("body %q: values differ:\n generic %+v\n fast    %+v", raw, slow, fast)
	}
	return fast, errFast
}

var publishBodies = []string{
	`{"event_type":"order.paid","payload":{"a":1}}`,
	` { "event_type" : "order.paid" , "payload" : { "a" : [1, 2.5e3, true, null, "x\u00e9\n"] } , "subject": "cus_1", "idempotency_key": "k1" } `,
	`{"payload":{"nested":{"deep":{"x":"y"}}},"event_type":"a.b"}`,
	`{"Event_Type":"a.b","payload":{}}`,                         // another case: encoding/json takes it
	`{"event_type":"a.b","event_type":"c.d","payload":{}}`,      // repeated: the last one wins
	"{\"event_type\":\"a.b\",\"payload\":{\"s\":\"\xff\xfe\"}}", // invalid UTF-8 in the body
	`{"event_type":"a\u0062.c","payload":{}}`,
	`{"event_type":"a.b","payload":null}`,
	`{"event_type":null,"payload":{}}`,
	`null`,
	`{}`,
	`{"event_type":"a.b","payload":{}} {}`,
	`{"event_type":"a.b","payload":{}}x`,
	`{"event_type":"a.b","payload":{},"priority":9}`,
	`{"event_type":["a"],"payload":{}}`,
	`{"event_type":7,"payload":{}}`,
	`{"event_type":"a.b","payload":{"a":}}`,
	`{"event_type":"a.b","payload":{"a":1}`,
	`{"event_type":`,
	`[1,2]`,
	`"x"`,
	``,
	`   `,
}

// TestTheFastDecoderAnswersAsTheGenericOne: every body, valid or not, gets
// the same values or the same problem from both.
func TestTheFastDecoderAnswersAsTheGenericOne(t *testing.T) {
	for _, b := range publishBodies {
		decodeBoth(t, strings.NewReader(b), 1<<20)
	}
	// At the limit, over it, and far over it.
	body := `{"event_type":"a.b","payload":{"x":"` + strings.Repeat("x", 100) + `"}}`
	for _, limit := range []int64{int64(len(body)), int64(len(body)) - 1, 10} {
		decodeBoth(t, strings.NewReader(body), limit)
	}
	decodeBoth(t, strings.NewReader(body+"   \n"), int64(len(body))+1) // trailing space beyond the limit
}

// The cases the fast path itself must get right, not only agree on.
func TestTheFastDecoderDecodes(t *testing.T) {
	in, err := decodeBoth(t, strings.NewReader(`{"event_type":"order.paid","payload":{"a":1},"subject":"cus_1","idempotency_key":"k"}`), 1<<20)
	if err != nil || in.EventType != "order.paid" || string(in.Payload) != `{"a":1}` || in.Subject != "cus_1" || in.IdempotencyKey != "k" {
		t.Fatalf("got %+v, %v", in, err)
	}
	if in, err = decodeBoth(t, strings.NewReader(`{"EVENT_TYPE":"x.y","payload":{}}`), 1<<20); err != nil || in.EventType != "x.y" {
		t.Fatalf("a name in another case: got %+v, %v", in, err)
	}
	var p *badInput
	if _, err = decodeBoth(t, strings.NewReader(`{"event_type":"a.b","payload":{"x":"`+strings.Repeat("x", 64)+`"}}`), 32); !errors.As(err, &p) || p.code != CodePayloadTooLarge {
		t.Fatalf("over the limit: got %v", err)
	}
}

// A body that fails while it is read (a client gone) gets the answer it
// always got, not what the bytes read so far would decode to.
func TestTheFastDecoderPassesOnReadErrors(t *testing.T) {
	answer := func(fn func(*gin.Context, int64, any) error, prefix string) (publishIn, error) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(prefix), iotest.ErrReader(errors.New("connection reset"))))
		var in publishIn
		return in, fn(c, 1<<20, &in)
	}
	for _, prefix := range []string{`{"event_type":"a.b","payload":{}}`, `{"event_type":"a.b","payload":{}`, `{"event_type":"a.b"`, ``} {
		slow, errSlow := answer(decodeJSON, prefix)
		fast, errFast := answer(decodeJSONFast, prefix)
		if !reflect.DeepEqual(errSlow, errFast) || !reflect.DeepEqual(slow, fast) {
			t.Errorf("%q then a read error: generic %+v %v, fast %+v %v", prefix, slow, errSlow, fast, errFast)
		}
	}
	var p *badInput
	if _, err := answer(decodeJSONFast, `{"event_type":"a.b","payload":{}`); !errors.As(err, &p) || p.status != http.StatusBadRequest || p.code != CodeInvalidJSON {
		t.Errorf("an object cut short: got %v", err)
	}
}

func FuzzTheFastDecoderAnswersAsTheGenericOne(f *testing.F) {
	for _, b := range publishBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeBoth(t, bytes.NewReader(body), 4096)
	})
}

func BenchmarkDecodePublish(b *testing.B) {
	body := []byte(`{"event_type":"order.paid","payload":{"seq":12345,"pad":"` + strings.Repeat("x", 1000) + `"}}`)
	for _, d := range []struct {
		name string
		fn   func(*gin.Context, int64, any) error
	}{{"generic", decodeJSON}, {"fast", decodeJSONFast}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			w := httptest.NewRecorder()
			for b.Loop() {
				c, _ := gin.CreateTestContext(w)
				c.Request = httptest.NewRequest("POST", "/", bytes.NewReader(body))
				var in publishIn
				if err := d.fn(c, 1<<20, &in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The body's buffer goes back to a pool and serves the next publish: what
// was decoded from it must not share its bytes.
func TestTheFastDecoderKeepsNothingOfTheBuffer(t *testing.T) {
	body := []byte(`{"event_type":"a.b","payload":{"x":1},"subject":"cus_1"}`)
	var in publishIn
	if err := decodeStrict(body, &in); err != nil {
		t.Skipf("no strict decoder in this build: %v", err)
	}
	for i := range body {
		body[i] = 'Z'
	}
	if in.EventType != "a.b" || string(in.Payload) != `{"x":1}` || in.Subject != "cus_1" {
		t.Fatalf("the decoded values changed with the buffer: %+v", in)
	}
}
