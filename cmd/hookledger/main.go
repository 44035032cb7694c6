// Command hookledger runs the webhook delivery ledger and its tools.
//
//	hookledger serve [flags]     run the ledger (default)
//	hookledger help              list the commands
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hookledger/hookledger/adapters/app"
	// Caps glibc's malloc arenas when the binary loads: Pebble's caches and
	// memtables come from C malloc, whose per-thread arenas would otherwise
	// keep tens of MB of freed memory resident (see the package doc).
	_ "github.com/hookledger/hookledger/adapters/cmalloc"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/logging"
	"github.com/hookledger/hookledger/domain"
)

const usage = `usage: hookledger <command> [flags]

commands:
  serve     run the ledger: store, delivery pipeline and HTTP API (default)
  rebuild   replay the ledger from position 0 into fresh views (server stopped)
  receive   a local webhook endpoint that verifies signatures and prints what it gets
  verify    check the ledger (or an export, --export FILE) against its signed seals
  export    write a verifiable export (all, --application or --subscription)
  timeline  print a delivery's events:   hookledger timeline <delivery-id> [--json]
  history   print a stream's events:     hookledger history <stream or id> [--json] (sub_, dlv_, msg_, app_, key_ ids too)
  copy      copy a ledger (and its data keys) between stores: hookledger copy --from DIR|esdb://... --to DIR|esdb://...
  backup    a backup of a running server's ledger: hookledger backup --url URL --key ADMIN_KEY --out FILE.tar
  restore   a backup into a new data directory: hookledger restore --from FILE.tar --data-dir DIR
  keys      recovery: hookledger keys create-admin --data-dir DIR (server stopped) issues an admin key;
            hookledger keys rotate-master --data-dir DIR --new-master-key-file FILE [--generate] re-wraps the data keys
  bench     the benchmark harness on loopback (see docs/benchmarks.md)
  help      show this text

Run "hookledger <command> -h" for the flags of a command. serve and rebuild
also read every flag from an environment variable HOOKLEDGER_<FLAG> (e.g.
HOOKLEDGER_DATA_DIR); verify, export, timeline and history read
HOOKLEDGER_DATA_DIR and HOOKLEDGER_STORE_URL.
`

// exitDamaged is serve's and rebuild's exit code for a ledger that is
// truncated or corrupt (1 is any other failure, 2 bad usage).
const exitDamaged = 3

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help":
			cmd, args = "help", args[1:] // the commands, not serve's flags
		case a != "" && a[0] != '-':
			cmd, args = a, args[1:]
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		cfg, err := config.Parse("serve", args, os.Getenv)
		if err != nil {
			if config.IsHelp(err) {
				return 0
			}
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		log := logging.Stderr(cfg.LogLevel, cfg.LogFormat)
		if err := app.Serve(ctx, cfg, log); err != nil {
			if errors.Is(err, domain.ErrCorrupt) {
				log.Error().Err(err).Msg("refusing to serve a damaged ledger (docs/operations.md: \"The ledger is damaged\")")
				return exitDamaged
			}
			log.Error().Err(err).Msg("hookledger stopped")
			return 1
		}
		return 0
	case "rebuild":
		cfg, err := config.Parse("rebuild", args, os.Getenv)
		if err != nil {
			if config.IsHelp(err) {
				return 0
			}
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		log := logging.Stderr(cfg.LogLevel, cfg.LogFormat)
		var bar *progress
		phase := ""
		rep, err := app.Rebuild(ctx, cfg, log, func(p string, pos, end domain.Position) {
			if p != phase {
				bar.Done()
				bar, phase = newProgress(os.Stderr, p, int64(end), cfg.Quiet), p
			}
			bar.Set(int64(pos))
		})
		bar.Done()
		if err != nil {
			log.Error().Err(err).Msg("rebuild failed")
			if errors.Is(err, domain.ErrCorrupt) {
				return exitDamaged
			}
			return 1
		}
		rate := float64(rep.Events) / rep.Elapsed.Seconds()
		fmt.Printf("rebuilt %d events up to position %d in %s (%.0f events/s): %d deliveries, %d pending, %d unfinished fan-outs; view store %d bytes\n",
			rep.Events, rep.Checkpoint, rep.Elapsed.Round(time.Millisecond), rate, rep.Deliveries, rep.Pending, rep.Unscheduled, rep.ViewBytes)
		if rep.Compared {
			if !rep.Identical {
				fmt.Printf("the previous view store DIFFERS from the rebuild at position %d (first difference: %s); it was replaced\n", rep.ComparedAt, rep.Difference)
				return 1
			}
			fmt.Printf("the previous view store is identical to the rebuild at position %d (digest %s)\n", rep.ComparedAt, rep.Digest)
		}
		return 0
	case "receive":
		return receive(ctx, args)
	case "verify":
		return verifyCmd(ctx, args)
	case "export":
		return exportCmd(ctx, args)
	case "backup":
		return backupCmd(ctx, args)
	case "restore":
		return restoreCmd(ctx, args)
	case "copy":
		return copyCmd(ctx, args, os.Stdout, os.Stderr)
	case "keys":
		return keysCmd(ctx, args, os.Stdout, os.Stderr)
	case "bench":
		return benchCmd(ctx, args, os.Stdout, os.Stderr)
	case "timeline", "history":
		return inspect(ctx, cmd, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
