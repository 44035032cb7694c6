package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/backup"
	"github.com/hookledger/hookledger/domain"
)

// fakeSource makes checkpoints of a few files, as a ledger and a key store
// would, and a seal key beside them.
func fakeSource(t *testing.T) backup.Source {
	t.Helper()
	data := t.TempDir()
	write := func(dir string, files map[string]string) error {
		if err := os.Mkdir(dir, 0o750); err != nil {
			return err
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	return backup.Source{
		Ledger: func(dir string) (domain.Position, error) {
			return 42, write(dir, map[string]string{"000001.sst": string(bytes.Repeat([]byte("ledger "), 3000)), "MANIFEST-000001": "manifest", "ledger-head": "head"})
		},
		Keys:    func(dir string) error { return write(dir, map[string]string{"000002.sst": "wrapped keys"}) },
		TempDir: data,
		Now:     func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) },
	}
}

func take(t *testing.T, src backup.Source) []byte {
	t.Helper()
	var buf bytes.Buffer
	m, err := backup.Write(context.Background(), src, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.Head != 42 || len(m.Files) != 4 {
		t.Fatalf("manifest %+v", m)
	}
	if left, _ := filepath.Glob(filepath.Join(src.TempDir, backup.TempPrefix+"*")); len(left) != 0 {
		t.Fatalf("the checkpoints were left behind: %v", left)
	}
	return buf.Bytes()
}

func TestABackupRestoresWhole(t *testing.T) {
	src := fakeSource(t)
	b := take(t, src)
	dir := filepath.Join(t.TempDir(), "restored")
	m, err := backup.Restore(bytes.NewReader(b), dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"MANIFEST-000001": "manifest", "keys/000002.sst": "wrapped keys", "ledger-head": "head"} {
		if got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name))); err != nil || string(got) != want {
			t.Errorf("%s restored as %q (%v), want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, backup.ManifestName)); err == nil {
		t.Error("the manifest was restored into the data directory")
	}
	if m.Head != 42 || m.CreatedAt != src.Now() {
		t.Errorf("manifest %+v", m)
	}
	// Into a directory that holds something: refused, nothing changed.
	if _, err := backup.Restore(bytes.NewReader(b), dir); err == nil {
		t.Fatal("a restore over a data directory was not refused")
	}
}

// TestACutOrAlteredBackupIsRefused: a backup cut anywhere before the end of
// its manifest, or with one byte of a file changed, is refused, and a
// restore of it leaves no directory behind. (The tar's two closing blocks
// of zeros prove nothing the manifest does not: a backup without them is
// read whole.)
func TestACutOrAlteredBackupIsRefused(t *testing.T) {
	b := take(t, fakeSource(t))
	parent := t.TempDir()
	dir := filepath.Join(parent, "restored")
	check := func(what string, bad []byte, want error) {
		t.Helper()
		if _, err := backup.Read(bytes.NewReader(bad), func(_ string, _ int64, r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }); err == nil {
			t.Fatalf("%s: read without an error", what)
		}
		_, err := backup.Restore(bytes.NewReader(bad), dir)
		if !errors.Is(err, want) {
			t.Fatalf("%s: restore: %v, want %v", what, err, want)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Fatalf("%s: a refused restore left %v", what, entries)
		}
	}
	manifestEnd := bytes.LastIndex(b, []byte("\n}")) + 1 // its last byte
	for _, n := range []int{0, 100, 512, 1024, len(b) / 2, manifestEnd - 200, manifestEnd} {
		check("cut at "+strconv.Itoa(n), b[:n], backup.ErrIncomplete)
	}
	at := bytes.Index(b, []byte("ledger ledger"))
	altered := bytes.Clone(b)
	altered[at+3] ^= 1
	check("one byte of a file changed", altered, backup.ErrDamaged)
}

func TestAnEntryOutsideTheDataDirectoryIsRefused(t *testing.T) {
	for _, name := range []string{"../escape", "/etc/passwd", "a/../../b", "./a"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: 1, Mode: 0o600})
		tw.Write([]byte("x"))
		tw.Close()
		parent := t.TempDir()
		if _, err := backup.Restore(&buf, filepath.Join(parent, "d")); !errors.Is(err, backup.ErrDamaged) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(parent, "escape")); err == nil {
			t.Errorf("%s was written outside the directory", name)
		}
	}
}
