package main

// backup and restore: a backup of a running server's ledger, written whole
// or not at all, and its restore into a new data directory.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/hookledger/hookledger/adapters/backup"
)

func backupCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	apiURL := fs.String("url", envOr("HOOKLEDGER_URL", "http://127.0.0.1:8080"), "the running server (its embedded store is checkpointed while it serves)")
	key := fs.String("key", os.Getenv("HOOKLEDGER_KEY"), "an admin API key (or HOOKLEDGER_KEY)")
	out := fs.String("out", "", "the file to write the backup to (a tar); written whole or not at all")
	if code, ok := parseFlags(fs, args, os.Stderr); !ok {
		return code
	}
	if err := checkServerURL(*apiURL, *key); err != nil {
		fmt.Fprintln(os.Stderr, "hookledger backup:", strings.Replace(err.Error(), "(auditor or admin)", "(admin)", 1))
		return 2
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "hookledger backup: --out FILE is needed (the backup is a tar of the ledger's files)")
		return 2
	}
	if err := checkOut(*out); err != nil {
		fmt.Fprintln(os.Stderr, "hookledger backup:", err)
		return 2
	}
	var m backup.Manifest
	var size int64
	err := writeWhole(*out, func(w io.Writer) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*apiURL, "/")+"/v1/backup", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+*key)
		// No timeout: a backup is as long as the ledger is large. The
		// manifest at its end says whether it arrived whole.
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
			var problem struct{ Detail string }
			if json.Unmarshal(body, &problem) == nil && problem.Detail != "" {
				return fmt.Errorf("%s: %s", res.Status, problem.Detail)
			}
			return fmt.Errorf("%s: %s", res.Status, body)
		}
		cw := &countingWriter{w: w}
		tee := io.TeeReader(res.Body, cw)
		if m, err = backup.Read(tee, func(_ string, _ int64, r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }); err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, tee) // the tar's closing blocks
		size = cw.n
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookledger backup failed, nothing written:", err)
		return 1
	}
	fmt.Printf("backup of the ledger up to position %d (%d files, %d bytes) written to %s\n", m.Head, len(m.Files), size, *out)
	fmt.Println("not in it, keep them apart and safe:")
	for _, n := range m.NotIncluded {
		fmt.Println("  - " + n)
	}
	return 0
}

func restoreCmd(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := fs.String("from", "", "the backup file (hookledger backup --out)")
	dataDir := fs.String("data-dir", "", "the data directory to restore into: a new one (or an empty one)")
	if code, ok := parseFlags(fs, args, os.Stderr); !ok {
		return code
	}
	if *from == "" || *dataDir == "" {
		fmt.Fprintln(os.Stderr, "usage: hookledger restore --from BACKUP.tar --data-dir NEW_DIR")
		return 2
	}
	f, err := os.Open(*from)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookledger restore:", err)
		return 2
	}
	defer f.Close()
	m, err := backup.Restore(f, *dataDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookledger restore failed, nothing restored:", err)
		if errors.Is(err, backup.ErrIncomplete) || errors.Is(err, backup.ErrDamaged) {
			fmt.Fprintln(os.Stderr, "take the backup again, or restore an older one")
		}
		return 1
	}
	fmt.Printf("restored the ledger up to position %d (backup of %s) into %s\n", m.Head, m.CreatedAt.Format("2006-01-02T15:04:05Z"), *dataDir)
	fmt.Printf("next:\n  hookledger verify --data-dir %s --public-key <the seal public key you pinned> --expect-head %d\n", *dataDir, m.Head)
	fmt.Printf("  then serve it with the ledger's seal key (%s/audit/seal.key, or --seal-key-file) and its master key (HOOKLEDGER_MASTER_KEY or --master-key-file)\n", *dataDir)
	return 0
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
