package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookledger/hookledger/adapters/ids"
)

func signedRequest(t *testing.T, secret, id, body string) *http.Request {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/hook", strings.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	return req
}

// TestReceiveSimulatesEndpointsAndSaysWhyItRejects: --status, --fail-rate and
// --delay shape the answers to verified webhooks; a bad signature is answered
// 401 and printed with the reason and a count.
func TestReceiveSimulatesEndpointsAndSaysWhyItRejects(t *testing.T) {
	secret := ids.NewSecret()
	var out bytes.Buffer
	h, st, err := newReceiveHandler(receiveOptions{secret: secret, status: 410}, &out, func() float64 { return 0.5 })
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, secret, "msg_1", `{"a":1}`))
	if w.Code != 410 || !strings.Contains(out.String(), "answered 410") {
		t.Fatalf("--status 410: %d %s", w.Code, out.String())
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, ids.NewSecret(), "msg_2", `{"a":2}`))
	if w.Code != 401 || !strings.Contains(out.String(), `REJECTED webhook "msg_2"`) || !strings.Contains(out.String(), "1 rejected so far") {
		t.Fatalf("a wrong signature: %d %s", w.Code, out.String())
	}

	h, st, _ = newReceiveHandler(receiveOptions{secret: secret, status: 200, failRate: 0.6, delay: 150 * time.Millisecond}, &out, func() float64 { return 0.5 })
	start := time.Now()
	w = httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, secret, "msg_3", `{}`))
	if w.Code != 500 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("--fail-rate 0.6 with draw 0.5 and --delay: %d after %s", w.Code, time.Since(start))
	}
	h, st, _ = newReceiveHandler(receiveOptions{secret: secret, status: 200, failRate: 0.4}, &out, func() float64 { return 0.5 })
	w = httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(t, secret, "msg_4", `{}`))
	if w.Code != 200 || st.verified.Load() != 1 || st.failed.Load() != 0 {
		t.Fatalf("--fail-rate 0.4 with draw 0.5: %d", w.Code)
	}
	if strings.Contains(out.String(), "received 2 times") {
		t.Fatalf("a first receipt is said to be a repeat: %s", out.String())
	}
	// The same webhook-id again (a retry, a redelivery): said so.
	out.Reset()
	h.ServeHTTP(httptest.NewRecorder(), signedRequest(t, secret, "msg_4", `{}`))
	if !strings.Contains(out.String(), "msg_4") || !strings.Contains(out.String(), "received 2 times") {
		t.Fatalf("a repeated webhook-id: %s", out.String())
	}
}

// receive without a secret would start and refuse every webhook; it is
// refused before it listens, and so is a secret that is not one.
func TestReceiveNeedsTheSubscriptionsSecret(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"receive", "--listen", "127.0.0.1:0"}, "--secret is required"},
		{[]string{"receive", "--listen", "127.0.0.1:0", "--secret", "plain"}, "--secret: "},
		{[]string{"receive", "--listen", "127.0.0.1:0", "--secret", "whsk_" + strings.Repeat("A", 86) + "=="}, "whpk_"},
	} {
		cmd := exec.Command(binary(t), c.args...)
		cmd.Env = append(os.Environ(), "HOOKLEDGER_RECEIVE_SECRET=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%q ran on: %s", c.args, out.String())
		}
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(out.String(), c.want) || strings.Contains(out.String(), "receiving webhooks") {
			t.Errorf("%q: exit %d: %s, want exit 2 and %q", c.args, code, out.String(), c.want)
		}
	}
}
