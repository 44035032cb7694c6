package fsync

import "syscall"

// direct is the system call itself, on the calling goroutine (which keeps
// its P until the runtime takes it back).
func direct(fd uintptr, o op) error {
	for {
		var err error
		if o == opSyncData {
			err = syscall.Fdatasync(int(fd))
		} else {
			err = syscall.Fsync(int(fd))
		}
		if err != syscall.EINTR {
			return err
		}
	}
}
