package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/pebblestore"
	"github.com/hookledger/hookledger/domain"
)

// keysCmd is the operator's recovery path when no admin key works (lost, or
// revoked): with the server stopped, it issues a new admin key straight into
// the embedded ledger, recorded like any other key with actor
// "local-operator", and prints the key once.
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create-admin" {
		fmt.Fprintln(stderr, "usage: hookledger keys create-admin --data-dir DIR [--name NAME]   (server stopped)")
		return 2
	}
	fs := flag.NewFlagSet("keys create-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", envOr("HOOKLEDGER_DATA_DIR", "./data"), "data directory of the ledger (the server must be stopped)")
	name := fs.String("name", "recovery (hookledger keys create-admin)", "a name for the key")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	store, err := pebblestore.Open(*dataDir, pebblestore.Options{Logger: zerolog.New(stderr).Level(zerolog.ErrorLevel)})
	if err != nil {
		fmt.Fprintf(stderr, "open the ledger in %s: %v\n(stop the server first: the embedded store allows one process)\n", *dataDir, err)
		return 1
	}
	defer store.Close()
	key := httpapi.NewAPIKey()
	hash := domain.HashAPIKey(key)
	cmds := &domain.Commands{Store: store, Now: time.Now, NewEventID: ids.NewEventID}
	k, out, err := cmds.CreateAPIKey(ctx, domain.CreateAPIKey{KeyID: domain.KeyIDForHash(hash), Role: domain.RoleAdmin, Hash: hash, Name: *name},
		domain.Metadata{Actor: "local-operator"})
	if err != nil {
		fmt.Fprintln(stderr, "create the key:", err)
		return 1
	}
	fmt.Fprintf(stdout, "admin key %s created at ledger position %d (actor local-operator)\n%s\n", k.ID, out.Result.Position, key)
	fmt.Fprintln(stderr, "keep the key secret: it is shown once; the ledger stores only its hash")
	return 0
}
