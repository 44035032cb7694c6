package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/domain"
	"github.com/hookledger/hookledger/projections"
)

func (s *Server) publicKey(c *gin.Context) {
	if s.SealPublicKey == nil {
		writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, "sealing is not configured on this server", "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"key_id": domain.KeyIDFor(s.SealPublicKey), "algorithm": "ed25519", "public_key": audit.EncodePublicKey(s.SealPublicKey)})
}

type sealStatusJSON struct {
	Index        uint64    `json:"index"`
	FromPosition uint64    `json:"from_position"`
	ToPosition   uint64    `json:"to_position"`
	Count        uint64    `json:"count"`
	ChainHash    string    `json:"chain_hash"`
	SealedAt     time.Time `json:"sealed_at"`
	AgeSeconds   float64   `json:"age_seconds"`
	KeyID        string    `json:"key_id"`
	Position     uint64    `json:"position"`
}

type auditStatusJSON struct {
	Head      uint64          `json:"head"`
	LastSeal  *sealStatusJSON `json:"last_seal"`
	KeyID     string          `json:"key_id"`
	PublicKey string          `json:"public_key"`
	Algorithm string          `json:"algorithm"`
}

// auditStatus answers where the ledger and its seals stand: the head, the
// newest seal (what it covers and how old it is) and the key that signs the
// seals. Two reads of the store, whatever the ledger's length.
func (s *Server) auditStatus(c *gin.Context) {
	if s.SealPublicKey == nil {
		writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, "sealing is not configured on this server", "")
		return
	}
	ctx := c.Request.Context()
	head, err := s.Store.Head(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := auditStatusJSON{Head: uint64(head), KeyID: domain.KeyIDFor(s.SealPublicKey), PublicKey: audit.EncodePublicKey(s.SealPublicKey), Algorithm: "ed25519"}
	recs, err := s.Store.ReadStream(ctx, domain.AuditStream, domain.RevisionEnd, domain.Backward, 1)
	switch {
	case errors.Is(err, domain.ErrStreamNotFound): // nothing sealed yet: last_seal null
	case err != nil:
		s.fail(c, err)
		return
	default:
		ev, err := domain.DecodeEvent(recs[0])
		seal, ok := ev.(domain.AuditSealed)
		if err != nil || !ok {
			s.fail(c, fmt.Errorf("%w: the newest event of %s is not a seal", domain.ErrCorrupt, domain.AuditStream))
			return
		}
		out.LastSeal = &sealStatusJSON{Index: seal.Index, FromPosition: uint64(seal.FromPosition), ToPosition: uint64(seal.ToPosition),
			Count: seal.Count, ChainHash: seal.ChainHash, SealedAt: seal.SealedAt, KeyID: seal.KeyID, Position: uint64(recs[0].Position),
			AgeSeconds: max(time.Since(seal.SealedAt).Seconds(), 0)}
	}
	c.JSON(http.StatusOK, out)
}

func parsePosition(c *gin.Context, name string) (domain.Position, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, bad(CodeInvalidParameter, name, name+" must be a ledger position (an unsigned integer)")
	}
	return domain.Position(n), nil
}

// auditVerify streams the verification as NDJSON: progress lines, then the
// report.
func (s *Server) auditVerify(c *gin.Context) {
	if s.SealPublicKey == nil {
		writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, "sealing is not configured on this server", "")
		return
	}
	from, err := parsePosition(c, "from")
	if err != nil {
		s.fail(c, err)
		return
	}
	to, err := parsePosition(c, "to")
	if err != nil {
		s.fail(c, err)
		return
	}
	if to != 0 && to < from {
		s.fail(c, bad(CodeInvalidParameter, "to", "to is before from"))
		return
	}
	var erasures bool
	switch c.Query("erasures") {
	case "", "false":
	case "true":
		erasures = true
	default:
		s.fail(c, bad(CodeInvalidParameter, "erasures", "erasures must be true or false"))
		return
	}
	// A range that starts past the head has nothing to verify: it answered
	// ok, with a head of 0, which reads as "this ledger verified".
	if from > 1 {
		head, err := s.Store.Head(c.Request.Context())
		if err != nil {
			s.fail(c, err)
			return
		}
		if from > head {
			s.fail(c, bad(CodeInvalidParameter, "from", fmt.Sprintf("from %d is past the ledger's head (%d)", from, head)))
			return
		}
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Status(http.StatusOK)
	enc := json.NewEncoder(c.Writer)
	last := time.Now()
	rep, err := audit.VerifyRange(c.Request.Context(), s.Store, s.SealPublicKey, from, to, func(r audit.Report) {
		if time.Since(last) > 250*time.Millisecond {
			last = time.Now()
			enc.Encode(gin.H{"kind": "progress", "events": r.Events, "seals": r.Seals, "head": r.Head})
			c.Writer.Flush()
		}
	})
	if err != nil {
		enc.Encode(gin.H{"kind": "error", "error": err.Error()})
		return
	}
	var er *audit.ErasureReport
	if erasures && rep.OK {
		// The key store against the erasures the ledger records (the
		// ledger verified first: its record is what the keys are held to).
		var keys audit.KeyTombstones = audit.NoKeyStore{}
		if k, ok := s.Cipher.(audit.KeyTombstones); ok {
			keys = k
		}
		r, err := audit.VerifyErasures(c.Request.Context(), s.Store, keys)
		if err != nil {
			enc.Encode(gin.H{"kind": "error", "error": "erasures: " + err.Error()})
			return
		}
		er = &r
	}
	enc.Encode(struct {
		Kind string `json:"kind"`
		audit.Report
		Erasures *audit.ErasureReport `json:"erasures,omitempty"`
	}{"result", rep, er})
}

// auditExport streams a verifiable export. Application keys may export only
// their own application.
func (s *Server) auditExport(c *gin.Context) {
	if s.SealKey == nil {
		writeProblem(c, http.StatusServiceUnavailable, CodeUnavailable, "sealing is not configured on this server", "")
		return
	}
	scope := audit.Scope{Application: c.Query("application"), Subscription: c.Query("subscription"), Subject: c.Query("subject")}
	if scope.Application != "" && scope.Subscription != "" {
		s.fail(c, bad(CodeInvalidParameter, "subscription", "give application or subscription, not both"))
		return
	}
	if scope.Subject != "" && scope.Subscription != "" {
		s.fail(c, bad(CodeInvalidParameter, "subject", "give subject (with or without application) or subscription, not both"))
		return
	}
	if err := domain.ValidateSubject(scope.Subject); err != nil {
		s.fail(c, bad(CodeInvalidParameter, "subject", err.Error()))
		return
	}
	if err := exportBounds(c, &scope); err != nil {
		s.fail(c, err)
		return
	}
	if p := who(c); scope.Subject != "" && scope.Application == "" && p.role == domain.RoleApplication {
		scope.Application = p.app // an application key: its own application's messages about the subject
	}
	for name, v := range map[string]string{"application": scope.Application, "subscription": scope.Subscription} {
		if v != "" {
			if err := domain.ValidateID(name, v); err != nil {
				s.fail(c, bad(CodeInvalidParameter, name, err.Error()))
				return
			}
		}
	}
	p := who(c)
	if p.role == domain.RoleApplication {
		if scope.Subscription != "" {
			var owner string
			s.Views.Read(func(v *projections.Views) {
				if sv := v.Subscriptions[scope.Subscription]; sv != nil {
					owner = sv.ApplicationID
				}
			})
			if owner != p.app {
				// The same answer whether the subscription is another
				// application's or none at all.
				s.fail(c, notFound("subscription", "application "+p.app+" has no subscription "+scope.Subscription))
				return
			}
		} else if scope.Application != p.app {
			writeProblem(c, http.StatusForbidden, CodeForbidden, "an application key exports its own application only (application="+p.app+")", "application")
			return
		}
	}
	if err := audit.ScopeExists(c.Request.Context(), s.Store, scope); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="hookledger-export.ndjson"`)
	c.Status(http.StatusOK)
	if method(c) == http.MethodHead {
		// Its body would be dropped: the export (a read of the whole
		// ledger) is not made, nor recorded.
		c.Writer.WriteHeaderNow()
		return
	}
	var opts audit.ExportOptions
	if ek, ok := s.Cipher.(audit.ErasedKeys); ok {
		opts.Erased = ek
	}
	sum, err := audit.ExportWith(c.Request.Context(), s.Store, s.SealKey, scope, c.Writer, opts)
	if err != nil {
		s.log.Error().Err(err).Msg("export failed midway")
	}
	s.recordAccess(c, domain.LedgerExported{Application: scope.Application, Subscription: scope.Subscription, Subject: scope.Subject,
		From: scope.From, To: scope.To, Since: scope.Since, Until: scope.Until, Head: sum.Head, Events: sum.Events, Seals: sum.Seals,
		Complete: err == nil, ExportedAt: s.Commands.Now().UTC()})
}

// exportBounds reads an export's bounds (from, to, since, until) into its
// scope, refusing the ones that are malformed or select nothing.
func exportBounds(c *gin.Context, scope *audit.Scope) error {
	var err error
	if scope.From, err = parsePosition(c, "from"); err != nil {
		return err
	}
	if scope.To, err = parsePosition(c, "to"); err != nil {
		return err
	}
	if scope.Since, err = audit.BoundTime("since", c.Query("since")); err == nil {
		if scope.Until, err = audit.BoundTime("until", c.Query("until")); err == nil {
			err = scope.CheckBounds()
		}
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return bad(CodeInvalidParameter, ve.Field, ve.Field+" "+ve.Reason)
	}
	return err
}

// parseAsOf reads as_of: a ledger position or an RFC 3339 time.
func parseAsOf(c *gin.Context) (domain.Position, time.Time, bool, error) {
	v := c.Query("as_of")
	if v == "" {
		return 0, time.Time{}, false, nil
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n == 0 {
			return 0, time.Time{}, false, bad(CodeInvalidParameter, "as_of", "as_of must be a position >= 1 or an RFC 3339 time")
		}
		return domain.Position(n), time.Time{}, true, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, time.Time{}, false, bad(CodeInvalidParameter, "as_of", "as_of must be a ledger position or an RFC 3339 time")
	}
	return 0, t, true, nil
}
