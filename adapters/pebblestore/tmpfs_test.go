//go:build linux

package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// mountTmpfs mounts a small tmpfs for a real disk-full test, or skips saying
// why (it needs root and a kernel that lets the test mount).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("mounts a tmpfs; skipped under -short")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the disk-full behaviour is covered by TestAppendsRefusedWhileTheDiskIsFull with a fake free-space probe", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file until the file system has at most leave bytes free.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		free, _ := freeBytes(dir)
		if free <= leave {
			return p
		}
		n := int64(len(chunk))
		if free-leave < n {
			n = free - leave
		}
		if _, err := f.Write(chunk[:n]); err != nil {
			return p
		}
	}
}

func bigEvent(i int) domain.EventData {
	return domain.EventData{ID: domain.FormatUUID([]byte(fmt.Sprintf("%016d", i))), Type: "t",
		Data: []byte(`{"pad":"` + strings.Repeat("z", 100<<10) + `"}`)}
}

// TestDiskFullOnARealFileSystem fills a tmpfs: appends are refused before
// Pebble can hit ENOSPC, reads go on, and appends resume once space is freed.
func TestDiskFullOnARealFileSystem(t *testing.T) {
	dir := mountTmpfs(t, "160m")
	s, err := Open(filepath.Join(dir, "data"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "a", domain.Any, bigEvent(0)); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, dir, DefaultMinFreeBytes/2)
	time.Sleep(freeCheckEvery + 10*time.Millisecond)
	_, err = s.Append(ctx, "a", domain.Any, bigEvent(1))
	if !errors.Is(err, domain.ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if evs, err := s.ReadAll(ctx, 0, 10); err != nil || len(evs) != 1 {
		t.Fatalf("reads on a full disk: %d %v", len(evs), err)
	}
	if err := s.Health(); err == nil {
		t.Fatal("health is fine on a full disk")
	}
	os.Remove(filler)
	time.Sleep(freeCheckEvery + 10*time.Millisecond)
	if _, err := s.Append(ctx, "a", domain.Any, bigEvent(2)); err != nil {
		t.Fatalf("append after space was freed: %v", err)
	}
	s.Close()

	// A restart on a still-full disk fails once, with the reason.
	filler = fill(t, dir, DefaultMinFreeBytes/2)
	_, err = Open(filepath.Join(dir, "data"), Options{})
	var df *DiskFullError
	if !errors.As(err, &df) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("open on a full disk: %v", err)
	}
	os.Remove(filler)
}

// TestENOSPCInsidePebbleDoesNotKillTheProcess turns the reserve off and fills
// the disk to the last byte: Pebble's "fatal commit error" becomes an append
// error, the store refuses later appends and says why, and the process (this
// test) lives on.
func TestENOSPCInsidePebbleDoesNotKillTheProcess(t *testing.T) {
	dir := mountTmpfs(t, "48m")
	s, err := Open(filepath.Join(dir, "data"), Options{MinFreeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "a", domain.Any, bigEvent(0)); err != nil {
		t.Fatal(err)
	}
	fill(t, dir, 0)
	var appendErr error
	for i := 1; i < 50 && appendErr == nil; i++ {
		_, appendErr = s.Append(ctx, "a", domain.Any, bigEvent(i))
	}
	if appendErr == nil {
		t.Fatal("a full disk took 50 appends of 100 KiB")
	}
	t.Logf("append on a full disk: %v", appendErr)
	if s.Health() == nil {
		t.Fatal("health is fine after a failed commit")
	}
	if _, err := s.Append(ctx, "a", domain.Any, bigEvent(99)); err == nil {
		t.Fatal("an append succeeded after a failed commit")
	}
}
