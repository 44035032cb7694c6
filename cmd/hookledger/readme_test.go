package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeCurlSession runs the README's curl session, as written, against
// the binary started the way `make run` starts it (same flags, same admin key,
// same port). It checks that the session creates the subscription, publishes
// the message, the receiver verifies it, and the timeline shows the
// acknowledged attempt.
func TestReadmeCurlSession(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	// Free ports, passed as the README says (HL, RECV_PORT): the session
	// runs even where 8080 or 9000 is taken.
	addr, recv := freePort(t), freePort(t)
	_, recvPort, _ := net.SplitHostPort(recv)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Try it: a curl session.*?```sh\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no curl session block")
	}
	makefile, _ := os.ReadFile("../../Makefile")
	km := regexp.MustCompile(`DEV_ADMIN_KEY \?= (\S+)`).FindSubmatch(makefile)
	if km == nil {
		t.Fatal("Makefile has no DEV_ADMIN_KEY")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "hookledger")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// As `make run`: HOOKLEDGER_ADMIN_KEY=$(DEV_ADMIN_KEY) serve --data-dir ./data --allow-private-targets
	srv := exec.CommandContext(ctx, bin, "serve", "--data-dir", "./data", "--allow-private-targets", "--log-level", "warn", "--listen", addr)
	srv.Dir = dir
	srv.Env = append(os.Environ(), "HOOKLEDGER_ADMIN_KEY="+string(km[1]))
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.Command("curl", "-s", "http://"+addr+"/readyz").Output()
		if strings.Contains(string(out), "ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %s", srvLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for { // the bootstrap admin key is appended once the views are ready
		code, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer "+string(km[1]), "http://"+addr+"/v1/keys").Output()
		if string(code) == "200" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin key not usable: %s", srvLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sh := exec.CommandContext(ctx, "bash", "-e", "-c", string(m[1]))
	sh.Dir = dir
	sh.Env = append(os.Environ(), "HL=http://"+addr, "RECV_PORT="+recvPort)
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the README session failed: %v\n%s\nserver log:\n%s", err, out, srvLog.String())
	}
	text := string(out)
	for _, want := range []string{
		`"id":"app_shop"`,
		`"id":"sub_orders"`,
		`verified webhook msg_`,
		`"type":"delivery.scheduled"`,
		`"type":"delivery.attempt_acknowledged"`,
		`"status_code":200`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the session's output lacks %s:\n%s", want, text)
		}
	}
}
