package fsync

import (
	"os"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// op is what a sync asks of the disk.
type op int32

const (
	// opSync is fsync(2): the file's data and metadata.
	opSync op = iota
	// opSyncData is fdatasync(2): the data and the metadata needed to read
	// it back.
	opSyncData
)

func (o op) String() string {
	if o == opSyncData {
		return "fdatasync"
	}
	return "fsync"
}

// Sync makes f durable as f.Sync does (fsync); on a crowded process, without
// holding a P while the disk works.
func Sync(f *os.File) error { return run(f, opSync, f.Name()) }

// SyncData makes f's data durable as fdatasync does; on a crowded process,
// without holding a P while the disk works.
func SyncData(f *os.File) error { return run(f, opSyncData, f.Name()) }

// conn is a file whose descriptor can be borrowed safely (*os.File).
type conn interface {
	SyscallConn() (syscall.RawConn, error)
}

// run performs o on c's descriptor through the helper threads, or directly
// when there are none. Control keeps the descriptor open until it returns.
func run(c conn, o op, name string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return &os.PathError{Op: o.String(), Path: name, Err: err}
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = do(fd, o) }); err != nil {
		// Control fails only for a closed file (with an error of the
		// runtime's poller); name it as os.File.Sync would.
		return &os.PathError{Op: o.String(), Path: name, Err: os.ErrClosed}
	}
	if serr != nil {
		return &os.PathError{Op: o.String(), Path: name, Err: serr}
	}
	return nil
}

// FS returns base with the Sync and SyncData of every file it creates or
// opens for writing (and of directories) done as this package does them.
// Files whose descriptor cannot be borrowed (an in-memory FS, a test's
// fault-injecting wrapper) are returned as base made them.
func FS(base vfs.FS) vfs.FS { return fs{base} }

type fs struct{ vfs.FS }

func (f fs) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, c)
	return wrap(name, file, err)
}

func (f fs) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, c, opts...)
	return wrap(name, file, err)
}

func (f fs) OpenDir(name string) (vfs.File, error) {
	file, err := f.FS.OpenDir(name)
	return wrap(name, file, err)
}

func (f fs) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, c)
	return wrap(newname, file, err)
}

// wrap gives file this package's syncs when its descriptor can be borrowed.
func wrap(name string, file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	if c, ok := file.(conn); ok {
		return &syncFile{File: file, c: c, name: name}, nil
	}
	return file, nil
}

// syncFile is a vfs.File whose syncs go through this package.
type syncFile struct {
	vfs.File
	c    conn
	name string
}

func (f *syncFile) Sync() error     { return run(f.c, opSync, f.name) }
func (f *syncFile) SyncData() error { return run(f.c, opSyncData, f.name) }
