package receiver_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
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

// TestEd25519SubscriptionsVerifyWithTheirPublicKey: an endpoint given an
// ed25519 subscription's whpk_ public key accepts its v1a signatures and
// refuses a changed body, another key's signature, a stale timestamp and v1
// signatures; its whsk_ private key, or a malformed key, is refused up front.
func TestEd25519SubscriptionsVerifyWithTheirPublicKey(t *testing.T) {
	private, public := domain.NewSigningKeyPair(bytes.Repeat([]byte{7}, 32))
	otherPrivate, _ := domain.NewSigningKeyPair(bytes.Repeat([]byte{8}, 32))
	r := receiver.New()
	if err := r.Add("ed", public); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("hmac", secret); err != nil {
		t.Fatal(err)
	}
	post := func(endpoint, key, sigBody, sentBody string, at time.Time) int {
		t.Helper()
		sig, err := domain.Sign(key, "msg_1", at.Unix(), []byte(sigBody))
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/"+endpoint, strings.NewReader(sentBody))
		req.Header.Set("webhook-id", "msg_1")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}
	now := time.Now()
	for _, tc := range []struct {
		name, endpoint, key, signed, sent string
		at                                time.Time
		want                              int
	}{
		{"v1a with the public key", "ed", private, `{"a":1}`, `{"a":1}`, now, 200},
		{"a changed body", "ed", private, `{"a":1}`, `{"a":2}`, now, 401},
		{"another key", "ed", otherPrivate, `{"a":1}`, `{"a":1}`, now, 401},
		{"a stale timestamp", "ed", private, `{"a":1}`, `{"a":1}`, now.Add(-time.Hour), 401},
		{"a v1 signature to an ed25519 endpoint", "ed", secret, `{"a":1}`, `{"a":1}`, now, 401},
		{"v1 still verifies", "hmac", secret, `{"a":1}`, `{"a":1}`, now, 200},
	} {
		if got := post(tc.endpoint, tc.key, tc.signed, tc.sent, tc.at); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	r.IgnoreTimestamp = true
	if got := post("ed", private, `{"a":1}`, `{"a":1}`, now.Add(-time.Hour)); got != 200 {
		t.Errorf("a stale timestamp with IgnoreTimestamp: %d", got)
	}
	if err := r.Add("x", private); err == nil || !strings.Contains(err.Error(), "whpk_") {
		t.Errorf("the private key must be refused, naming the public one: %v", err)
	}
	if err := r.Add("x", "whpk_bm90IGEga2V5"); err == nil {
		t.Error("a malformed public key must be refused")
	}
}
