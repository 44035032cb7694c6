package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesACopiedLedgerWithoutItsKeys: a ledger copied into a new
// data directory is served only with the key material it was written with.
// Without its seal key, or with another one, serve exits before creating
// anything: later seals by a new key would fail verification. With the seal
// key but without the key store, it exits too: its encrypted payloads could
// never be read. With both (and the master key) it serves, and the old
// payload reads back.
func TestServeRefusesACopiedLedgerWithoutItsKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	src := t.TempDir()
	srv, api, _ := startServer(t, src)
	api.call("POST", "/v1/applications", map[string]any{"id": "app_k", "name": "k"})
	msg := api.call("POST", "/v1/applications/app_k/messages", map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 7}})["id"].(string)
	// A seal covers the message (--seal-interval 100ms).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := api.call("GET", "/v1/audit/status", nil)
		if st["last_seal"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no seal: %v", st)
		}
	}
	// What an auditor keeps: the API's answer, as it is.
	pubFile := filepath.Join(t.TempDir(), "seal.pub.json")
	pubJSON, _ := json.Marshal(api.call("GET", "/v1/audit/public-key", nil))
	if err := os.WriteFile(pubFile, pubJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Process.Signal(os.Interrupt)
	srv.Wait()

	dst := filepath.Join(t.TempDir(), "copy")
	// The ledger alone (a copy takes the data keys along unless told not to).
	out, code := runCLI(t, "copy", "--from", src, "--to", dst, "--no-keys")
	if code != 0 || !strings.Contains(out, "hookledger verify --data-dir "+dst+" --public-key @FILE") || !strings.Contains(out, "the data keys were not copied (--no-keys)") {
		t.Fatalf("copy: %d %s", code, out)
	}
	// The copy has no seal key: verify says what to pin, and pins the
	// API's answer.
	if out, code := runCLI(t, "verify", "--data-dir", dst); code != 2 || !strings.Contains(out, "GET /v1/audit/public-key") {
		t.Fatalf("verify of the copy without a key: %d %s", code, out)
	}
	if out, code := runCLI(t, "verify", "--data-dir", dst, "--public-key", "@"+pubFile); code != 0 || !strings.HasPrefix(out, "OK:") {
		t.Fatalf("verify of the copy with the API's key: %d %s", code, out)
	}
	serve := func() (string, int) {
		t.Helper()
		cmd := exec.Command(binary(t), "serve", "--data-dir", dst, "--listen", freePort(t), "--log-level", "warn")
		cmd.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789")
		done := make(chan struct{})
		time.AfterFunc(20*time.Second, func() {
			select {
			case <-done:
			default:
				cmd.Process.Kill()
			}
		})
		out, err := cmd.CombinedOutput()
		close(done)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	out, code = serve()
	if code == 0 || !strings.Contains(out, "no seal key at "+filepath.Join(dst, "audit", "seal.key")) {
		t.Fatalf("serving a copy without its seal key: exit %d: %s", code, out)
	}
	for _, made := range []string{"audit", "keys", "master.key"} {
		if _, err := os.Stat(filepath.Join(dst, made)); err == nil {
			t.Fatalf("the refused start created %s", made)
		}
	}

	// Another seal key.
	other := t.TempDir()
	otherSrv, _, _ := startServer(t, other)
	otherSrv.Process.Signal(os.Interrupt)
	otherSrv.Wait()
	copyFile(t, filepath.Join(other, "audit", "seal.key"), filepath.Join(dst, "audit", "seal.key"))
	if out, code := serve(); code == 0 || !strings.Contains(out, "but the ledger's seals are signed by") {
		t.Fatalf("serving a copy with another seal key: exit %d: %s", code, out)
	}

	// Its own seal key, no key store.
	copyFile(t, filepath.Join(src, "audit", "seal.key"), filepath.Join(dst, "audit", "seal.key"))
	if out, code := serve(); code == 0 || !strings.Contains(out, "the ledger holds encrypted values") || !strings.Contains(out, "no key store at") {
		t.Fatalf("serving a copy without its key store: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dst, "keys")); err == nil {
		t.Fatal("the refused start created a key store")
	}

	// Everything: it serves, and the payload reads back.
	copyTree(t, filepath.Join(src, "keys"), filepath.Join(dst, "keys"))
	copyFile(t, filepath.Join(src, "master.key"), filepath.Join(dst, "master.key"))
	srv2, api2, log2 := startServer(t, dst)
	defer func() { srv2.Process.Signal(os.Interrupt); srv2.Wait() }()
	var got map[string]any
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		status, m := api2.raw("GET", "/v1/applications/app_k/messages/"+msg, nil)
		if status == 200 {
			got = m
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy's message: %d %v %s", status, m, log2)
		}
	}
	if p, _ := got["payload"].(map[string]any); p["n"] != float64(7) {
		t.Fatalf("the copy's payload: %v", got)
	}

	// A copy with its keys (the default) needs only the seal key and the
	// master key beside it.
	withKeys := filepath.Join(t.TempDir(), "with-keys")
	if out, code := runCLI(t, "copy", "--from", src, "--to", withKeys); code != 0 || !strings.Contains(out, "copied 1 data keys and 0 tombstones of erased ones (0 already there) into "+filepath.Join(withKeys, "keys")) {
		t.Fatalf("copy with its keys: %d %s", code, out)
	}
	copyFile(t, filepath.Join(src, "audit", "seal.key"), filepath.Join(withKeys, "audit", "seal.key"))
	copyFile(t, filepath.Join(src, "master.key"), filepath.Join(withKeys, "master.key"))
	_, api3, _ := startServer(t, withKeys)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		status, m := api3.raw("GET", "/v1/applications/app_k/messages/"+msg, nil)
		if p, _ := m["payload"].(map[string]any); status == 200 && p["n"] == float64(7) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the payload of the copy made with its keys: %d %v", status, m)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeRefusesTheLedgerKeyStoreForALedgerWrittenWithLocalKeys: a ledger
// on EventStoreDB whose payloads were encrypted under a data directory's
// keys is not served with an empty ledger key store (it could never read
// them): serve says where the keys are.
func TestServeRefusesTheLedgerKeyStoreForALedgerWrittenWithLocalKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary; skipped under -short")
	}
	emu := startEmulator(t)
	dir := t.TempDir()
	srv, api, _ := startServer(t, dir, "--store-url", emu.URL()) // --key-store local: keys in dir
	api.call("POST", "/v1/applications", map[string]any{"id": "app_l", "name": "l"})
	api.call("POST", "/v1/applications/app_l/messages", map[string]any{"event_type": "a.b", "payload": map[string]any{"n": 1}})
	srv.Process.Signal(os.Interrupt)
	srv.Wait()
	cmd := exec.Command(binary(t), "serve", "--data-dir", t.TempDir(), "--listen", freePort(t), "--store-url", emu.URL(),
		"--key-store", "ledger", "--master-key-file", filepath.Join(dir, "master.key"), "--seal-key-file", filepath.Join(dir, "audit", "seal.key"))
	cmd.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the ledger holds encrypted values") || !strings.Contains(string(out), "no key store in the ledger (--key-store ledger)") {
		t.Fatalf("serve --key-store ledger on a ledger written with local keys: %v\n%s", err, out)
	}
}
