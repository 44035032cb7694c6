//go:build !cgo || !linux

package fsync

// threadsFor: without cgo there is no thread outside the Go scheduler to
// hand a sync to, so every sync is direct.
func threadsFor() *helper { return nil }

// helper has no threads here.
type helper struct{}

func (*helper) do(fd uintptr, o op) error { return direct(fd, o) }

// helped reports how many syncs the helper threads answered: none here.
func helped() uint64 { return 0 }
