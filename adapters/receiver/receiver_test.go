package receiver_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookledger/hookledger/adapters/receiver"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func send(t *testing.T, h http.Handler, endpoint, msgID string, body []byte) int {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(msgID, now, body)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/"+endpoint, bytes.NewReader(body))
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// leadingN reads the benchmark's {"n":N,...} payloads.
func leadingN(b []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"n":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}

// The three ways of counting distinct deliveries agree: by pair, by hash
// (Compact) and by sequence bit (SeqOf, with a fallback for bodies without
// one); duplicates count in Total only, per endpoint.
func TestDistinctDeliveriesAreCountedAlikeInEveryMode(t *testing.T) {
	for _, mode := range []string{"pairs", "compact", "seq"} {
		t.Run(mode, func(t *testing.T) {
			r := receiver.New()
			r.Compact = mode == "compact"
			if mode == "seq" {
				r.SeqOf = leadingN
			}
			for _, ep := range []string{"a", "b"} {
				if err := r.Add(ep, secret); err != nil {
					t.Fatal(err)
				}
			}
			sends := []struct {
				ep, id, body string
			}{
				{"a", "msg_0", `{"n":0}`},
				{"a", "msg_1", `{"n":1,"x":1}`},
				{"a", "msg_1", `{"n":1,"x":1}`}, // a retry
				{"b", "msg_1", `{"n":1,"x":1}`}, // another endpoint
				{"a", "msg_200", `{"n":200}`},   // grows the bitset
				{"a", "msg_free", `{"free":true}`},
				{"a", "msg_free", `{"free":true}`},
			}
			for _, s := range sends {
				if code := send(t, r, s.ep, s.id, []byte(s.body)); code != http.StatusOK {
					t.Fatalf("%+v: status %d", s, code)
				}
			}
			if got := r.Unique(); got != 5 {
				t.Errorf("Unique() = %d, want 5", got)
			}
			if got := r.Total(); got != int64(len(sends)) {
				t.Errorf("Total() = %d, want %d", got, len(sends))
			}
		})
	}
}

// A body is read whole whether or not its length is declared, and a body
// shorter than it declares is refused, not verified.
func TestBodiesAreReadWholeWithOrWithoutALength(t *testing.T) {
	r := receiver.New()
	if err := r.Add("ep", secret); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	r.OnReceipt = func(rc receiver.Receipt) { got = append(got, rc.Body) }
	body := bytes.Repeat([]byte(`{"k":"0123456789"}`), 100)[:1700]
	body = append(body[:1699], '}')
	// Past 64 KiB the declared length is not allocated up front.
	large := append(append([]byte(`{"k":"`), bytes.Repeat([]byte("x"), 100<<10)...), `"}`...)
	wh, _ := standardwebhooks.NewWebhook(secret)
	now := time.Now()
	for _, c := range []struct {
		name   string
		length int64 // -1: unknown (chunked)
		body   []byte
		send   []byte
		code   int
	}{
		{"declared", int64(len(body)), body, body, http.StatusOK},
		{"chunked", -1, body, body, http.StatusOK},
		{"shorter than declared", int64(len(body)), body, body[:1000], http.StatusBadRequest},
		{"large, declared", int64(len(large)), large, large, http.StatusOK},
	} {
		got = nil
		sig, _ := wh.Sign("msg_1", now, c.body)
		req := httptest.NewRequest(http.MethodPost, "/ep", bytes.NewReader(c.send))
		req.ContentLength = c.length
		req.Header.Set("webhook-id", "msg_1")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, rec.Code, rec.Body, c.code)
			continue
		}
		if c.code == http.StatusOK && (len(got) != 1 || !bytes.Equal(got[0], c.body)) {
			t.Errorf("%s: received %d bodies (%d bytes), want the one sent", c.name, len(got), len(bytes.Join(got, nil)))
		}
	}
}
