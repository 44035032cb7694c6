package pebblestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// The fault-injection tests damage copies of a real data directory (a byte
// flipped, a file cut short) and require one of two outcomes: the store
// refuses to open or to read with an error, or every acknowledged event reads
// back exactly. A store that opens and serves a shorter or different ledger
// without an error is the failure they exist to catch.

type written struct {
	stream string
	data   []byte
}

// buildLedger appends n events over a few streams (about 150 KB, so the WAL
// spans several 32 KiB blocks) and waits for the head mark to cover them.
func buildLedger(t *testing.T, dir string, n int) (*Store, []written) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out []written
	for i := 0; i < n; i++ {
		st := fmt.Sprintf("stream-%d", i%5)
		data := []byte(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("p", 400)))
		ev := domain.EventData{ID: domain.FormatUUID([]byte(fmt.Sprintf("%016d", i))), Type: "t", Data: data}
		if _, err := s.Append(ctx, st, domain.Any, ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, written{st, data})
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.mark.Written() < uint64(n) {
		if time.Now().After(deadline) {
			t.Fatal("head mark never caught up")
		}
		time.Sleep(time.Millisecond)
	}
	return s, out
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o750); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func filesLike(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) || (suffix == "MANIFEST" && strings.HasPrefix(e.Name(), "MANIFEST-")) {
			if fi, _ := e.Info(); fi != nil && fi.Size() > 0 {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkWholeOrRefused opens dir and reads everything; it fails the test if
// the store serves a ledger that differs from want without an error.
// It returns how the store answered: "intact" or "refused: ...".
func checkWholeOrRefused(t *testing.T, dir string, want []written, readOnly bool) string {
	t.Helper()
	s, err := Open(dir, Options{ReadOnly: readOnly})
	if err != nil {
		return "refused at open: " + err.Error()
	}
	defer s.Close()
	ctx := context.Background()
	var got []domain.RecordedEvent
	for from := domain.Position(1); ; {
		page, err := s.ReadAll(ctx, from, 64)
		if err != nil {
			if errors.Is(err, domain.ErrCorrupt) && s.Health() == nil {
				t.Fatalf("a read met corruption (%v) and Health still says the store is fine", err)
			}
			return "refused at read: " + err.Error()
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		from = page[len(page)-1].Position + 1
	}
	if len(got) != len(want) {
		t.Fatalf("the store opened and served %d of %d acknowledged events without an error", len(got), len(want))
	}
	for i, ev := range got {
		if ev.Stream != want[i].stream || !bytes.Equal(ev.Data, want[i].data) {
			t.Fatalf("event %d served changed without an error", i+1)
		}
	}
	return "intact"
}

func flipByte(t *testing.T, path string, off int64) bool {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return false
		}
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return true
}

func offsetsFor(size int64, n int) []int64 {
	offs := []int64{0, 10, 50, 100, 1000, 10000, 30000, 60000, size - 1, size - 10, size - 100}
	for i := 0; i < n; i++ {
		offs = append(offs, size*int64(i)/int64(n))
	}
	var out []int64
	seen := map[int64]bool{}
	for _, o := range offs {
		if o >= 0 && o < size && !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}

// TestFlippedBytesNeverShortenTheLedger is the red-team reproduction: one
// byte XORed with 1 at many offsets of the WAL, the SSTables and the
// MANIFEST, on an image taken while the store ran (as after a crash) and on
// one taken after a clean stop.
func TestFlippedBytesNeverShortenTheLedger(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 8
	}
	const events = 300
	for _, image := range []string{"crash", "clean"} {
		t.Run(image, func(t *testing.T) {
			live := t.TempDir()
			s, want := buildLedger(t, live, events)
			if image == "clean" {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				defer s.Close()
			}
			base := filepath.Join(t.TempDir(), "base")
			copyDir(t, live, base)
			if got := checkWholeOrRefused(t, base, want, false); got != "intact" {
				t.Fatalf("undamaged image: %s", got)
			}
			refused := 0
			tried := 0
			for _, kind := range []string{".log", ".sst", "MANIFEST", HeadMarkFile} {
				for _, name := range filesLike(t, live, kind) {
					fi, _ := os.Stat(filepath.Join(live, name))
					for _, off := range offsetsFor(fi.Size(), n) {
						dir := filepath.Join(t.TempDir(), "copy")
						copyDir(t, live, dir)
						if !flipByte(t, filepath.Join(dir, name), off) {
							continue
						}
						tried++
						// Read-only first: verifying must not repair or change anything.
						if got := checkWholeOrRefused(t, dir, want, true); got != "intact" {
							refused++
						}
						checkWholeOrRefused(t, dir, want, false)
					}
				}
			}
			t.Logf("%s image: %d flips, %d refused, the rest read back whole", image, tried, refused)
			if tried < 20 {
				t.Fatalf("only %d flips tried: the image has too few files", tried)
			}
		})
	}
}

// TestTruncatedWALIsRefused cuts the WAL of a crash image short at many
// lengths: every cut that loses an acknowledged event must be refused.
func TestTruncatedWALIsRefused(t *testing.T) {
	live := t.TempDir()
	s, want := buildLedger(t, live, 300)
	defer s.Close()
	logs := filesLike(t, live, ".log")
	if len(logs) == 0 {
		t.Fatal("no WAL in the image")
	}
	fi, _ := os.Stat(filepath.Join(live, logs[len(logs)-1]))
	for _, cut := range []int64{0, 100, 32768, fi.Size() / 2, fi.Size() - 1000, fi.Size() - 1} {
		dir := filepath.Join(t.TempDir(), "copy")
		copyDir(t, live, dir)
		if err := os.Truncate(filepath.Join(dir, logs[len(logs)-1]), cut); err != nil {
			t.Fatal(err)
		}
		got := checkWholeOrRefused(t, dir, want, false)
		if got != "intact" && !strings.Contains(got, "ledger truncated") && !strings.Contains(got, "corrupt") {
			t.Fatalf("cut at %d: refused for another reason: %s", cut, got)
		}
		_, err := Open(dir, Options{})
		var te *domain.TruncatedError
		if got != "intact" && errors.As(err, &te) && (te.Head >= 300 || te.Known != 300) {
			t.Fatalf("cut at %d: truncation reported with wrong positions: %v", cut, err)
		}
	}
}

// TestReadOnlyOpenChangesNothing opens a crash image (a WAL to replay) read
// only, reads it, and checks that no file in the directory was created,
// changed or removed.
func TestReadOnlyOpenChangesNothing(t *testing.T) {
	live := t.TempDir()
	s, want := buildLedger(t, live, 120)
	defer s.Close()
	dir := filepath.Join(t.TempDir(), "copy")
	copyDir(t, live, dir)
	before := dirDigest(t, dir)
	if got := checkWholeOrRefused(t, dir, want, true); got != "intact" {
		t.Fatal(got)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Append(context.Background(), "x", domain.Any, domain.EventData{ID: domain.FormatUUID(make([]byte, 16)), Type: "t", Data: []byte(`{}`)}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("append to a read-only store: %v", err)
	}
	ro.Close()
	if after := dirDigest(t, dir); after != before {
		t.Fatalf("a read-only open changed the directory:\nbefore %s\nafter  %s", before, after)
	}
}

// dirDigest lists every file with its size and content hash (LOCK aside: an
// empty lock file may be created where the file system allows).
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d:%x ", e.Name(), len(data), crcOf(data))
	}
	return b.String()
}

// TestAppendsRefusedWhileTheDiskIsFull checks the reserve: appends are
// refused with an error that matches domain.ErrUnavailable while free space
// is under it, Health says why, and both clear when space returns.
func TestAppendsRefusedWhileTheDiskIsFull(t *testing.T) {
	free := int64(1 << 30)
	var freeMu = make(chan struct{}, 1)
	freeMu <- struct{}{}
	getFree := func(string) (int64, error) { <-freeMu; defer func() { freeMu <- struct{}{} }(); return free, nil }
	setFree := func(v int64) { <-freeMu; free = v; freeMu <- struct{}{} }
	s, err := Open(t.TempDir(), Options{FreeBytes: getFree, MinFreeBytes: 100 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ev := func(i int) domain.EventData {
		return domain.EventData{ID: domain.FormatUUID([]byte(fmt.Sprintf("%016d", i))), Type: "t", Data: []byte(`{}`)}
	}
	if _, err := s.Append(ctx, "a", domain.Any, ev(1)); err != nil {
		t.Fatal(err)
	}
	setFree(10 << 20)
	time.Sleep(freeCheckEvery + 10*time.Millisecond)
	_, err = s.Append(ctx, "a", domain.Any, ev(2))
	var df *DiskFullError
	if !errors.Is(err, domain.ErrUnavailable) || !errors.As(err, &df) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if h := s.Health(); !errors.Is(h, domain.ErrUnavailable) {
		t.Fatalf("health on a full disk: %v", h)
	}
	if evs, _ := s.ReadAll(ctx, 0, 10); len(evs) != 1 {
		t.Fatalf("reads go on while the disk is full: %d events", len(evs))
	}
	setFree(1 << 30)
	time.Sleep(freeCheckEvery + 10*time.Millisecond)
	if _, err := s.Append(ctx, "a", domain.Any, ev(3)); err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	if h := s.Health(); h != nil {
		t.Fatalf("health after space returned: %v", h)
	}
	s.Close()

	// A restart on a full disk fails once, clearly.
	dir := t.TempDir()
	_, err = Open(dir, Options{FreeBytes: func(string) (int64, error) { return 1 << 20, nil }})
	if !errors.As(err, &df) {
		t.Fatalf("open on a full disk: %v", err)
	}
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
