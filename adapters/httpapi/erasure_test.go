package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// TestResponseExcerptsAreErasedWithTheirMessage: what an endpoint answers
// (which may quote the payload) is kept encrypted under the message's data
// key: the raw ledger holds ciphertext, the timeline shows it decrypted, and
// after the message's erasure the timeline says the excerpt was erased.
func TestResponseExcerptsAreErasedWithTheirMessage(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	}))
	defer hook.Close()
	e := newEnv(t)
	A := e.admin
	e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_x", "name": "X"})
	e.must(201, "POST", "/v1/applications/app_x/subscriptions", A, map[string]any{"id": "sub_x", "url": hook.URL, "event_types": []string{"*"}})
	msg := e.must(202, "POST", "/v1/applications/app_x/messages", A, map[string]any{"event_type": "a.b", "payload": map[string]any{"email": "quoted-marker"}}).str("id")
	dlv := domain.DeliveryIDFor(msg, "sub_x")
	waitFor(t, "acknowledged", func() bool { return e.do("GET", "/v1/deliveries/"+dlv, A, nil).str("status") == "acknowledged" })

	raw := e.must(200, "GET", "/v1/ledger/streams/"+domain.DeliveryStream(dlv), A, nil)
	if strings.Contains(string(raw.body), "quoted-marker") || !strings.Contains(string(raw.body), "response_excerpt_sealed") {
		t.Fatalf("the ledger holds the response in the clear: %s", raw.body)
	}
	excerpt := func() map[string]any {
		for _, it := range e.must(200, "GET", "/v1/deliveries/"+dlv+"/timeline", A, nil).items() {
			if it["type"] == domain.TypeAttemptAcknowledged {
				return it["data"].(map[string]any)
			}
		}
		t.Fatal("no acknowledgement on the timeline")
		return nil
	}
	if d := excerpt(); d["response_excerpt"] != `got {"email":"quoted-marker"}` || d["response_excerpt_sealed"] != nil {
		t.Fatalf("the timeline's excerpt: %v", d)
	}
	e.must(201, "POST", "/v1/applications/app_x/erasures", A, map[string]any{"id": "era_x", "scope": "messages", "message_ids": []string{msg}, "reason": "r"})
	if d := excerpt(); d["response_excerpt"] != nil || d["response_excerpt_erased_by"] != "era_x" {
		t.Fatalf("the timeline's excerpt after the erasure: %v", d)
	}
}
