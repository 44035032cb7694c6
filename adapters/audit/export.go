package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hookledger/hookledger/adapters/storekit"
	"github.com/hookledger/hookledger/domain"
)

// ExportFormat names the NDJSON export format (docs/audit.md). Format 2 adds
// what proves a scoped export complete: each event line names the position
// of the line before it, and the footer — scope, head, counts, last position
// and a digest of every event line — is signed with the seal key.
const ExportFormat = "hookledger-export/2"

// Scope selects what an export contains: everything (all empty), one
// application's events, one subscription's events, its deliveries and the
// messages they delivered, or one subject's: the messages published about it
// (in one application, when Application is set too), their deliveries and
// the erasures that name the subject or its messages.
//
// From, To, Since and Until bound any scope to a part of the ledger: the
// events at positions in [From, To] recorded in [Since, Until) (RFC 3339;
// zero or empty: that side open). The streams in scope are still recognised
// by their first event, which may lie before the bounds. The fields are
// left out of the JSON when not set, so an unbounded export's signed footer
// is what it was before they existed.
type Scope struct {
	Application  string          `json:"application,omitempty"`
	Subscription string          `json:"subscription,omitempty"`
	Subject      string          `json:"subject,omitempty"`
	From         domain.Position `json:"from,omitempty"`
	To           domain.Position `json:"to,omitempty"`
	Since        string          `json:"since,omitempty"`
	Until        string          `json:"until,omitempty"`
}

// all: no application, subscription or subject narrows the scope (bounds
// may still).
func (s Scope) all() bool { return s.Application == "" && s.Subscription == "" && s.Subject == "" }

type exportHeader struct {
	Kind       string          `json:"kind"`
	Format     string          `json:"format"`
	KeyID      string          `json:"key_id"`
	PublicKey  string          `json:"public_key"`
	Scope      Scope           `json:"scope"`
	ExportedAt time.Time       `json:"exported_at"`
	Head       domain.Position `json:"head"`
}

type exportSeal struct {
	Kind     string             `json:"kind"`
	Position domain.Position    `json:"position"`
	Seal     domain.AuditSealed `json:"seal"`
}

type exportEvent struct {
	Kind     string          `json:"kind"`
	Seq      uint64          `json:"seq"`
	Position domain.Position `json:"position"`
	// Prev is the position of the export's previous event line (0 for the
	// first): a removed line is named by the line after it.
	Prev           domain.Position `json:"prev"`
	Stream         string          `json:"stream"`
	Revision       uint64          `json:"revision"`
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Created        time.Time       `json:"created"`
	Data           []byte          `json:"data,omitempty"`
	DataSHA256     string          `json:"data_sha256"`
	DataRedacted   json.RawMessage `json:"data_redacted,omitempty"`
	Metadata       []byte          `json:"metadata,omitempty"`
	MetadataSHA256 string          `json:"metadata_sha256"`
	Seal           uint64          `json:"seal"`         // index of the seal that covers it (0: not sealed yet)
	DigestIndex    uint64          `json:"digest_index"` // its place in that seal's digests
	// Payload: a message whose payload was erased when the export was made
	// (not covered by the seals: a reader learns it, the proof is the data).
	Payload *erasedMark `json:"payload,omitempty"`
	// ActorName names the metadata's actor for people ("admin-ci (admin)");
	// not covered by the seals either (the metadata holds the actor's id).
	ActorName string `json:"actor_name,omitempty"`
}

// footerBody is what the footer signature covers.
type footerBody struct {
	Kind         string          `json:"kind"`
	Format       string          `json:"format"`
	Scope        Scope           `json:"scope"`
	Head         domain.Position `json:"head"`
	Events       uint64          `json:"events"`
	Seals        uint64          `json:"seals"`
	LastPosition domain.Position `json:"last_position"`
	EventsDigest string          `json:"events_digest"`
	KeyID        string          `json:"key_id"`
}

type exportFooter struct {
	footerBody
	Signature []byte `json:"signature"`
}

// footerHash is the value the footer signature signs:
// SHA-256("hookledger-export-footer-v1" || JSON of the footer without its
// signature, fields in the order above).
func footerHash(b footerBody) [32]byte {
	j, _ := json.Marshal(b)
	return sha256.Sum256(append([]byte("hookledger-export-footer-v1"), j...))
}

// eventsDigest folds one exported event line into the running digest:
// SHA-256("hookledger-export-events-v1" || prev digest || u64(seq) ||
// u64(position) || u64(prev position) || leaf hash).
func eventsDigest(d domain.Hash, seq uint64, pos, prev domain.Position, leaf domain.Hash) domain.Hash {
	buf := make([]byte, 0, 27+32+24+32)
	buf = append(buf, "hookledger-export-events-v1"...)
	buf = append(buf, d[:]...)
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = binary.BigEndian.AppendUint64(buf, uint64(pos))
	buf = binary.BigEndian.AppendUint64(buf, uint64(prev))
	buf = append(buf, leaf[:]...)
	return sha256.Sum256(buf)
}

// ExportSummary says what an export holds.
type ExportSummary struct {
	Head   domain.Position // the ledger's head it was taken at
	Events uint64
	Seals  uint64
}

// ErrNoSealKey: an export needs the seal signing key to sign its footer.
var ErrNoSealKey = errors.New("the seal signing key is needed to sign an export")

// scopeFilter decides, in ledger order, which events belong to a scope. Every
// stream in scope is recognised by its first event (revision 0), so an
// export holds each of its streams whole, from revision 0 to the head.
type scopeFilter struct {
	scope    Scope
	ids      map[string]bool // streams that belong to the scope
	messages map[string]bool // subscription scope: message streams it delivered
	// subject scope: the subject's messages and the applications they are in
	subjectMsgs, subjectApps map[string]bool
}

func (f *scopeFilter) include(rec domain.RecordedEvent) bool {
	if f.scope.all() {
		return true
	}
	if f.ids[rec.Stream] {
		return true
	}
	if f.messages[rec.Stream] {
		f.ids[rec.Stream] = true
		return true
	}
	if f.scope.Subject != "" {
		return f.includeSubject(rec)
	}
	switch rec.Type {
	case domain.TypeApplicationCreated, domain.TypeSubscriptionCreated, domain.TypeMessagePublished,
		domain.TypeDeliveryScheduled, domain.TypeAPIKeyCreated:
	default:
		return false
	}
	ev, err := domain.DecodeEvent(rec)
	if err != nil {
		return false
	}
	app, sub := f.scope.Application, f.scope.Subscription
	in := false
	switch e := ev.(type) {
	case domain.ApplicationCreated:
		in = app != "" && e.ApplicationID == app
	case domain.SubscriptionCreated:
		in = (app != "" && e.ApplicationID == app) || (sub != "" && e.SubscriptionID == sub)
	case domain.MessagePublished:
		in = app != "" && e.ApplicationID == app
	case domain.DeliveryScheduled:
		in = (app != "" && e.ApplicationID == app) || (sub != "" && e.SubscriptionID == sub)
	case domain.APIKeyCreated:
		in = app != "" && e.ApplicationID == app
	}
	if in {
		f.ids[rec.Stream] = true
	}
	return in
}

// includeSubject: a subject's messages (recognised by their first event, in
// ledger order before anything that refers to them), the deliveries of
// those messages, and the erasures that reached them: by the subject, by
// one of its messages, or of an application (or a time) where it has
// messages.
func (f *scopeFilter) includeSubject(rec domain.RecordedEvent) bool {
	switch rec.Type {
	case domain.TypeMessagePublished, domain.TypeDeliveryScheduled, domain.TypeErasureRequested:
	default:
		return false
	}
	ev, err := domain.DecodeEvent(rec)
	if err != nil {
		return false
	}
	in := false
	switch e := ev.(type) {
	case domain.MessagePublished:
		in = e.Subject == f.scope.Subject && (f.scope.Application == "" || e.ApplicationID == f.scope.Application)
		if in {
			f.subjectMsgs[e.MessageID], f.subjectApps[e.ApplicationID] = true, true
		}
	case domain.DeliveryScheduled:
		in = f.subjectMsgs[e.MessageID]
	case domain.ErasureRequested:
		switch e.Scope {
		case domain.EraseSubject:
			in = e.Subject == f.scope.Subject && (f.scope.Application == "" || e.ApplicationID == f.scope.Application)
		case domain.EraseMessages:
			for _, m := range e.MessageIDs {
				in = in || f.subjectMsgs[m]
			}
		default: // the application, or a time: whatever of the subject it held
			in = f.subjectApps[e.ApplicationID]
		}
	}
	if in {
		f.ids[rec.Stream] = true
	}
	return in
}

// redacted: events whose data carries a signing secret or a credential
// header value are exported with the hash of their data (which the leaf hash
// covers) and a redacted copy.
func redacted(rec domain.RecordedEvent) (json.RawMessage, bool) {
	b, changed := domain.RedactEventData(rec.Type, rec.Data)
	return b, changed
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Export writes the scope's events with every seal and the public key, as
// NDJSON: a header, the seals, the events in ledger order, a signed footer.
// Secrets are never exported: those events carry the hash of their data.
func Export(ctx context.Context, store domain.EventStore, key ed25519.PrivateKey, scope Scope, w io.Writer) (ExportSummary, error) {
	return ExportWith(ctx, store, key, scope, w, ExportOptions{})
}

// ScopeExists answers a domain.ErrNotFound for a scope that names an
// application or a subscription the ledger never had: its export would be
// empty and valid, and read as "nothing happened" where the id was
// mistyped. (A subject with no events is an answer: nothing about it.)
func ScopeExists(ctx context.Context, store domain.EventStore, scope Scope) error {
	check := func(what, id, stream string) error {
		if id == "" {
			return nil
		}
		_, err := store.ReadStream(ctx, stream, 0, domain.Forward, 1)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return fmt.Errorf("%w: the ledger has no %s %s", domain.ErrNotFound, what, id)
		}
		return err
	}
	if err := check("application", scope.Application, domain.ApplicationStream(scope.Application)); err != nil {
		return err
	}
	return check("subscription", scope.Subscription, domain.SubscriptionStream(scope.Subscription))
}

// ErasedKeys says which data keys were destroyed, and by which erasure (the
// key store, or its tombstones read without the master key).
type ErasedKeys interface {
	Destroyed(keyID string) (erasureID string, at time.Time, ok bool, err error)
}

// ExportOptions adjust an export.
type ExportOptions struct {
	// Erased, when set, marks each message whose payload was erased with
	// "payload": {"erased": true, "erasure_id": ...} beside its data (the
	// data, hashed and sealed, holds the ciphertext either way).
	Erased ErasedKeys
}

// erasedMark stands beside an exported message event whose payload's data
// key is destroyed. It is not part of what the seals cover.
type erasedMark struct {
	Erased    bool      `json:"erased"`
	ErasureID string    `json:"erasure_id"`
	ErasedAt  time.Time `json:"erased_at"`
}

// ExportWith is Export with options.
func ExportWith(ctx context.Context, store domain.EventStore, key ed25519.PrivateKey, scope Scope, w io.Writer, o ExportOptions) (ExportSummary, error) {
	if len(key) != ed25519.PrivateKeySize {
		return ExportSummary{}, ErrNoSealKey
	}
	pub := key.Public().(ed25519.PublicKey)
	b, err := scope.bounds()
	if err != nil {
		return ExportSummary{}, err
	}
	if err := ScopeExists(ctx, store, scope); err != nil {
		return ExportSummary{}, err
	}
	if o.Erased != nil {
		o.Erased = &erasedMemo{ErasedKeys: o.Erased, seen: map[string]erasedAnswer{}}
	}
	seals, err := readSeals(ctx, store)
	if err != nil {
		return ExportSummary{}, err
	}
	head, err := store.Head(ctx)
	if err != nil {
		return ExportSummary{}, err
	}
	end := b.end(head)
	if scope.Bounded() {
		first, last, ok, err := seqRange(ctx, store, end, b)
		if err != nil {
			return ExportSummary{}, err
		}
		seals = sealsWithin(seals, first, last, ok)
	}
	filter := &scopeFilter{scope: scope, ids: map[string]bool{}, subjectMsgs: map[string]bool{}, subjectApps: map[string]bool{}}
	namer := &ActorNamer{Store: store}
	if scope.Subscription != "" {
		if filter.messages, err = deliveredMessages(ctx, store, scope.Subscription, head); err != nil {
			return ExportSummary{}, err
		}
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(exportHeader{Kind: "header", Format: ExportFormat, KeyID: domain.KeyIDFor(pub), PublicKey: EncodePublicKey(pub),
		Scope: scope, ExportedAt: time.Now().UTC(), Head: head}); err != nil {
		return ExportSummary{}, err
	}
	for _, s := range seals {
		if err := enc.Encode(s); err != nil {
			return ExportSummary{}, err
		}
	}
	sum := ExportSummary{Head: head, Seals: uint64(len(seals))}
	var seq uint64
	var prev domain.Position
	var digest domain.Hash
	si := 0
	err = forEachUpTo(ctx, store, end, func(rec domain.RecordedEvent) error {
		if rec.Stream == domain.AuditStream {
			return nil
		}
		seq++
		// The filter sees every event, to learn the streams in scope from
		// their first events, before the bounds are applied.
		if !filter.include(rec) || !b.in(rec.Position, rec.Created) {
			return nil
		}
		for si < len(seals) && seals[si].Seal.ToSeq < seq {
			si++
		}
		e := exportEvent{Kind: "event", Seq: seq, Position: rec.Position, Prev: prev, Stream: rec.Stream, Revision: rec.Revision,
			ID: rec.ID, Type: rec.Type, Created: rec.Created, Data: rec.Data, DataSHA256: hexSHA(rec.Data),
			Metadata: rec.Metadata, MetadataSHA256: hexSHA(rec.Metadata)}
		if red, ok := redacted(rec); ok {
			e.Data, e.DataRedacted = nil, red
		}
		var md struct {
			Actor string `json:"actor"`
		}
		if json.Unmarshal(rec.Metadata, &md) == nil && md.Actor != "" {
			e.ActorName = namer.Name(ctx, md.Actor)
		}
		if o.Erased != nil && rec.Type == domain.TypeMessagePublished {
			if mark, err := erasedOf(rec, o.Erased); err != nil {
				return err
			} else if mark != nil {
				e.Payload = mark
			}
		}
		if si < len(seals) && seals[si].Seal.FromSeq <= seq {
			e.Seal, e.DigestIndex = seals[si].Seal.Index, seq-seals[si].Seal.FromSeq
		}
		digest = eventsDigest(digest, seq, rec.Position, prev, domain.LeafOf(rec))
		prev = rec.Position
		sum.Events++
		return enc.Encode(e)
	})
	if err != nil {
		return sum, err
	}
	body := footerBody{Kind: "footer", Format: ExportFormat, Scope: scope, Head: head, Events: sum.Events, Seals: sum.Seals,
		LastPosition: prev, EventsDigest: digest.String(), KeyID: domain.KeyIDFor(pub)}
	h := footerHash(body)
	if err := enc.Encode(exportFooter{footerBody: body, Signature: ed25519.Sign(key, h[:])}); err != nil {
		return sum, err
	}
	return sum, bw.Flush()
}

// erasedMemo answers each key once per export: the messages of a day share
// its key, and a shared key store answers over the network.
type erasedMemo struct {
	ErasedKeys
	seen map[string]erasedAnswer
}

type erasedAnswer struct {
	id   string
	at   time.Time
	gone bool
}

func (m *erasedMemo) Destroyed(keyID string) (string, time.Time, bool, error) {
	if a, ok := m.seen[keyID]; ok {
		return a.id, a.at, a.gone, nil
	}
	id, at, gone, err := m.ErasedKeys.Destroyed(keyID)
	if err != nil {
		return "", time.Time{}, false, err
	}
	if len(m.seen) >= 1<<16 {
		clear(m.seen)
	}
	m.seen[keyID] = erasedAnswer{id, at, gone}
	return id, at, gone, nil
}

func erasedOf(rec domain.RecordedEvent, keys ErasedKeys) (*erasedMark, error) {
	ev, err := domain.DecodeEvent(rec)
	if err != nil {
		return nil, err
	}
	m, ok := ev.(domain.MessagePublished)
	if !ok || m.Sealed == nil {
		return nil, nil
	}
	id, at, gone, err := keys.Destroyed(m.Sealed.KeyID)
	if err != nil || !gone {
		return nil, err
	}
	return &erasedMark{Erased: true, ErasureID: id, ErasedAt: at}, nil
}

// readSeals reads every seal of the ledger, in order.
func readSeals(ctx context.Context, store domain.EventStore) ([]exportSeal, error) {
	var seals []exportSeal
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, domain.AuditStream, from, domain.Forward, 256)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return seals, nil
		}
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			ev, err := domain.DecodeEvent(r)
			if err != nil {
				return nil, err
			}
			if s, ok := ev.(domain.AuditSealed); ok {
				seals = append(seals, exportSeal{Kind: "seal", Position: r.Position, Seal: s})
			}
		}
		if len(recs) < 256 {
			return seals, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}

// forEachUpTo calls fn for every event of $all up to head, in order. The
// events are read into one page, read into again after fn has seen them all
// (storekit.PageRing), so fn must keep nothing of an event's Data or
// Metadata once it returns: the export writes each event out at once.
func forEachUpTo(ctx context.Context, store domain.EventStore, head domain.Position, fn func(domain.RecordedEvent) error) error {
	ring := storekit.NewPageRing(store, 1)
	for from := domain.Position(0); from <= head; {
		page, mem, err := ring.Read(ctx, from, 2048)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, rec := range page {
			if rec.Position > head {
				return nil
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		from = page[len(page)-1].Position + 1
		ring.Done(mem)
	}
	return nil
}

// deliveredMessages finds the message streams of a subscription's
// deliveries (a first pass: a message is published before it is scheduled,
// so the export cannot know it belongs to the scope when it meets it).
func deliveredMessages(ctx context.Context, store domain.EventStore, sub string, head domain.Position) (map[string]bool, error) {
	out := map[string]bool{}
	err := forEachUpTo(ctx, store, head, func(rec domain.RecordedEvent) error {
		if rec.Type != domain.TypeDeliveryScheduled {
			return nil
		}
		ev, err := domain.DecodeEvent(rec)
		if err != nil {
			return nil
		}
		if d, ok := ev.(domain.DeliveryScheduled); ok && d.SubscriptionID == sub {
			out[domain.MessageStream(d.MessageID)] = true
		}
		return nil
	})
	return out, err
}
