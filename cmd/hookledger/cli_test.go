package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/eventstoredb/esdbtest"
	"github.com/hookledger/hookledger/adapters/receiver"
	"github.com/hookledger/hookledger/domain"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookledger-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hookledger")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Log(string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// startEmulator runs the EventStoreDB emulator for the test.
func startEmulator(t *testing.T) *esdbtest.Server {
	t.Helper()
	emu, err := esdbtest.Start(esdbtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Stop)
	return emu
}

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type apiClient struct {
	t    *testing.T
	base string
	key  string
}

// raw sends a request and answers its status and JSON body (no failure on
// an error status, unlike apiClient.call).
func (c apiClient) raw(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func (c apiClient) call(method, path string, body any) map[string]any {
	c.t.Helper()
	status, m := c.raw(method, path, body)
	if status >= 300 {
		c.t.Fatalf("%s %s: %d %v", method, path, status, m)
	}
	return m
}

// TestAuditorCLI runs a server, then the auditor's commands: verify (the
// ledger and an export, with the pinned key), export, timeline and history
// (from the store and through the API).
// waitReady waits until the server answers an authenticated request.
func (c apiClient) waitReady(within time.Duration, srvLog fmt.Stringer) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest("GET", c.base+"/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+c.key)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			log := "(no log)"
			if srvLog != nil {
				log = srvLog.String()
			}
			c.t.Fatalf("server not ready within %s: %s", within, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAuditorCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	dir := t.TempDir()
	addr := freePort(t)
	const key = "cli-test-admin-key-0123456789"
	srv := exec.Command(binary(t), "serve", "--data-dir", dir, "--listen", addr, "--allow-private-targets", "--seal-interval", "200ms", "--log-level", "warn")
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+key)
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Process.Kill()
			srv.Wait()
		}
	}()
	api := apiClient{t: t, base: "http://" + addr, key: key}
	deadline := time.Now().Add(20 * time.Second)
	api.waitReady(20*time.Second, &srvLog)
	recv := receiver.New()
	hook := httptest.NewServer(recv)
	defer hook.Close()
	api.call("POST", "/v1/applications", map[string]any{"id": "app_cli", "name": "cli"})
	api.call("POST", "/v1/applications", map[string]any{"id": "app_other", "name": "other"})
	sub := api.call("POST", "/v1/applications/app_cli/subscriptions", map[string]any{"id": "sub_cli", "url": hook.URL + "/sub_cli", "event_types": []string{"*"}})
	recv.Add("sub_cli", sub["secret"].(string))
	msg := api.call("POST", "/v1/applications/app_cli/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"n": 1}})["id"].(string)
	api.call("POST", "/v1/applications/app_other/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"note": "other-tenant-data"}})
	dlv := domain.DeliveryIDFor(msg, "sub_cli")
	for recv.Count("sub_cli", msg) == 0 {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatal("not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pub := api.call("GET", "/v1/audit/public-key", nil)["public_key"].(string)

	// Through the running server's API.
	out, code := runCLI(t, "timeline", dlv, "--url", api.base, "--key", key)
	if code != 0 || !strings.Contains(out, "delivery.scheduled") {
		t.Fatalf("timeline via API: %d %s", code, out)
	}
	// A delivery the server does not have: its answer's detail, not the
	// problem document.
	out, code = runCLI(t, "timeline", "dlv_none", "--url", api.base, "--key", key)
	if code != 1 || !strings.Contains(out, "404 Not Found: no delivery dlv_none") || strings.Contains(out, `"type"`) {
		t.Errorf("timeline of an unknown delivery via API: %d %s", code, out)
	}
	// An export from the running server: verified as it is written, kept
	// whole or not at all, and recorded in the server's ledger.
	viaAPI := filepath.Join(t.TempDir(), "via-api.ndjson")
	if out, code := runCLI(t, "export", "--url", api.base, "--key", key, "--application", "app_cli", "--out", viaAPI); code != 0 || !strings.Contains(out, "verified against the key inside it") {
		t.Fatalf("export --url: %d %s", code, out)
	}
	if out, code := runCLI(t, "verify", "--export", viaAPI, "--public-key", pub); code != 0 || !strings.HasPrefix(out, "OK:") || !strings.Contains(out, "scope: application app_cli") {
		t.Fatalf("verify the export taken through the server: %d %s", code, out)
	}
	recs := api.call("GET", "/v1/ledger/streams/"+domain.AccessStream, nil)["items"].([]any)
	if last := recs[len(recs)-1].(map[string]any); last["type"] != domain.TypeLedgerExported || last["data"].(map[string]any)["application"] != "app_cli" {
		t.Fatalf("the export through the server is not recorded: %v", last)
	}
	refusedExport := filepath.Join(t.TempDir(), "refused.ndjson")
	if out, code := runCLI(t, "export", "--url", api.base, "--key", key, "--application", "app_typo", "--out", refusedExport); code != 1 || !strings.Contains(out, "no application app_typo") {
		t.Fatalf("export --url of an application the ledger never had: %d %s", code, out)
	}
	if _, err := os.Stat(refusedExport); err == nil {
		t.Fatal("a refused export --url left a file")
	}
	// The embedded store is one process's: the tools that open it say who
	// holds it, and what to do instead.
	out, code = runCLI(t, "verify", "--data-dir", dir)
	if code == 0 || !strings.Contains(out, "in use (another process") || !strings.Contains(out, "/v1/audit/verify") {
		t.Fatalf("verify beside the running server: %d %s", code, out)
	}
	out, code = runCLI(t, "rebuild", "--data-dir", dir)
	if code == 0 || !strings.Contains(out, "in use (another process") {
		t.Fatalf("rebuild beside the running server: %d %s", code, out)
	}
	copied := filepath.Join(t.TempDir(), "copy")
	out, code = runCLI(t, "copy", "--from", dir, "--to", copied)
	if code != 1 || !strings.Contains(out, "in use (another process") || !strings.Contains(out, "stop the server that uses it first") {
		t.Fatalf("copy from the running server's ledger: %d %s", code, out)
	}
	if _, err := os.Stat(copied); err == nil {
		t.Fatal("a copy refused for its source created its destination")
	}
	// Stop gracefully: the last events are sealed.
	srv.Process.Signal(os.Interrupt)
	srv.Wait()
	stopped = true

	out, code = runCLI(t, "verify", "--data-dir", dir, "--public-key", pub)
	if code != 0 || !strings.HasPrefix(out, "OK:") || !strings.Contains(out, "0 not sealed yet") {
		t.Fatalf("verify: %d %s\nserver log: %s", code, out, srvLog.String())
	}
	out, code = runCLI(t, "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "pass --public-key") {
		t.Fatalf("verify without a pinned key: %d %s", code, out)
	}
	out, code = runCLI(t, "verify", "--data-dir", dir, "--public-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if code != 1 || !strings.Contains(out, "FAILED: seal_key_mismatch") {
		t.Fatalf("verify with another key: %d %s", code, out)
	}
	exp := filepath.Join(t.TempDir(), "app.ndjson")
	if out, code = runCLI(t, "export", "--data-dir", dir, "--application", "app_cli", "--out", exp); code != 0 {
		t.Fatalf("export: %s", out)
	}
	typo := filepath.Join(t.TempDir(), "typo.ndjson")
	if out, code = runCLI(t, "export", "--data-dir", dir, "--application", "app_typo", "--out", typo); code != 1 || !strings.Contains(out, "no application app_typo") {
		t.Fatalf("export of an application the ledger never had: %d %s", code, out)
	}
	if entries, _ := os.ReadDir(filepath.Dir(typo)); len(entries) != 0 {
		t.Fatalf("a refused export left %v", entries)
	}
	// An audit period, and the events since it: two exports that verify on
	// their own, each saying what it holds.
	period, since := filepath.Join(t.TempDir(), "period.ndjson"), filepath.Join(t.TempDir(), "since.ndjson")
	if out, code = runCLI(t, "export", "--data-dir", dir, "--to", "5", "--out", period); code != 0 {
		t.Fatalf("export --to: %s", out)
	}
	if out, code = runCLI(t, "export", "--data-dir", dir, "--from", "6", "--since", "2001-01-01T02:00:00+02:00", "--out", since); code != 0 {
		t.Fatalf("export --from: %s", out)
	}
	out, code = runCLI(t, "verify", "--export", period, "--public-key", pub)
	if code != 0 || !strings.HasPrefix(out, "OK: 5 events") || !strings.Contains(out, "scope: the whole ledger, positions 1 to 5\n") {
		t.Fatalf("verify an export --to 5: %d %s", code, out)
	}
	out, code = runCLI(t, "verify", "--export", since, "--public-key", pub)
	if code != 0 || !strings.HasPrefix(out, "OK:") || !strings.Contains(out, "scope: the whole ledger, positions 6 to the head, recorded at or after 2001-01-01T00:00:00Z\n") {
		t.Fatalf("verify an export --from 6: %d %s", code, out)
	}
	// The second starts where the first ended: nothing between them.
	out, code = runCLI(t, "verify", "--export", since, "--follows", period, "--public-key", pub)
	if code != 0 || !strings.Contains(out, "follows "+period+": nothing left out between them") {
		t.Fatalf("verify --export (from 6) --follows (to 5): %d %s", code, out)
	}
	out, code = runCLI(t, "verify", "--export", period, "--follows", since, "--public-key", pub)
	if code != 1 || !strings.Contains(out, "FAILED: export_does_not_follow") {
		t.Fatalf("verify --export (to 5) --follows (from 6): %d %s", code, out)
	}
	for _, bad := range []struct{ args []string }{
		{[]string{"--from", "9", "--to", "3", "--to"}},
		{[]string{"--since", "yesterday", "--since"}},
		{[]string{"--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z", "--until"}},
	} {
		args, flag := bad.args[:len(bad.args)-1], bad.args[len(bad.args)-1]
		out, code = runCLI(t, append([]string{"export", "--data-dir", dir}, args...)...)
		if code != 2 || !strings.HasPrefix(out, flag+": ") {
			t.Fatalf("export %v: %d %s (want the problem with %s)", args, code, out, flag)
		}
	}
	raw, _ := os.ReadFile(exp)
	if bytes.Contains(raw, []byte("other-tenant-data")) || bytes.Contains(raw, []byte("whsec_")) {
		t.Fatal("the export holds another tenant's data or a secret")
	}
	out, code = runCLI(t, "verify", "--export", exp, "--public-key", pub)
	if code != 0 || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("verify export: %d %s", code, out)
	}
	out, code = runCLI(t, "verify", "--export", exp)
	if code != 0 || !strings.Contains(out, "checked against the key inside the export") {
		t.Fatalf("verify export without a pinned key: %d %s", code, out)
	}
	// What the auditor pinned is checked against an export too.
	out, code = runCLI(t, "verify", "--export", exp, "--public-key", pub, "--expect-seal", strings.Repeat("ab", 32))
	if code != 1 || !strings.Contains(out, "FAILED: seal_not_found") {
		t.Fatalf("verify export expecting another ledger's seal: %d %s", code, out)
	}
	out, code = runCLI(t, "verify", "--export", exp, "--public-key", pub, "--expect-head", "1000000")
	if code != 1 || !strings.Contains(out, "FAILED: ledger_truncated") {
		t.Fatalf("verify export expecting a later head: %d %s", code, out)
	}
	tampered := bytes.Replace(raw, []byte(`"type":"message.published"`), []byte(`"type":"message.publishex"`), 1)
	os.WriteFile(exp, tampered, 0o600)
	out, code = runCLI(t, "verify", "--export", exp, "--public-key", pub)
	if code != 1 || !strings.Contains(out, "FAILED: event_changed") {
		t.Fatalf("verify tampered export: %d %s", code, out)
	}

	out, code = runCLI(t, "timeline", dlv, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "delivery.attempt_acknowledged") || !strings.Contains(out, "delivery-worker") {
		t.Fatalf("timeline: %d %s", code, out)
	}
	out, code = runCLI(t, "history", "subscription-sub_cli", "--data-dir", dir, "--json")
	var h struct {
		Items []map[string]any `json:"items"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || len(h.Items) != 1 || h.Items[0]["type"] != "subscription.created" {
		t.Fatalf("history --json: %d %s", code, out)
	}
	if strings.Contains(out, "whsec_") || !strings.Contains(out, "[redacted]") {
		t.Fatalf("history shows a signing secret: %s", out)
	}
	if _, code = runCLI(t, "history", "nothing-here", "--data-dir", dir); code != 1 {
		t.Fatal("history of a missing stream must fail")
	}
	// An entity id works as well as its stream name.
	for id, want := range map[string]string{"sub_cli": "subscription.created", dlv: "delivery.scheduled", msg: "message.published", "app_cli": "application.created"} {
		out, code = runCLI(t, "history", id, "--data-dir", dir)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("history %s: %d %s", id, code, out)
		}
	}
}

// TestCommandsRefuseStrayArguments: a command that takes only flags refuses
// a word after them (exit 2, naming it) instead of acting on its defaults:
// "verify /backups/ledger" must not verify ./data and answer OK.
// A --url the CLI cannot use, or one without a key, or an unknown format, is
// refused before anything is read (an address without its scheme made the
// CLI panic).
func TestReadingThroughAServerNeedsAUsableURLAndKey(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"history", "sub_a", "--url", "127.0.0.1:8080", "--key", "k"}, `--url "127.0.0.1:8080": want the server's address with its scheme`},
		{[]string{"timeline", "dlv_a", "--url", "ftp://127.0.0.1:8080", "--key", "k"}, "want the server's address with its scheme"},
		{[]string{"timeline", "dlv_a", "--url", "http://", "--key", "k"}, "want the server's address with its scheme"},
		{[]string{"history", "sub_a", "--url", "http://127.0.0.1:9"}, "--url needs an API key"},
		{[]string{"history", "sub_a", "--data-dir", t.TempDir(), "--format", "xml"}, `--format "xml": want text, json or csv`},
	} {
		out, code := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(out, c.want) || strings.Contains(out, "panic") {
			t.Errorf("%q: exit %d: %s\nwant exit 2 and %q", c.args, code, out, c.want)
		}
	}
}

func TestCommandsRefuseStrayArguments(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"verify", dir},
		{"verify", "--data-dir", dir, "extra"},
		{"export", "--data-dir", dir, "app_a"},
		{"copy", "--from", dir, "--to", filepath.Join(dir, "b"), "extra"},
		{"keys", "create-admin", "--data-dir", dir, "extra"},
		{"keys", "rotate-master", "--data-dir", dir, "--new-master-key-file", filepath.Join(dir, "k"), "extra"},
		{"backup", "--key", "k", "--out", filepath.Join(dir, "b.tar"), "extra"},
		{"restore", "--from", filepath.Join(dir, "b.tar"), "--data-dir", filepath.Join(dir, "r"), "extra"},
		{"receive", "extra"},
		{"bench", "--quiet", "extra"},
		{"timeline", "dlv_a", "--data-dir", dir, "dlv_b"},
		{"history", "--data-dir", dir, "sub_a", "sub_b"},
	} {
		// Bounded: without the check, receive and bench would run on.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary(t), args...)
		raw, err := cmd.CombinedOutput()
		cancel()
		if cmd.ProcessState == nil {
			t.Fatalf("%q: %v", args, err)
		}
		out, code := string(raw), cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Errorf("%q: %v: %s", args, err, out)
			continue
		}
		stray := args[len(args)-1]
		if code != 2 || !strings.Contains(out, "unexpected argument "+strconv.Quote(stray)) {
			t.Errorf("%q: exit %d: %s", args, code, out)
		}
	}
	// Help asked for is help given: exit 0, for every command alike.
	for _, cmd := range [][]string{{"verify"}, {"export"}, {"copy"}, {"keys", "create-admin"}, {"keys", "rotate-master"}, {"receive"}, {"bench"}} {
		if out, code := runCLI(t, append(cmd, "-h")...); code != 0 || !strings.Contains(out, "-") {
			t.Errorf("%q -h: exit %d: %s", cmd, code, out)
		}
	}
}

// verify and export of a directory that holds no ledger say so, before any
// word about keys: "no seal key at /backups/ledgr/audit/seal.key" sent the
// reader after the wrong file.
func TestVerifyAndExportOfNoLedgerSaySo(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ledgr")
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--data-dir", missing}, "data directory " + missing},
		{[]string{"verify", "--data-dir", empty}, "no ledger"},
		{[]string{"verify", "--data-dir", empty, "--public-key", "AAAA"}, "no ledger"},
		{[]string{"export", "--data-dir", missing}, "data directory " + missing},
		{[]string{"export", "--data-dir", empty}, "no ledger"},
	} {
		out, code := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(out, c.want) || strings.Contains(out, "seal") || strings.Contains(out, "public key") {
			t.Errorf("%q: exit %d: %s\nwant exit 2 and %q, nothing about keys", c.args, code, out, c.want)
		}
	}
}
