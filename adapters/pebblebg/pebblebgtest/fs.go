// Package pebblebgtest holds what the stores' tests of failing background
// work share: a file system that refuses new tables on demand.
package pebblebgtest

import (
	"errors"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrRefused is the error of a table creation that FS refuses.
var ErrRefused = errors.New("injected: tables cannot be created")

// FS refuses to create tables and blob files while Refuse is set, as a full
// disk or a directory that became unwritable would: Pebble's flushes and
// compactions then fail, and it retries them without end. Everything else
// (logs, the manifest) goes through.
type FS struct {
	vfs.FS
	Refuse  atomic.Bool
	Refused atomic.Int64 // creations refused so far
}

func (f *FS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if f.Refuse.Load() && (strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")) {
		f.Refused.Add(1)
		return nil, ErrRefused
	}
	return f.FS.Create(name, cat)
}
