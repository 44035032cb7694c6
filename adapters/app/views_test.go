package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/app"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/adapters/viewstore"
)

// TestViewsThatCannotBeOpenedSayHowToReplaceThem: a view store Pebble
// refuses to open (its OPTIONS file damaged here) stops the start with an
// error that names the remedy, since the views are a cache of the ledger.
func TestViewsThatCannotBeOpenedSayHowToReplaceThem(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	s, err := viewstore.Open(cfg.ViewsDir(), viewstore.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	options, _ := filepath.Glob(filepath.Join(cfg.ViewsDir(), "OPTIONS-*"))
	if len(options) == 0 {
		t.Fatal("no OPTIONS file to damage")
	}
	if err := os.WriteFile(options[0], []byte("garbage[[[\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = app.OpenViews(cfg, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "hookledger rebuild") {
		t.Fatalf("opening damaged views: %v; want the remedy named", err)
	}
}
