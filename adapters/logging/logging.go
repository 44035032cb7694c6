// Package logging builds the one zerolog logger of the process.
package logging

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format: "json" (one object per line), "console" (for people),
// or "auto": console when w is a terminal, JSON otherwise (a file, a pipe, a
// log collector never gets colour codes).
func New(w io.Writer, level, format string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	if format == "auto" {
		format = "json"
		if f, ok := w.(interface{ Fd() uintptr }); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
			format = "console"
		}
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// Stderr is New on standard error.
func Stderr(level, format string) zerolog.Logger { return New(os.Stderr, level, format) }
