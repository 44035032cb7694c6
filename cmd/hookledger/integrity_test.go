package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startServer runs `serve` on dir and waits until it answers.
func startServer(t *testing.T, dir string, extra ...string) (*exec.Cmd, apiClient, *bytes.Buffer) {
	t.Helper()
	addr := freePort(t)
	const key = "integrity-test-admin-key-0123456789"
	args := append([]string{"serve", "--data-dir", dir, "--listen", addr, "--seal-interval", "100ms", "--log-level", "warn"}, extra...)
	srv := exec.Command(binary(t), args...)
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+key)
	var log bytes.Buffer
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	api := apiClient{t: t, base: "http://" + addr, key: key}
	api.waitReady(20*time.Second, &log)
	return srv, api, &log
}

// copyTree copies a data directory (files and the views subdirectory).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o750)
		}
		if fi.Name() == "LOCK" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || fi.Name() == "LOCK" {
			return err
		}
		b, _ := os.ReadFile(p)
		lines = append(lines, fmt.Sprintf("%s %d %x", p[len(dir):], len(b), b[:min(len(b), 64)]))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

type verifyJSON struct {
	OK       bool   `json:"ok"`
	Events   uint64 `json:"events"`
	Head     uint64 `json:"head"`
	LastSeal *struct {
		Position uint64 `json:"position"`
		Hash     string `json:"hash"`
	} `json:"last_seal"`
	Problem *struct {
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	} `json:"problem"`
}

func verifyDir(t *testing.T, dir, pub string, extra ...string) (verifyJSON, string, int) {
	t.Helper()
	out, code := runCLI(t, append([]string{"verify", "--data-dir", dir, "--public-key", pub, "--json"}, extra...)...)
	var v verifyJSON
	if i := strings.Index(out, "{"); i >= 0 {
		json.Unmarshal([]byte(out[i:]), &v)
	}
	return v, out, code
}

// TestDamagedLedgerIsNeverPassedOff is the red-team report's reproduction at
// the level an operator and an auditor meet it: bytes flipped in the WAL of a
// ledger stopped by kill -9, and in the SSTables of one stopped cleanly.
// verify must report the damage (or find every event intact), serve must
// refuse to serve a truncated ledger, and neither may exit silently.
func TestDamagedLedgerIsNeverPassedOff(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	dir := t.TempDir()
	srv, api, _ := startServer(t, dir)
	pub := api.call("GET", "/v1/audit/public-key", nil)["public_key"].(string)
	for i := 0; i < 6; i++ {
		api.call("POST", "/v1/applications", map[string]any{"id": fmt.Sprintf("app_%d", i), "name": strings.Repeat("n", 100)})
		for j := 0; j < 12; j++ {
			api.call("POST", fmt.Sprintf("/v1/applications/app_%d/messages", i), map[string]any{"event_type": "order.paid", "payload": map[string]any{"pad": strings.Repeat("x", 600)}})
		}
	}
	// Wait until everything is sealed, then stop as a crash would.
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := api.call("GET", "/v1/audit/verify", nil)
		if v["unsealed"] == float64(0) && v["events"].(float64) >= 78 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never sealed: %v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Process.Kill()
	srv.Wait()

	crash := filepath.Join(t.TempDir(), "crash")
	copyTree(t, dir, crash)
	before := treeDigest(t, crash)
	whole, out, code := verifyDir(t, crash, pub)
	if code != 0 || !whole.OK || whole.LastSeal == nil {
		t.Fatalf("verify of the undamaged crash image: %d %s", code, out)
	}
	if after := treeDigest(t, crash); after != before {
		t.Fatalf("verify changed the ledger it checked:\n%s\n---\n%s", before, after)
	}

	// Pinning what the auditor recorded.
	if _, out, code := verifyDir(t, crash, pub, "--expect-head", strconv.FormatUint(whole.Head, 10), "--expect-seal", whole.LastSeal.Hash); code != 0 {
		t.Fatalf("verify with the recorded head and seal: %d %s", code, out)
	}
	if v, out, code := verifyDir(t, crash, pub, "--expect-head", strconv.FormatUint(whole.Head+1, 10)); code != 1 || v.Problem == nil || v.Problem.Kind != "ledger_truncated" {
		t.Fatalf("verify with a head beyond the ledger: %d %s", code, out)
	}
	if v, out, code := verifyDir(t, crash, pub, "--expect-seal", strings.Repeat("ab", 32)); code != 1 || v.Problem == nil || v.Problem.Kind != "seal_not_found" {
		t.Fatalf("verify with an unknown seal: %d %s", code, out)
	}
	if out, code := runCLI(t, "verify", "--data-dir", crash, "--public-key", pub); code != 0 || !strings.Contains(out, "last seal: #") || !strings.Contains(out, whole.LastSeal.Hash) {
		t.Fatalf("the text report names the last seal: %s", out)
	}

	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Fatal("no WAL in the crash image")
	}
	refused := 0
	for _, off := range []int64{50, 10000, 30000, 60000} {
		for _, l := range logs {
			fi, _ := os.Stat(l)
			if off >= fi.Size() {
				continue
			}
			cp := filepath.Join(t.TempDir(), "flip")
			copyTree(t, dir, cp)
			p := filepath.Join(cp, filepath.Base(l))
			b, _ := os.ReadFile(p)
			b[off] ^= 1
			os.WriteFile(p, b, 0o640)
			v, out, code := verifyDir(t, cp, pub)
			if code == 0 && (!v.OK || v.Events != whole.Events) {
				t.Fatalf("flip at %d of %s: verify said OK with %d of %d events: %s", off, filepath.Base(l), v.Events, whole.Events, out)
			}
			if code == 0 {
				continue
			}
			refused++
			if v.Problem == nil || (v.Problem.Kind != "ledger_truncated" && v.Problem.Kind != "ledger_unreadable") {
				t.Fatalf("flip at %d: verify failed without naming the damage: %d %s", off, code, out)
			}
			// serve refuses the same copy, with its own exit code and a reason.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			cmd := exec.CommandContext(ctx, binary(t), "serve", "--data-dir", cp, "--listen", freePort(t))
			cmd.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789")
			sout, _ := cmd.CombinedOutput()
			cancel()
			if cmd.ProcessState.ExitCode() != exitDamaged || !regexp.MustCompile(`ledger truncated|corrupt`).Match(sout) {
				t.Fatalf("serve on a damaged copy: exit %d: %s", cmd.ProcessState.ExitCode(), sout)
			}
		}
	}
	if refused == 0 {
		t.Fatal("no flip was refused: the test damaged nothing that matters")
	}

	// A clean stop: SSTables hold the ledger. Flipped SSTable bytes are
	// reported by verify and export with a reason, never a silent exit.
	clean := filepath.Join(t.TempDir(), "clean")
	copyTree(t, dir, clean)
	srv2, _, _ := startServer(t, clean)
	srv2.Process.Signal(os.Interrupt)
	srv2.Wait()
	// A view store ahead of the store (folded from events the store no
	// longer has): serve refuses it rather than serving views it cannot prove.
	ahead := filepath.Join(t.TempDir(), "ahead")
	if _, err := os.Stat(filepath.Join(clean, "views", "embedded")); err != nil {
		t.Fatalf("no view store after a clean stop: %v", err)
	}
	{
		copyTree(t, filepath.Join(clean, "views"), filepath.Join(ahead, "views"))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary(t), "serve", "--data-dir", ahead, "--listen", freePort(t))
		cmd.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY=integrity-test-admin-key-0123456789")
		sout, _ := cmd.CombinedOutput()
		cancel()
		if cmd.ProcessState.ExitCode() != exitDamaged || !strings.Contains(string(sout), "view store") {
			t.Fatalf("serve with views ahead of the store: exit %d: %s", cmd.ProcessState.ExitCode(), sout)
		}
	}

	ssts, _ := filepath.Glob(filepath.Join(clean, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no SSTable after a clean stop")
	}
	sstRefused := 0
	for _, sst := range ssts {
		fi, _ := os.Stat(sst)
		for _, off := range []int64{100, fi.Size() / 3, fi.Size() / 2, fi.Size() - 60} {
			cp := filepath.Join(t.TempDir(), "sst")
			copyTree(t, clean, cp)
			p := filepath.Join(cp, filepath.Base(sst))
			b, _ := os.ReadFile(p)
			b[off] ^= 1
			os.WriteFile(p, b, 0o640)
			v, out, code := verifyDir(t, cp, pub)
			if code == 0 && (!v.OK || v.Events < whole.Events) {
				t.Fatalf("sst flip at %d: verify OK with %d events: %s", off, v.Events, out)
			}
			if code != 0 {
				sstRefused++
				if strings.TrimSpace(out) == "" || v.Problem == nil {
					t.Fatalf("sst flip at %d: verify exit %d without a reason: %q", off, code, out)
				}
			}
			eout, ecode := runCLI(t, "export", "--data-dir", cp, "--out", filepath.Join(t.TempDir(), "e.ndjson"))
			if ecode != 0 && !strings.Contains(eout, "corrupt") && !strings.Contains(eout, "ledger_") {
				t.Fatalf("sst flip at %d: export exit %d without a reason: %q", off, ecode, eout)
			}
		}
	}
	if sstRefused == 0 {
		t.Fatal("no SSTable flip was detected")
	}
}
