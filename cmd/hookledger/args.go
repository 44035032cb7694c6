package main

// Commands that take only flags refuse a stray word after them.

import (
	"flag"
	"fmt"
	"io"
)

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
