package app

// The key material a served ledger needs is not in the ledger: the seal key
// (audit/seal.key) and the key store of payload encryption (keys/) live in
// the data directory. A ledger copied or restored into a new data directory
// without them used to be served all the same, with keys made on the spot:
// every later seal was signed by another key (the ledger failed its own
// verify with seal_key_mismatch) and no encrypted payload could be read
// again (500s, and deliveries without their bodies). This refuses to start
// instead, before anything is created, and says what to bring.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/config"
	"github.com/hookledger/hookledger/domain"
)

// ErrLedgerKeys: the ledger cannot be served with the key material given.
var ErrLedgerKeys = errors.New("the ledger's keys are missing")

// CheckLedgerKeys refuses a seal key other than the one the ledger's seals
// are signed with (none at all included: one would be created), and a key
// store about to be created for a ledger that holds sealed values. It reads
// the last seal, and when there is no key store yet, the ledger until the
// first sealed value (the whole ledger once, on a ledger that never
// encrypted anything).
//
// A store that does not answer within probeTimeout (a remote one that is
// down) answers an error matching domain.ErrUnavailable: serve starts all
// the same, as it does without its store, and the sealer still refuses
// another key (audit.ErrSealKeyMismatch). With --no-payload-encryption the
// key store is not checked: none is created, so every start would read the
// whole ledger.
func CheckLedgerKeys(ctx context.Context, cfg config.Config, store domain.EventStore, log zerolog.Logger) error {
	if err := checkSealKey(ctx, cfg, store); err != nil {
		return err
	}
	return checkKeyStore(ctx, cfg, store, log)
}

// probeTimeout bounds the first reads of the check (the last seal, the
// head): a store down at the start must not hold the start-up back.
const probeTimeout = 3 * time.Second

// probe runs one of those reads under probeTimeout; running out of it is
// the store being unavailable.
func probe(ctx context.Context, read func(context.Context) error) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := read(pctx)
	if err != nil && ctx.Err() == nil && pctx.Err() != nil {
		return fmt.Errorf("%w: no answer within %s: %w", domain.ErrUnavailable, probeTimeout, err)
	}
	return err
}

func checkSealKey(ctx context.Context, cfg config.Config, store domain.EventStore) error {
	var last domain.AuditSealed
	var sealed bool
	err := probe(ctx, func(ctx context.Context) (err error) {
		last, _, sealed, err = audit.LastSeal(ctx, store)
		return err
	})
	if err != nil {
		return fmt.Errorf("read the ledger's last seal: %w", err)
	}
	if !sealed {
		return nil
	}
	path := cfg.SealKeyPath()
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: the ledger's seals are signed by %s (seal #%d), and there is no seal key at %s: give the key that signed them "+
			"(--seal-key-file, or the audit/seal.key of the data directory the ledger comes from); a new key would make every later seal fail verification",
			ErrLedgerKeys, last.KeyID, last.Index, path)
	case err != nil:
		return fmt.Errorf("seal signing key: %w", err)
	}
	key, err := audit.ParsePrivateKey(string(raw))
	if err != nil {
		return fmt.Errorf("seal signing key %s: %w", path, err)
	}
	if id := domain.KeyIDFor(key.Public().(ed25519.PublicKey)); id != last.KeyID {
		return fmt.Errorf("%w: the seal key at %s is %s, but the ledger's seals are signed by %s (seal #%d): give the key that signed them "+
			"(--seal-key-file); seals by another key would fail verification", ErrLedgerKeys, path, id, last.KeyID, last.Index)
	}
	return nil
}

func checkKeyStore(ctx context.Context, cfg config.Config, store domain.EventStore, log zerolog.Logger) error {
	if cfg.NoPayloadEncryption {
		return nil
	}
	where := cfg.KeysDir()
	if cfg.KeyStore == config.KeyStoreLedger {
		b, err := ledgerKeyBackend(store)
		if err != nil {
			return err
		}
		var id string
		if err := probe(ctx, func(ctx context.Context) (err error) { id, err = b.Master(ctx); return err }); err != nil || id != "" {
			return err // there is one (OpenKeys checks its master key), or the server is down
		}
		where = "in the ledger (--key-store ledger)"
	} else if _, err := os.Stat(cfg.KeysDir()); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // there is one (OpenKeys checks its master key)
	}
	var head domain.Position
	err := probe(ctx, func(ctx context.Context) (err error) {
		head, err = store.Head(ctx)
		return err
	})
	if err != nil || head == 0 {
		return err
	}
	log.Info().Uint64("head", uint64(head)).Msg("no key store yet: checking that the ledger holds no encrypted value first")
	at, keyID, err := firstSealed(ctx, store, head)
	if err != nil {
		return fmt.Errorf("check the ledger for encrypted values: %w", err)
	}
	if keyID == "" {
		return nil
	}
	if cfg.KeyStore == config.KeyStoreLedger {
		return fmt.Errorf("%w: the ledger holds encrypted values (the first at position %d, under data key %s), and there is no key store %s: "+
			"its data keys are in the keys/ of the data directory of the server that wrote them (--key-store local, the default of one process); "+
			"serve it that way, or with --no-payload-encryption; a new key store could never read them",
			ErrLedgerKeys, at, keyID, where)
	}
	return fmt.Errorf("%w: the ledger holds encrypted values (the first at position %d, under data key %s), and there is no key store at %s: "+
		"serve it with the data directory it was written with, or bring that directory's keys/ along with the ledger and the same master key "+
		"(HOOKLEDGER_MASTER_KEY, --master-key-file or its master.key); a new key store could never read them",
		ErrLedgerKeys, at, keyID, where)
}

// firstSealed finds the first event up to head that holds a sealed value.
func firstSealed(ctx context.Context, store domain.EventStore, head domain.Position) (domain.Position, string, error) {
	// The catch-up subscription, not pages of ReadAll: on EventStoreDB it
	// filters on the server, so a ledger sharing its server with others
	// (or with other ledgers' prefixes) is read without the others' events.
	var at domain.Position
	var keyID string
	errStop := errors.New("stop")
	err := store.SubscribeAll(ctx, 0, func(rec domain.RecordedEvent) error {
		if mayBeSealed(rec.Type) {
			ev, err := domain.DecodeEvent(rec)
			if err != nil {
				return fmt.Errorf("position %d: %w", rec.Position, err)
			}
			if id := domain.SealedKeyOf(ev); id != "" {
				at, keyID = rec.Position, id
				return errStop
			}
		}
		if rec.Position >= head {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, "", err
	}
	return at, keyID, nil
}

// mayBeSealed: the event types that can hold a sealed value
// (domain.SealedKeyOf), told apart before anything is decoded.
func mayBeSealed(typ string) bool {
	switch typ {
	case domain.TypeMessagePublished, domain.TypeSubscriptionCreated, domain.TypeSubscriptionUpdated,
		domain.TypeAttemptAcknowledged, domain.TypeAttemptFailed:
		return true
	}
	return false
}
