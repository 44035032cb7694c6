//go:build !linux

package fsync

import "syscall"

// direct is the system call itself, on the calling goroutine. Without
// fdatasync, both syncs are fsync.
func direct(fd uintptr, _ op) error {
	for {
		if err := syscall.Fsync(int(fd)); err != syscall.EINTR {
			return err
		}
	}
}
