package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
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
	err := s.Backup(c.Request.Context(), c.Writer)
	if err == nil {
		s.log.Info().Dur("took", time.Since(start)).Int("bytes", c.Writer.Size()).Msg("backup taken")
		return
	}
	if !c.Writer.Written() {
		s.fail(c, err) // nothing sent yet: the checkpoint itself failed
		return
	}
	// The answer is under way: it ends without its manifest, which is how
	// a reader of the backup knows it is incomplete.
	s.log.Error().Err(err).Int("bytes", c.Writer.Size()).Msg("backup failed midway: its stream ends without the manifest")
}
