package pebblestore_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

const crashChildEnv = "PEBBLESTORE_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

func payloadFor(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return []byte(`{"id":"` + id + `","check":"` + hex.EncodeToString(h[:]) + `","pad":"` + strings.Repeat("x", 700) + `"}`)
}

// crashChild appends for ever from 16 goroutines, printing one line per
// acknowledged event: "ack <stream> <revision> <position> <id>". The parent
// kills it with SIGKILL at a random moment.
func crashChild(dir string) {
	s, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			stream := fmt.Sprintf("crash-%d", g)
			exp := domain.NoStream
			if last, err := s.ReadStream(ctx, stream, domain.RevisionEnd, domain.Backward, 1); err == nil {
				exp = domain.Exact(last[0].Revision)
			} else if !errors.Is(err, domain.ErrStreamNotFound) {
				fmt.Fprintln(os.Stderr, "read head:", err)
				os.Exit(2)
			}
			for i := 0; ; i++ {
				n := 1 + i%3
				evs := make([]domain.EventData, n)
				for j := range evs {
					id := domain.FormatUUID([]byte(fmt.Sprintf("%04d%06d%06d", g, i, j)))
					evs[j] = domain.EventData{ID: id, Type: "crash.test", Data: payloadFor(id), Metadata: []byte(`{}`)}
				}
				res, err := s.Append(ctx, stream, exp, evs...)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				var b strings.Builder
				for j, e := range evs {
					fmt.Fprintf(&b, "ack %s %d %d %s\n", stream, res.Revision-uint64(n-1-j), uint64(res.Position)-uint64(n-1-j), e.ID)
				}
				out.Lock()
				os.Stdout.WriteString(b.String())
				out.Unlock()
				exp = domain.Exact(res.Revision)
			}
		}(g)
	}
	wg.Wait()
}

type ack struct {
	stream string
	rev    uint64
	pos    domain.Position
	id     string
}

// TestSurvivesKill9 kills a child process that is appending, several times at
// random moments, and checks after each kill that every acknowledged event is
// there, at its revision and position, with valid checksums and $all in order.
func TestSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped under -short")
	}
	dir := t.TempDir()
	var acks []ack
	for round := 1; round <= 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Let it write for a random while after its first acknowledgement.
		first, ok := <-lines
		if !ok {
			cmd.Wait()
			t.Fatalf("round %d: child wrote nothing: %s", round, stderr.String())
		}
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		got := 0
		for _, l := range append([]string{first}, drain(lines)...) {
			a, ok := parseAck(l)
			if !ok {
				continue // a line cut by the kill was never fully acknowledged to us
			}
			acks = append(acks, a)
			got++
		}
		if got == 0 {
			t.Fatalf("round %d: no acknowledged appends", round)
		}
		verifyAfterCrash(t, dir, acks, round)
	}
}

func drain(ch chan string) []string {
	var out []string
	for l := range ch {
		out = append(out, l)
	}
	return out
}

func parseAck(l string) (ack, bool) {
	f := strings.Fields(l)
	if len(f) != 5 || f[0] != "ack" || len(f[4]) != 36 {
		return ack{}, false
	}
	rev, err1 := strconv.ParseUint(f[2], 10, 64)
	pos, err2 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return ack{}, false
	}
	return ack{stream: f[1], rev: rev, pos: domain.Position(pos), id: f[4]}, true
}

func verifyAfterCrash(t *testing.T, dir string, acks []ack, round int) {
	t.Helper()
	s, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer s.Close()
	ctx := context.Background()
	byPos := map[domain.Position]domain.RecordedEvent{}
	nextRev := map[string]uint64{}
	var last domain.Position
	for from := domain.Position(0); ; {
		page, err := s.ReadAll(ctx, from, 1000)
		if err != nil {
			t.Fatalf("round %d: read all (checksums): %v", round, err)
		}
		for _, e := range page {
			if e.Position != last+1 {
				t.Fatalf("round %d: $all jumps from %d to %d", round, last, e.Position)
			}
			if e.Revision != nextRev[e.Stream] {
				t.Fatalf("round %d: %s revision %d, want %d", round, e.Stream, e.Revision, nextRev[e.Stream])
			}
			if string(e.Data) != string(payloadFor(e.ID)) {
				t.Fatalf("round %d: event %s at %d has torn or foreign data", round, e.ID, e.Position)
			}
			nextRev[e.Stream]++
			last = e.Position
			byPos[e.Position] = e
		}
		if len(page) < 1000 {
			break
		}
		from = last + 1
	}
	for _, a := range acks {
		e, ok := byPos[a.pos]
		if !ok || e.ID != a.id || e.Stream != a.stream || e.Revision != a.rev {
			t.Fatalf("round %d: acknowledged %s %s@%d (position %d) is lost or changed: found %+v", round, a.id, a.stream, a.rev, a.pos, e.ID)
		}
		got, err := s.ReadStream(ctx, a.stream, a.rev, domain.Forward, 1)
		if err != nil || len(got) != 1 || got[0].ID != a.id {
			t.Fatalf("round %d: stream read of acknowledged %s@%d: %v", round, a.stream, a.rev, err)
		}
	}
	t.Logf("round %d: %d acknowledged events intact, %d events in $all", round, len(acks), len(byPos))
}
