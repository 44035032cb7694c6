//go:build cgo && linux

package cmalloc

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The cap is set at load time, so each case runs the test binary afresh with
// the environment under test and reads what the child reports.
func TestTheArenaCapIsSetAtLoadUnlessTheOperatorChose(t *testing.T) {
	if os.Getenv("CMALLOC_CHILD") != "" {
		if Limited() {
			os.Stdout.WriteString("limited\n")
		} else {
			os.Stdout.WriteString("not limited\n")
		}
		return
	}
	for _, tc := range []struct {
		env  string
		want string
	}{
		{"", "limited"},
		{"MALLOC_ARENA_MAX=4", "not limited"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestTheArenaCapIsSetAtLoadUnlessTheOperatorChose$")
		cmd.Env = append(withoutArenaMax(os.Environ()), "CMALLOC_CHILD=1")
		if tc.env != "" {
			cmd.Env = append(cmd.Env, tc.env)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child with %q: %v", tc.env, err)
		}
		if got := strings.SplitN(string(out), "\n", 2)[0]; got != tc.want {
			t.Errorf("with %q the child reports %q; want %q", tc.env, got, tc.want)
		}
	}
}

func withoutArenaMax(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "MALLOC_ARENA_MAX=") {
			out = append(out, e)
		}
	}
	return out
}
