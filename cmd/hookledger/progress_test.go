package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// TestProgressOnATerminalOnly runs verify, export and copy under a pseudo
// terminal (util-linux `script`): each draws a progress bar there, none with
// --quiet, and none when its output is not a terminal.
func TestProgressOnATerminalOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped under -short")
	}
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no `script` (util-linux) to give the command a terminal")
	}
	dir := t.TempDir()
	s, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmds := &domain.Commands{Store: s, Now: time.Now, NewEventID: ids.NewEventID}
	for i := 0; i < 300; i++ {
		if _, _, err := cmds.CreateApplication(context.Background(), domain.CreateApplication{ApplicationID: fmt.Sprintf("app_%d", i), Name: "n"}, domain.Metadata{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if _, _, err := audit.LoadOrCreateKey(audit.KeyPath(dir)); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"verify", []string{"verify", "--data-dir", dir}},
		{"rebuild", []string{"rebuild", "--data-dir", dir, "--log-level", "error"}},
		{"export", []string{"export", "--data-dir", dir, "--out", filepath.Join(t.TempDir(), "e.ndjson")}},
		{"copy", []string{"copy", "--from", dir, "--to", filepath.Join(t.TempDir(), "copy")}},
	} {
		onTTY := func(extra ...string) string {
			cmd := exec.Command(scriptBin, "-qfec", bin+" "+strings.Join(append(c.args, extra...), " "), "/dev/null")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s on a terminal: %v: %s", c.name, err, out)
			}
			return string(out)
		}
		if out := onTTY(); !strings.Contains(out, c.name+" ") || !strings.Contains(out, "events") || !strings.Contains(out, "%") {
			t.Errorf("%s on a terminal shows no progress bar: %q", c.name, out)
		}
		if out := onTTY("--quiet"); strings.Contains(out, "%") {
			t.Errorf("%s --quiet on a terminal drew a bar: %q", c.name, out)
		}
		if c.name == "copy" {
			continue // the destination exists now; the redirected run is below with a new one
		}
		out, code := runCLI(t, c.args...)
		if code != 0 || strings.Contains(out, "%") || strings.Contains(out, "\r") {
			t.Errorf("%s redirected: %d %q", c.name, code, out)
		}
	}
	out, code := runCLI(t, "copy", "--from", dir, "--to", filepath.Join(t.TempDir(), "copy2"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || strings.Contains(out, "\r") || strings.Contains(out, "%") || len(lines) != 4 || !strings.HasPrefix(lines[0], "copied ") || !strings.Contains(lines[1], "data keys") {
		t.Errorf("copy redirected prints its summary and what to do next, no bar: %d %q", code, out)
	}
}
