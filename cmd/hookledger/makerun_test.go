package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRunLeavesNoOrphan: `make run` execs the server (no shell between
// make and it), and a signal to make stops the server with it.
func TestMakeRunLeavesNoOrphan(t *testing.T) {
	if testing.Short() {
		t.Skip("builds with make and runs the server; skipped under -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on this machine")
	}
	root, _ := filepath.Abs("../..")
	addr := freePort(t)
	cmd := exec.Command("make", "--no-print-directory", "run", "ARGS=--data-dir "+t.TempDir()+" --listen "+addr)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	up := func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}
	deadline := time.Now().Add(3 * time.Minute)
	for !up() {
		if time.Now().After(deadline) {
			t.Fatalf("make run never served: %s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	kids, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/task/" + strconv.Itoa(cmd.Process.Pid) + "/children")
	if err == nil {
		for _, k := range strings.Fields(string(kids)) {
			comm, _ := os.ReadFile("/proc/" + k + "/comm")
			if c := strings.TrimSpace(string(comm)); c != "hookledger" {
				t.Fatalf("make's child is %q, not the server: the recipe must exec it", c)
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	deadline = time.Now().Add(20 * time.Second)
	for up() {
		if time.Now().After(deadline) {
			t.Fatal("the server outlived make: an orphan")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
