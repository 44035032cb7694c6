package fsync

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestSyncAFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("durable"); err != nil {
		t.Fatal(err)
	}
	if err := SyncData(f); err != nil {
		t.Fatalf("SyncData: %v", err)
	}
	if err := Sync(f); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// A descriptor that cannot be synced (a pipe: EINVAL) gets the system
// call's own error back, named for the call and the file.
func TestTheSystemCallsErrorComesBack(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, c := range []struct {
		name string
		sync func(*os.File) error
		op   string
	}{{"Sync", Sync, "fsync"}, {"SyncData", SyncData, "fdatasync"}} {
		err := c.sync(w)
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Op != c.op || pe.Path != w.Name() || !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("%s of a pipe: %v, want %s %s: EINVAL", c.name, err, c.op, w.Name())
		}
	}
}

func TestAClosedFileIsRefused(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := SyncData(f); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("SyncData of a closed file: %v, want os.ErrClosed", err)
	}
}

// crowded tells whether goroutines wait for the Ps: with one P and
// goroutines spinning, they do; once they stop, no one does.
func TestCrowdedWhileGoroutinesWaitForAP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
			}
		}()
	}
	runtime.Gosched() // let them start: with one P, the rest wait
	busy := crowded()
	stop.Store(true)
	wg.Wait()
	if !busy {
		t.Fatal("crowded() is false while three goroutines wait for the only P")
	}
	quiet := false
	for range 100 { // other tests' goroutines may still be finishing
		if quiet = !crowded(); quiet {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !quiet {
		t.Fatal("crowded() stays true with nothing to run")
	}
}

// FS wraps the files of a real file system, whose syncs then go through the
// helper, and leaves alone those whose descriptor it cannot borrow.
func TestFSWrapsFilesItCanBorrow(t *testing.T) {
	dir := t.TempDir()
	disk := FS(vfs.Default)
	f, err := disk.Create(filepath.Join(dir, "000001.log"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(*syncFile); !ok {
		t.Fatalf("a file of the default FS came back as %T, want *syncFile", f)
	}
	f.Write([]byte("record"))
	if err := f.SyncData(); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := disk.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("directory sync: %v", err)
	}
	d.Close()

	mem := FS(vfs.NewMem())
	m, err := mem.Create("a", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*syncFile); ok {
		t.Fatal("an in-memory file was wrapped")
	}
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.Create(filepath.Join(dir, "missing", "x"), vfs.WriteCategoryUnspecified); err == nil {
		t.Fatal("creating in a missing directory succeeded")
	}
}
