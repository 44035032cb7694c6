package main

// Commands that take only flags refuse a stray word after them.

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseFlags parses a command's flags; when ok is false the command ends
// with code: 0 after -h (the help asked for was given), 2 after a bad flag or
// a stray word (said on w).
func parseFlags(fs *flag.FlagSet, args []string, w io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if strayArgs(fs, w) {
		return 2, false
	}
	return 0, true
}

// strayArgs reports the words left after fs's flags, and says so on w. A
// command that takes only flags must refuse them: "hookledger verify
// /backups/ledger" would otherwise check ./data, the default, and answer for
// it as if for the directory named.
func strayArgs(fs *flag.FlagSet, w io.Writer) bool {
	if fs.NArg() == 0 {
		return false
	}
	fmt.Fprintf(w, "hookledger %s: unexpected argument %q: it takes flags only (hookledger %s -h lists them)\n", fs.Name(), fs.Arg(0), fs.Name())
	return true
}
