package httpapi_test

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookledger/hookledger/adapters/backup"
	"github.com/hookledger/hookledger/adapters/httpapi"
	"github.com/hookledger/hookledger/domain"
)

// TestBackupRoute: admin keys only; a ledger that cannot be backed up here
// (EventStoreDB) says so; a backup that fails before its first byte is a
// problem answer, one that succeeds a tar stream. (The backup itself:
// cmd/hookledger TestABackupOfARunningServerIsServedAgain.)
func TestBackupRoute(t *testing.T) {
	e := newEnv(t)
	if r := e.do("POST", "/v1/backup", e.admin, nil); r.status != 409 || r.str("code") != "conflict" || !strings.Contains(r.str("detail"), "EventStoreDB") {
		t.Fatalf("without a backup: %d %s", r.status, r.body)
	}
	var fail atomic.Bool
	e = newEnv(t, func(d *httpapi.Deps) {
		d.Backup = func(_ context.Context, w io.Writer) (backup.Manifest, error) {
			if fail.Load() {
				return backup.Manifest{}, domain.ErrUnavailable
			}
			_, err := io.WriteString(w, "a tar stream")
			return backup.Manifest{Head: 42, Files: make([]backup.File, 3)}, err
		}
	})
	if r := e.do("POST", "/v1/backup", e.key("auditor", ""), nil); r.status != 403 {
		t.Fatalf("an auditor key: %d %s", r.status, r.body)
	}
	r := e.do("POST", "/v1/backup", e.admin, nil)
	if r.status != 200 || string(r.body) != "a tar stream" || r.header.Get("Content-Type") != "application/x-tar" ||
		!strings.HasPrefix(r.header.Get("Content-Disposition"), `attachment; filename="hookledger-backup-`) {
		t.Fatalf("a backup: %d %v %q", r.status, r.header, r.body)
	}
	// Recorded in the ledger: who took it, of which head.
	rec := lastAccess(t, e)
	adminID := domain.KeyIDForHash(domain.HashAPIKey(e.admin))
	if rec["type"] != "ledger.backed_up" || rec["actor"] != adminID || rec["data"].(map[string]any)["head"] != 42.0 ||
		rec["data"].(map[string]any)["files"] != 3.0 || rec["data"].(map[string]any)["complete"] != true {
		t.Fatalf("the backup's record: %v", rec)
	}
	fail.Store(true)
	if r := e.do("POST", "/v1/backup", e.admin, nil); r.status != 503 {
		t.Fatalf("a backup that failed before it began: %d %s", r.status, r.body)
	}
	if again := lastAccess(t, e); again["position"] != rec["position"] {
		t.Fatalf("a backup that sent nothing was recorded: %v", again)
	}
}

// lastAccess is the last record of data taken (the ledger-access stream).
func lastAccess(t *testing.T, e *env) map[string]any {
	t.Helper()
	items := e.must(200, "GET", "/v1/ledger/streams/"+domain.AccessStream+"?limit=1000", e.admin, nil).items()
	if len(items) == 0 {
		t.Fatal("no record of data taken")
	}
	return items[len(items)-1]
}
