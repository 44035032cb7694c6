package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/adapters/audit"
)

// TestWriteWholeLeavesNoPartialFile: a write that fails leaves neither a
// file of that name nor a temporary one, and an earlier file of that name as
// it was; one that succeeds replaces it whole.
func TestWriteWholeLeavesNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.ndjson")
	failing := func(w io.Writer) error {
		io.WriteString(w, `{"kind":"header"}`+"\n")
		return errors.New("the ledger could not be read")
	}
	if err := writeWhole(path, failing); err == nil {
		t.Fatal("a failed write reported success")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed write left %v", entries)
	}
	if err := writeWhole(path, func(w io.Writer) error { _, err := io.WriteString(w, "first\n"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := writeWhole(path, failing); err == nil {
		t.Fatal("a failed write reported success")
	}
	if got, _ := os.ReadFile(path); string(got) != "first\n" {
		t.Fatalf("a failed write changed the earlier file: %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the directory holds %v, want the one file", entries)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the export's mode is %v, want 0600", fi.Mode().Perm())
	}
}

// TestExportToCSVReportsAConversionFailure: a CSV conversion that fails
// fails the export, rather than being dropped after "exported".
func TestExportToCSVReportsAConversionFailure(t *testing.T) {
	var out bytes.Buffer
	_, err := exportTo(&out, true, func(w io.Writer) (audit.ExportSummary, error) {
		_, err := io.WriteString(w, "not json\n")
		return audit.ExportSummary{}, err
	})
	if err == nil || !strings.Contains(err.Error(), "CSV") {
		t.Fatalf("a line the conversion cannot read: %v", err)
	}
	out.Reset()
	sum, err := exportTo(&out, true, func(w io.Writer) (audit.ExportSummary, error) {
		_, err := io.WriteString(w, `{"kind":"event","position":7,"stream":"s-1","type":"t"}`+"\n")
		return audit.ExportSummary{Events: 1}, err
	})
	if err != nil || sum.Events != 1 || !strings.Contains(out.String(), "7,s-1,0,t") {
		t.Fatalf("a good conversion: %v %+v %q", err, sum, out.String())
	}
}
