package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// seqReceiver checks the FIFO promise across a kill -9: no message arrives
// before every earlier one was acknowledged. A message acknowledged just
// before the kill may arrive again (at-least-once: its success may not have
// been recorded); that is a repeat, not a reordering.
type seqReceiver struct {
	mu        sync.Mutex
	acked     int
	failOnce  map[int]bool
	requests  int
	repeats   int
	violation string
}

func (s *seqReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct{ Seq int }
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &p)
	time.Sleep(15 * time.Millisecond) // slow enough that the kill lands mid-stream
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	switch {
	case p.Seq <= s.acked:
		s.repeats++
	case p.Seq > s.acked+1:
		if s.violation == "" {
			s.violation = fmt.Sprintf("message %d arrived before message %d was acknowledged", p.Seq, s.acked+1)
		}
		w.WriteHeader(500)
	case s.failOnce[p.Seq]:
		delete(s.failOnce, p.Seq)
		w.WriteHeader(503)
	default:
		s.acked = p.Seq
	}
}

func (s *seqReceiver) state() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked, s.violation
}

// TestFIFOSurvivesKill9: a FIFO subscription keeps publish order through
// failed attempts and a kill -9 of the server in the middle of the stream;
// after the restart every message is delivered, in order.
func TestFIFOSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	const n = 40
	dir := t.TempDir()
	addr := freePort(t)
	const key = "fifo-kill-admin-key-0123456789"
	start := func() (*exec.Cmd, *bytes.Buffer) {
		srv := exec.Command(binary(t), "serve", "--data-dir", dir, "--listen", addr, "--allow-private-targets", "--log-level", "warn", "--no-metrics")
		srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+key)
		var log bytes.Buffer
		srv.Stdout, srv.Stderr = &log, &log
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		return srv, &log
	}
	recv := &seqReceiver{failOnce: map[int]bool{3: true, 11: true, 12: true, 29: true}}
	hook := httptest.NewServer(recv)
	defer hook.Close()

	srv, log := start()
	api := apiClient{t: t, base: "http://" + addr, key: key}
	api.waitReady(20*time.Second, log)
	api.call("POST", "/v1/applications", map[string]any{"id": "app_f", "name": "fifo"})
	api.call("POST", "/v1/applications/app_f/subscriptions", map[string]any{"id": "sub_f", "url": hook.URL, "event_types": []string{"*"},
		"ordering": "fifo", "retry_schedule_ms": []int64{0, 50, 50, 50, 50, 50}})
	for i := 1; i <= n; i++ {
		api.call("POST", "/v1/applications/app_f/messages", map[string]any{"event_type": "seq.next", "payload": map[string]any{"seq": i}})
	}
	wait := func(what string, cond func() bool, log fmt.Stringer) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if _, v := recv.state(); v != "" {
				t.Fatalf("%s: FIFO order broken: %s", what, v)
			}
			if time.Now().After(deadline) {
				acked, v := recv.state()
				t.Fatalf("%s: not within 60s (acked %d, violation %q)\nserver log: %s", what, acked, v, log)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("a third delivered", func() bool { a, _ := recv.state(); return a >= n/3 }, log)
	if err := srv.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
		t.Fatal(err)
	}
	srv.Wait()
	killedAt, _ := recv.state()
	if killedAt >= n {
		t.Fatalf("everything was delivered before the kill; the test proves nothing")
	}

	srv, log = start()
	defer func() { srv.Process.Kill(); srv.Wait() }()
	api.waitReady(20*time.Second, log)
	wait("all delivered after the restart", func() bool { a, _ := recv.state(); return a == n }, log)
	if _, v := recv.state(); v != "" {
		t.Fatalf("FIFO order broken: %s", v)
	}
	recv.mu.Lock()
	t.Logf("killed after %d acknowledged; %d requests, %d repeats of an acknowledged message", killedAt, recv.requests, recv.repeats)
	recv.mu.Unlock()
}
