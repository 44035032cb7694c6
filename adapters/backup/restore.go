package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hookledger/hookledger/adapters/fsync"
)

// Restore reads a backup into dir, a data directory that must not exist
// yet or be empty. The files are written beside it under a temporary name,
// synced, and the directory renamed into place only once the whole backup
// matched its manifest: a backup cut short or damaged leaves nothing.
func Restore(r io.Reader, dir string) (Manifest, error) {
	dir = filepath.Clean(dir)
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return Manifest{}, fmt.Errorf("restore into %s: the directory is not empty (restore into a new one)", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, fmt.Errorf("restore into %s: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restoring-*")
	if err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	dirs := map[string]bool{tmp: true}
	m, err := Read(r, func(name string, _ int64, r io.Reader) error {
		path := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return err
		}
		for d := filepath.Dir(path); len(d) >= len(tmp); d = filepath.Dir(d) {
			dirs[d] = true
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := fsync.Sync(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return Manifest{}, err
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return Manifest{}, err
		}
	}
	os.Remove(dir) // an empty one, checked above
	if err := os.Rename(tmp, dir); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	done = true
	return m, syncDir(parent)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return fsync.Sync(f)
}
