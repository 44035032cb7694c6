package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestABackupOfARunningServerIsServedAgain: a backup taken over the API
// while messages are being published restores into a new data directory
// that verifies up to the backup's head and, given the ledger's seal key
// and master key, serves every payload it holds.
func TestABackupOfARunningServerIsServedAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	dir := t.TempDir()
	_, api, _ := startServer(t, dir)
	api.call("POST", "/v1/applications", map[string]any{"id": "app_b", "name": "b"})
	want := map[string]string{}
	for i := 0; i < 20; i++ {
		id := api.call("POST", "/v1/applications/app_b/messages", map[string]any{"event_type": "order.paid", "payload": map[string]any{"n": i}})["id"].(string)
		want[id] = fmt.Sprintf(`{"n":%d}`, i)
	}
	pub := api.call("GET", "/v1/audit/public-key", nil)["public_key"].(string)
	// Publishing goes on while the backup is taken.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("POST", api.base+"/v1/applications/app_b/messages", strings.NewReader(`{"event_type":"order.paid","payload":{"during":true}}`))
			req.Header.Set("Authorization", "Bearer "+api.key)
			req.Header.Set("Content-Type", "application/json")
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}
	}()
	file := filepath.Join(t.TempDir(), "backup.tar")
	out, code := runCLI(t, "backup", "--url", api.base, "--key", api.key, "--out", file)
	close(stop)
	<-stopped
	head := regexp.MustCompile(`up to position (\d+) `).FindStringSubmatch(out)
	if code != 0 || head == nil || !strings.Contains(out, "the master key") || !strings.Contains(out, "the seal signing key") {
		t.Fatalf("backup: %d %s", code, out)
	}
	// Only an admin key takes one; a refused backup writes no file.
	auditor := api.call("POST", "/v1/keys", map[string]any{"role": "auditor"})["key"].(string)
	refused := filepath.Join(t.TempDir(), "refused.tar")
	if out, code := runCLI(t, "backup", "--url", api.base, "--key", auditor, "--out", refused); code != 1 || !strings.Contains(out, "403") {
		t.Fatalf("backup with an auditor key: %d %s", code, out)
	}
	if entries, _ := os.ReadDir(filepath.Dir(refused)); len(entries) != 0 {
		t.Fatalf("a refused backup left %v", entries)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if out, code := runCLI(t, "verify", "--export", file); code != 2 || !strings.Contains(out, "is a backup (a tar), not an export") {
		t.Fatalf("verify --export of a backup: %d %s", code, out)
	}
	if out, code := runCLI(t, "restore", "--from", file, "--data-dir", restored); code != 0 || !strings.Contains(out, "up to position "+head[1]) {
		t.Fatalf("restore: %d %s", code, out)
	}
	if out, code := runCLI(t, "restore", "--from", file, "--data-dir", restored); code != 1 || !strings.Contains(out, "not empty") {
		t.Fatalf("a restore over a data directory: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(restored, "audit", "seal.key")); err == nil {
		t.Fatal("the backup holds the seal signing key")
	}
	if out, code := runCLI(t, "verify", "--data-dir", restored, "--public-key", pub, "--expect-head", head[1]); code != 0 || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("verify the restored ledger: %d %s", code, out)
	}

	// Served again with the keys kept apart from the backup.
	seal, err := os.ReadFile(filepath.Join(dir, "audit", "seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(restored, "audit"), 0o700)
	os.WriteFile(filepath.Join(restored, "audit", "seal.key"), seal, 0o600)
	_, again, _ := startServer(t, restored, "--master-key-file", filepath.Join(dir, "master.key"))
	for id, payload := range want {
		m := again.call("GET", "/v1/applications/app_b/messages/"+id, nil)
		var got bytes.Buffer
		fmt.Fprintf(&got, `{"n":%v}`, m["payload"].(map[string]any)["n"])
		if got.String() != payload {
			t.Fatalf("message %s served from the restore as %v, want %s", id, m["payload"], payload)
		}
	}
}
