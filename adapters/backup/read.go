package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ErrIncomplete: the stream ended before the manifest: the backup was cut
// short (a failed download, a full disk).
var ErrIncomplete = errors.New("the backup is incomplete (no manifest at its end)")

// ErrDamaged: the backup's files do not match its manifest, or it is not a
// backup.
var ErrDamaged = errors.New("the backup is damaged")

// Read reads a backup, handing each file to fn (to write it somewhere, or
// io.Discard it) and checking every file against the manifest at its end.
// fn must read the whole file or fail. Only when Read returns no error is
// what fn was given a whole, unaltered backup.
func Read(r io.Reader, fn func(name string, size int64, r io.Reader) error) (Manifest, error) {
	tr := tar.NewReader(r)
	seen := map[string]File{}
	var order []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return Manifest{}, ErrIncomplete
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && len(order) == 0 {
			return Manifest{}, fmt.Errorf("%w: it ends before its first file (cut short, or not a backup at all)", ErrIncomplete)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Manifest{}, fmt.Errorf("%w: cut short after %d files", ErrIncomplete, len(order))
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: not a backup (%v)", ErrDamaged, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return Manifest{}, fmt.Errorf("%w: %s is not a regular file", ErrDamaged, hdr.Name)
		}
		if err := checkName(hdr.Name); err != nil {
			return Manifest{}, err
		}
		if hdr.Name == ManifestName {
			return readManifest(tr, hdr, seen, order)
		}
		if _, dup := seen[hdr.Name]; dup {
			return Manifest{}, fmt.Errorf("%w: %s appears twice", ErrDamaged, hdr.Name)
		}
		h := sha256.New()
		cr := &countingReader{r: io.TeeReader(tr, h)}
		if err := fn(hdr.Name, hdr.Size, cr); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return Manifest{}, fmt.Errorf("%w: cut short in %s", ErrIncomplete, hdr.Name)
			}
			return Manifest{}, err
		}
		if cr.n != hdr.Size {
			return Manifest{}, fmt.Errorf("%w: cut short in %s (%d of %d bytes)", ErrIncomplete, hdr.Name, cr.n, hdr.Size)
		}
		seen[hdr.Name] = File{Path: hdr.Name, Size: hdr.Size, SHA256: hex.EncodeToString(h.Sum(nil))}
		order = append(order, hdr.Name)
	}
}

func readManifest(tr *tar.Reader, hdr *tar.Header, seen map[string]File, order []string) (Manifest, error) {
	if hdr.Size > 64<<20 {
		return Manifest{}, fmt.Errorf("%w: a manifest of %d bytes", ErrDamaged, hdr.Size)
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: the manifest is cut short", ErrIncomplete)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: the manifest is not JSON: %v", ErrDamaged, err)
	}
	if m.Format != Format {
		return Manifest{}, fmt.Errorf("%w: format %q, this build reads %q", ErrDamaged, m.Format, Format)
	}
	if len(m.Files) != len(order) {
		return Manifest{}, fmt.Errorf("%w: the manifest lists %d files, the backup holds %d", ErrDamaged, len(m.Files), len(order))
	}
	for i, f := range m.Files {
		got := seen[f.Path]
		switch {
		case order[i] != f.Path:
			return Manifest{}, fmt.Errorf("%w: file %d is %s, the manifest lists %s", ErrDamaged, i+1, order[i], f.Path)
		case got.Size != f.Size || got.SHA256 != f.SHA256:
			return Manifest{}, fmt.Errorf("%w: %s differs from the manifest (%d bytes, sha256 %s; listed %d bytes, %s)", ErrDamaged, f.Path, got.Size, got.SHA256, f.Size, f.SHA256)
		}
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return Manifest{}, fmt.Errorf("%w: entries after the manifest", ErrDamaged)
	}
	return m, nil
}

// checkName refuses names that would write outside the directory a backup
// is restored into.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("%w: the entry %q is not a path inside a data directory", ErrDamaged, name)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
