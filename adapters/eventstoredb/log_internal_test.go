package eventstoredb

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/logging"
)

// TestClientLogsAreQuiet: the client's info chatter is debug, its warnings
// stay warnings, and a repeated line is logged once per window.
func TestClientLogsAreQuiet(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf).Level(zerolog.InfoLevel)
	l := clientLogger(log, logging.NewRepeats(time.Minute))
	for i := 0; i < 113; i++ {
		l(kurrentdb.LogInfo, "connecting to node %d", i)
		l(kurrentdb.LogWarn, "discovery failed: %s", "connection refused")
		l(kurrentdb.LogError, "read failed")
	}
	out := buf.String()
	if strings.Contains(out, "connecting to node") {
		t.Fatalf("info lines reach the info level: %s", out)
	}
	if n := strings.Count(out, `"level":"warn"`); n != 2 {
		t.Fatalf("%d warning lines for 2 distinct repeated warnings:\n%s", n, out)
	}
}
