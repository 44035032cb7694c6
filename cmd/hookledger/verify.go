package main

// verify: checks the ledger's hash chain and seals, and prints the report.

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/domain"
)

// printReport prints a verification's report. unpinned names the key it
// was checked against when the auditor gave none.
func printReport(rep audit.Report, pinned bool, unpinned string, asJSON bool) {
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(struct {
			audit.Report
			KeyPinned bool `json:"key_pinned"`
		}{rep, pinned})
		return
	}
	if rep.OK {
		fmt.Printf("OK: %d events, %d sealed by %d seals, %d not sealed yet (key %s)\n", rep.Events, rep.Sealed, rep.Seals, rep.Unsealed, rep.KeyID)
		fmt.Printf("  head: position %d\n", rep.Head)
		if ls := rep.LastSeal; ls != nil {
			fmt.Printf("  last seal: #%d at position %d (covers up to %d), hash %s, sealed at %s\n",
				ls.Index, ls.Position, ls.ToPosition, ls.Hash, ls.SealedAt.UTC().Format(time.RFC3339))
			fmt.Printf("  record these and pin them next time: --expect-head %d --expect-seal %s\n", rep.Head, ls.Hash)
		}
	} else {
		fmt.Printf("FAILED: %s at position %d: %s\n", rep.Problem.Kind, rep.Problem.Position, rep.Problem.Detail)
		fmt.Printf("  (checked %d events and %d seals before it)\n", rep.Events, rep.Seals)
	}
	if !pinned {
		fmt.Printf("note: checked against %s; pass --public-key (the copy you trust) to pin it\n", unpinned)
	}
}

// ownKey is what a ledger is checked against without --public-key.
const ownKey = "the data directory's own key"

func verifyCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "data directory of the ledger")
	pubFlag := fs.String("public-key", "", "the trusted seal public key (base64, or @file)")
	export := fs.String("export", "", "verify this export file offline instead of the ledger")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	expectHead := fs.Uint64("expect-head", 0, "fail unless the ledger reaches at least this position (a head you recorded earlier; with --export, the head the export was taken at)")
	expectSeal := fs.String("expect-seal", "", "fail unless the seal with this hash (one you recorded earlier) is among the ledger's (or the export's) valid seals")
	follows := fs.String("follows", "", "with --export: the export taken before it (of the same scope, the last period's): fail unless this one starts where that one ended, nothing left out between them")
	quiet := fs.Bool("quiet", false, "no progress bar (there is none off a terminal either)")
	erasures := fs.Bool("erasures", false, "also hold the key store to the ledger's erasures: every key a completed erasure names is destroyed, and no key was destroyed by an erasure the ledger does not record (no master key needed)")
	sf := addStoreFlags(fs)
	if code, ok := parseFlags(fs, args, os.Stderr); !ok {
		return code
	}
	if *expectSeal != "" {
		if _, err := domain.ParseHash(*expectSeal); err != nil {
			fmt.Fprintln(os.Stderr, "--expect-seal: not a seal hash (64 hex digits):", err)
			return 2
		}
	}
	if *export != "" {
		f, err := os.Open(*export)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer f.Close()
		var trusted ed25519.PublicKey
		if *pubFlag != "" {
			if trusted, _, err = loadPublicKey(*pubFlag, ""); err != nil {
				fmt.Fprintln(os.Stderr, "--public-key:", err)
				return 2
			}
		}
		if isTar(f) {
			fmt.Fprintf(os.Stderr, "%s is a backup (a tar), not an export: restore it (hookledger restore --from %s --data-dir NEW_DIR), then verify --data-dir NEW_DIR\n", *export, *export)
			return 2
		}
		rep, err := audit.VerifyExportExpecting(f, trusted, audit.Expect{Head: domain.Position(*expectHead), SealHash: *expectSeal})
		if err != nil {
			fmt.Fprintln(os.Stderr, "export unreadable:", err)
			return 1
		}
		if *follows != "" && rep.OK {
			if p, err := followsExport(*follows, trusted, rep); err != nil {
				fmt.Fprintln(os.Stderr, "--follows:", err)
				return 2
			} else if p != nil {
				rep.OK, rep.Problem = false, p
			}
		}
		if *asJSON {
			json.NewEncoder(os.Stdout).Encode(rep) // the report with the export's scope
		} else {
			printReport(rep.Report, rep.KeyPinned, "the key inside the export", false)
			fmt.Printf("  scope: %s\n", rep.Scope)
			if rep.OK {
				if *follows != "" {
					fmt.Printf("  follows %s: nothing left out between them\n", *follows)
				}
				fmt.Printf("  the next export of this scope: --from %d\n", rep.Ends()+1)
			}
		}
		if !rep.OK {
			return 1
		}
		return 0
	}
	pub, pinned, store, err := openSealedLedger(*pubFlag, *dataDir, sf)
	if p := ledgerProblem(err); p != nil {
		printReport(audit.Report{Problem: p}, pinned, ownKey, *asJSON)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer store.Close()
	start := time.Now()
	bar := newProgress(os.Stderr, "verify", totalOf(ctx, store), *quiet || *asJSON)
	rep, err := audit.VerifyExpecting(ctx, progressStore{store, func(p domain.Position) { bar.Set(int64(p)) }}, pub,
		audit.Expect{Head: domain.Position(*expectHead), SealHash: *expectSeal}, nil)
	bar.Done()
	if err != nil {
		if p := ledgerProblem(err); p != nil {
			rep.OK, rep.Problem = false, p
		} else {
			fmt.Fprintln(os.Stderr, "verify:", err)
			return 1
		}
	}
	elapsed := time.Since(start)
	var er *audit.ErasureReport
	if *erasures && rep.OK {
		r, err := verifyErasures(ctx, *dataDir, store)
		if err != nil {
			fmt.Fprintln(os.Stderr, "verify --erasures:", err)
			return 1
		}
		er = &r
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(struct {
			audit.Report
			KeyPinned bool                 `json:"key_pinned"`
			Erasures  *audit.ErasureReport `json:"erasures,omitempty"`
		}{rep, pinned, er})
	} else {
		printReport(rep, pinned, ownKey, false)
		fmt.Printf("  %.0f events/s\n", float64(rep.Events)/elapsed.Seconds())
		if er != nil {
			printErasures(*er)
		}
	}
	if !rep.OK || (er != nil && !er.OK) {
		return 1
	}
	return 0
}

// verifyErasures holds the key store (the ledger's, or the data
// directory's) to the ledger's erasures; a ledger with no key store has
// none of its recorded erasures carried out.
func verifyErasures(ctx context.Context, dataDir string, store domain.EventStore) (audit.ErasureReport, error) {
	ts, err := openTombstones(ctx, dataDir, store)
	if err != nil {
		return audit.ErasureReport{}, err
	}
	if ts == nil {
		return audit.VerifyErasures(ctx, store, audit.NoKeyStore{})
	}
	defer ts.Close()
	return audit.VerifyErasures(ctx, store, ts)
}

func printErasures(r audit.ErasureReport) {
	if r.OK {
		fmt.Printf("erasures OK: %d completed erasures name %d keys, each destroyed in the key store; its %d tombstones are each an erasure of the ledger\n",
			r.Erasures, r.KeysNamed, r.Tombstones)
		return
	}
	fmt.Printf("erasures FAILED: %d problems (%d completed erasures naming %d keys, %d tombstones)\n", len(r.Problems), r.Erasures, r.KeysNamed, r.Tombstones)
	for _, p := range r.Problems {
		fmt.Printf("  %s: %s\n", p.Kind, p.Detail)
	}
}

// isTar says whether f starts with a tar header (its "ustar" magic), and
// leaves f at its start.
func isTar(f *os.File) bool {
	var b [512]byte
	n, _ := io.ReadFull(f, b[:])
	f.Seek(0, io.SeekStart)
	return n == len(b) && string(b[257:262]) == "ustar"
}

// followsExport verifies the export taken before (with the same trusted
// key) and checks that rep follows it.
func followsExport(path string, trusted ed25519.PublicKey, rep audit.ExportReport) (*audit.Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prev, err := audit.VerifyExport(f, trusted)
	if err != nil {
		return nil, fmt.Errorf("%s unreadable: %w", path, err)
	}
	if !prev.OK {
		return &audit.Problem{Kind: audit.KindNotFollowing, Detail: fmt.Sprintf("the export before (%s) does not verify: %s at position %d: %s",
			path, prev.Problem.Kind, prev.Problem.Position, prev.Problem.Detail)}, nil
	}
	return audit.Follows(prev, rep), nil
}
