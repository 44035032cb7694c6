package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeysCreateAdminRecovers: with the server stopped, `keys create-admin`
// issues an admin key recorded with actor local-operator; with the server
// running it refuses (one process per data directory).
func TestKeysCreateAdminRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	dir := t.TempDir()
	srv, _, _ := startServer(t, dir)
	if out, code := runCLI(t, "keys", "create-admin", "--data-dir", dir); code != 1 || !strings.Contains(out, "stop the server") {
		t.Fatalf("create-admin with the server running: %d %s", code, out)
	}
	srv.Process.Signal(os.Interrupt)
	srv.Wait()

	out, code := runCLI(t, "keys", "create-admin", "--data-dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 2 || !strings.HasPrefix(lines[1], "hlk_") {
		t.Fatalf("create-admin: %d %s", code, out)
	}
	key := lines[1]
	srv2, api, _ := startServer(t, dir)
	defer func() { srv2.Process.Signal(os.Interrupt); srv2.Wait() }()
	// The bootstrap key answers as soon as the server listens; a key from the
	// ledger answers 503 (Retry-After) until the views are read.
	var res *http.Response
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", api.base+"/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err = http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		res.Body.Close()
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the recovered key does not work: %v %v", err, res)
	}
	res.Body.Close()
	id := strings.Fields(lines[0])[2]
	ev := api.call("GET", "/v1/ledger/streams/apikey-"+id, nil)
	items, _ := ev["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["actor"] != "local-operator" {
		t.Fatalf("the key's creation is not recorded as local-operator: %v", ev)
	}
	if out, code := runCLI(t, "keys", "rotate"); code != 2 || !strings.Contains(out, "usage") {
		t.Fatalf("unknown keys subcommand: %d %s", code, out)
	}
}

// A recovery key is issued into an existing ledger only: into a mistyped or
// empty directory it would be the key of a new, empty ledger that the real
// one refuses. Nothing is created there.
func TestKeysCreateAdminNeedsALedger(t *testing.T) {
	base := t.TempDir()
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{filepath.Join(base, "mistyped"): "no such file or directory", empty: "no ledger in this data directory"} {
		var stdout, stderr bytes.Buffer
		code := keysCmd(context.Background(), []string{"create-admin", "--data-dir", dir}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), want) || strings.Contains(stdout.String(), "hlk_") || strings.Contains(stderr.String(), "stop the server") {
			t.Errorf("create-admin in %s: exit %d: %s%s, want exit 1 and %q", dir, code, stdout.String(), stderr.String(), want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 1 { // Pebble's LOCK at most
			t.Errorf("create-admin left %d files in %s", len(entries), dir)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "mistyped")); err == nil {
		t.Error("create-admin created the mistyped directory")
	}
}

// TestKeysCreateAdminOnEventStoreDB: a ledger on EventStoreDB gets its
// recovery admin key while its server runs (it folds the write as any
// other); a mistyped prefix names no ledger and is refused.
func TestKeysCreateAdminOnEventStoreDB(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	emu := startEmulator(t)
	_, api, _ := startServer(t, t.TempDir(), "--store-url", emu.URL())
	if out, code := runCLI(t, "keys", "create-admin", "--store-url", emu.URL(), "--store-prefix", "typo-"); code != 1 || !strings.Contains(out, "no ledger under the prefix") {
		t.Fatalf("create-admin under a mistyped prefix: %d %s", code, out)
	}
	out, code := runCLI(t, "keys", "create-admin", "--store-url", emu.URL())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 2 || !strings.HasPrefix(lines[1], "hlk_") {
		t.Fatalf("create-admin --store-url: %d %s", code, out)
	}
	recovered := apiClient{t: t, base: api.base, key: lines[1]}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		status, _ := recovered.raw("GET", "/v1/keys", nil)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recovered key does not work on the running server: %d", status)
		}
	}
	id := strings.Fields(lines[0])[2]
	items, _ := api.call("GET", "/v1/ledger/streams/apikey-"+id, nil)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["actor"] != "local-operator" {
		t.Fatalf("the key's creation: %v", items)
	}
}
