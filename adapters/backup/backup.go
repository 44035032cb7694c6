package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// Format names the backup format (the manifest's "format").
const Format = "hookledger-backup/1"

// ManifestName is the name of the manifest, the backup's last entry.
const ManifestName = "hookledger-backup.json"

// Manifest says what a backup holds.
type Manifest struct {
	Format    string          `json:"format"`
	CreatedAt time.Time       `json:"created_at"`
	Head      domain.Position `json:"head"` // every event up to it is in the backup
	Files     []File          `json:"files"`
	// NotIncluded says what a restore needs from elsewhere.
	NotIncluded []string `json:"not_included"`
}

// File is one file of a backup: its path in the data directory, its size and
// the SHA-256 of its content (hex).
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Source is what a backup is taken of.
type Source struct {
	// Ledger writes a checkpoint of the ledger into a directory that does
	// not exist yet, and answers the head every acknowledged event up to
	// which it holds (pebblestore.Store.Checkpoint).
	Ledger func(dir string) (domain.Position, error)
	// Keys writes a checkpoint of the key store (nil: payloads are not
	// encrypted; keystore.Store.Checkpoint).
	Keys func(dir string) error
	// TempDir is where the checkpoints are made: in the data directory's
	// file system, so that they are hard links, not copies. Removed after.
	TempDir string
	Now     func() time.Time
}

// NotIncluded is what every backup leaves out, and a restore needs.
var NotIncluded = []string{
	"the master key (HOOKLEDGER_MASTER_KEY or --master-key-file): kept apart from the data it protects; the restored ledger's payloads need it",
	"the seal signing key (audit/seal.key or --seal-key-file): kept apart too, as whoever holds it with the ledger could seal a rewritten history; the restored ledger is served only with the key that sealed it",
	"the views: folded again from the ledger when the restored data directory is first served",
}

// KeysDir is where the key store is in a data directory (and a backup).
const KeysDir = "keys"

// Write takes a backup of src and writes it to w as a tar stream, the
// manifest last. The checkpoints are removed when it returns.
func Write(ctx context.Context, src Source, w io.Writer) (Manifest, error) {
	tmp, err := os.MkdirTemp(src.TempDir, TempPrefix+"*")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	m := Manifest{Format: Format, CreatedAt: now().UTC(), NotIncluded: NotIncluded}
	ledger := filepath.Join(tmp, "ledger")
	if m.Head, err = src.Ledger(ledger); err != nil {
		return Manifest{}, err
	}
	// The key store after the ledger: a payload's key is created before
	// its message is appended, so every key the ledger copy names is in it.
	if src.Keys != nil {
		if err := src.Keys(filepath.Join(ledger, KeysDir)); err != nil {
			return Manifest{}, err
		}
	}
	tw := tar.NewWriter(w)
	add := func(name, path string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: fi.Size(), Mode: 0o600, ModTime: m.CreatedAt, Format: tar.FormatPAX}); err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tw, h), f)
		if err != nil {
			return err
		}
		if n != fi.Size() {
			return fmt.Errorf("%s changed size while it was copied (%d, then %d bytes)", name, fi.Size(), n)
		}
		m.Files = append(m.Files, File{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}
	err = filepath.WalkDir(ledger, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(ledger, path)
		return add(filepath.ToSlash(rel), path)
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	raw, _ := json.MarshalIndent(m, "", "  ")
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Size: int64(len(raw)), Mode: 0o600, ModTime: m.CreatedAt, Format: tar.FormatPAX}); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(raw); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := tw.Close(); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// TempPrefix starts the names of the checkpoints' directories in the data
// directory; a server removes those a crash left behind (RemoveLeftovers).
const TempPrefix = ".backup-"

// RemoveLeftovers removes the checkpoints a backup interrupted by a crash
// left in dir.
func RemoveLeftovers(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, TempPrefix+"*"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.RemoveAll(m); err != nil {
			return err
		}
	}
	return nil
}
