package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/domain"
)

// takeBackup answers a backup of the ledger as a tar stream (docs/
// operations.md, "Backups"). It is a POST: taking one makes checkpoints and
// reads the whole ledger, which a HEAD (served as a GET) or a retried GET
// must not do unasked; and it is not compressed, as the ledger's tables
// are already.
func (s *Server) takeBackup(c *gin.Context) {
	if s.Backup == nil {
		writeProblem(c, http.StatusConflict, CodeConflict,
			"backups are taken of the embedded store; this ledger is on EventStoreDB: back it up with EventStoreDB's own backups (docs/eventstoredb.md)", "")
		return
	}
	start := time.Now()
	c.Header("Content-Type", "application/x-tar")
	c.Header("Content-Disposition", `attachment; filename="hookledger-backup-`+start.UTC().Format("20060102T150405Z")+`.tar"`)
	m, err := s.Backup(c.Request.Context(), c.Writer)
	if err != nil && !c.Writer.Written() {
		s.fail(c, err) // nothing sent yet: the checkpoint itself failed
		return
	}
	if err == nil {
		s.log.Info().Dur("took", time.Since(start)).Int("bytes", c.Writer.Size()).Uint64("head", uint64(m.Head)).Msg("backup taken")
	} else {
		// The answer is under way: it ends without its manifest, which is
		// how a reader of the backup knows it is incomplete.
		s.log.Error().Err(err).Int("bytes", c.Writer.Size()).Msg("backup failed midway: its stream ends without the manifest")
	}
	s.recordAccess(c, domain.LedgerBackedUp{Head: m.Head, Files: len(m.Files), Bytes: int64(c.Writer.Size()), Complete: err == nil,
		BackedUpAt: s.Commands.Now().UTC()})
}

// recordAccess records in the ledger that data left through this request
// (docs/events.md, ledger-access). The data is sent already: a record that
// cannot be appended is logged, not answered.
func (s *Server) recordAccess(c *gin.Context, ev domain.Event) {
	if _, err := s.Commands.RecordAccess(context.WithoutCancel(c.Request.Context()), ev, actor(c)); err != nil {
		s.log.Error().Err(err).Str("type", ev.Type()).Msg("the record of data taken could not be appended to the ledger")
	}
}
