package pebblestore

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// TestLockedByOther: the lock call's refusal is told apart from a file the
// process may not open (a PathError), which is not "in use".
func TestLockedByOther(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{syscall.EAGAIN, true},
		{syscall.EACCES, true},
		{fmt.Errorf("pebble: %w", syscall.EAGAIN), true},
		{&fs.PathError{Op: "open", Path: "/data/LOCK", Err: syscall.EACCES}, false},
		{fmt.Errorf("open: %w", &fs.PathError{Op: "open", Path: "/data/MANIFEST", Err: syscall.EACCES}), false},
		{syscall.ENOSPC, false},
	} {
		if got := lockedByOther(c.err); got != c.want {
			t.Errorf("lockedByOther(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A read-only open of a directory without a store says so, in words the
// tools pass on, instead of Pebble's "database does not exist".
func TestReadOnlyOpenOfNoLedgerSaysSo(t *testing.T) {
	_, err := Open(t.TempDir(), Options{ReadOnly: true})
	if !errors.Is(err, ErrNoLedger) {
		t.Fatalf("read-only open of an empty directory: %v, want ErrNoLedger", err)
	}
}

// MustExist: a writable open that would have created a store refuses.
func TestMustExistCreatesNoStore(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, Options{MustExist: true}); !errors.Is(err, ErrNoLedger) {
		t.Fatalf("open of an empty directory with MustExist: %v, want ErrNoLedger", err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, Options{MustExist: true})
	if err != nil {
		t.Fatalf("open of an existing store with MustExist: %v", err)
	}
	s.Close()
}
