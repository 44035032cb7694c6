package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// ExportFormat names the NDJSON export format (docs/audit.md).
const ExportFormat = "hookledger-export/1"

// Scope selects what an export contains: everything (both empty), one
// application's events, or one subscription's events and its deliveries.
type Scope struct {
	Application  string `json:"application,omitempty"`
	Subscription string `json:"subscription,omitempty"`
}

func (s Scope) all() bool { return s.Application == "" && s.Subscription == "" }

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
	Kind           string          `json:"kind"`
	Seq            uint64          `json:"seq"`
	Position       domain.Position `json:"position"`
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
}

type exportFooter struct {
	Kind   string `json:"kind"`
	Events uint64 `json:"events"`
	Seals  uint64 `json:"seals"`
}

// ExportSummary says what an export holds.
type ExportSummary struct {
	Events uint64
	Seals  uint64
}

// scopeFilter decides, in ledger order, which events belong to a scope.
type scopeFilter struct {
	scope Scope
	ids   map[string]bool // streams that belong to the scope
}

func (f *scopeFilter) include(rec domain.RecordedEvent) bool {
	if f.scope.all() {
		return true
	}
	if f.ids[rec.Stream] {
		return true
	}
	switch rec.Type {
	case domain.TypeApplicationCreated, domain.TypeSubscriptionCreated, domain.TypeMessagePublished,
		domain.TypeDeliveryScheduled, domain.TypeAPIKeyCreated:
	default:
		return false
	}
	ev, _, err := domain.Decode(rec)
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

// redacts: events whose data carries a signing secret are exported with the
// hash of their data (which the leaf hash covers) and a redacted copy.
func redacted(rec domain.RecordedEvent) (json.RawMessage, bool) {
	if rec.Type != domain.TypeSubscriptionCreated && rec.Type != domain.TypeSubscriptionSecretRotated {
		return nil, false
	}
	var m map[string]any
	if json.Unmarshal(rec.Data, &m) != nil {
		return json.RawMessage(`null`), true
	}
	if k, ok := m["key"].(map[string]any); ok {
		k["secret"] = "[redacted]"
	}
	b, _ := json.Marshal(m)
	return b, true
}

func hexSHA(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Export writes the scope's events with every seal and the public key, as
// NDJSON: a header, the seals, the events in ledger order, a footer. Signing
// secrets are never exported: those events carry the hash of their data.
func Export(ctx context.Context, store domain.EventStore, pub ed25519.PublicKey, scope Scope, w io.Writer) (ExportSummary, error) {
	var seals []exportSeal
	for from := uint64(0); ; {
		recs, err := store.ReadStream(ctx, domain.AuditStream, from, domain.Forward, 256)
		if errors.Is(err, domain.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return ExportSummary{}, err
		}
		for _, r := range recs {
			ev, _, err := domain.Decode(r)
			if err != nil {
				return ExportSummary{}, err
			}
			if s, ok := ev.(domain.AuditSealed); ok {
				seals = append(seals, exportSeal{Kind: "seal", Position: r.Position, Seal: s})
			}
		}
		if len(recs) < 256 {
			break
		}
		from = recs[len(recs)-1].Revision + 1
	}
	head, err := store.Head(ctx)
	if err != nil {
		return ExportSummary{}, err
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
	sum := ExportSummary{Seals: uint64(len(seals))}
	filter := &scopeFilter{scope: scope, ids: map[string]bool{}}
	var seq uint64
	si := 0
	for from := domain.Position(0); from <= head; {
		page, err := store.ReadAll(ctx, from, 2048)
		if err != nil {
			return sum, err
		}
		if len(page) == 0 {
			break
		}
		for _, rec := range page {
			if rec.Position > head {
				break
			}
			if rec.Stream == domain.AuditStream {
				continue
			}
			seq++
			if !filter.include(rec) {
				continue
			}
			for si < len(seals) && seals[si].Seal.ToSeq < seq {
				si++
			}
			e := exportEvent{Kind: "event", Seq: seq, Position: rec.Position, Stream: rec.Stream, Revision: rec.Revision,
				ID: rec.ID, Type: rec.Type, Created: rec.Created, Data: rec.Data, DataSHA256: hexSHA(rec.Data),
				Metadata: rec.Metadata, MetadataSHA256: hexSHA(rec.Metadata)}
			if red, ok := redacted(rec); ok {
				e.Data, e.DataRedacted = nil, red
			}
			if si < len(seals) && seals[si].Seal.FromSeq <= seq {
				e.Seal, e.DigestIndex = seals[si].Seal.Index, seq-seals[si].Seal.FromSeq
			}
			if err := enc.Encode(e); err != nil {
				return sum, err
			}
			sum.Events++
		}
		from = page[len(page)-1].Position + 1
	}
	if err := enc.Encode(exportFooter{Kind: "footer", Events: sum.Events, Seals: sum.Seals}); err != nil {
		return sum, err
	}
	return sum, bw.Flush()
}

// ExportReport is the outcome of an offline export verification.
type ExportReport struct {
	Report
	Scope     Scope `json:"scope"`
	KeyPinned bool  `json:"key_pinned"` // false: checked against the key inside the export
}

// VerifyExport checks an export offline. trusted is the public key the
// auditor trusts (nil: the export's own key is used, and the report says the
// key was not pinned). A full export is replayed like the ledger itself; a
// scoped export proves each event's inclusion in a signed seal.
func VerifyExport(r io.Reader, trusted ed25519.PublicKey) (ExportReport, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out ExportReport
	line := 0
	next := func() (map[string]json.RawMessage, []byte, bool, error) {
		if !sc.Scan() {
			return nil, nil, false, sc.Err()
		}
		line++
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, nil, false, fmt.Errorf("line %d: %w", line, err)
		}
		return m, sc.Bytes(), true, nil
	}
	m, raw, ok, err := next()
	if err != nil || !ok {
		return out, fmt.Errorf("empty or unreadable export: %v", err)
	}
	var h exportHeader
	if err := json.Unmarshal(raw, &h); err != nil || h.Kind != "header" || h.Format != ExportFormat {
		return out, fmt.Errorf("line 1: not a %s header", ExportFormat)
	}
	_ = m
	pub, err := ParsePublicKey(h.PublicKey)
	if err != nil {
		return out, fmt.Errorf("header public key: %w", err)
	}
	if trusted != nil {
		out.KeyPinned = true
		pub = trusted
	}
	out.Scope = h.Scope
	v := newVerifier(pub)
	var seals []domain.AuditSealed
	sealPos := map[uint64]domain.Position{}
	var footer *exportFooter
	full := h.Scope.all()
	nextSeal := 0
	var lastSeq uint64
	var sealsChecked bool
	checkSeals := func() *Problem {
		// The seals must form one signed chain.
		var prev domain.Hash
		var to uint64
		for i, s := range seals {
			if s.Index != uint64(i+1) || s.PrevSealHash != prev.String() || s.FromSeq != to+1 {
				return &Problem{Kind: KindSealMissing, Position: sealPos[s.Index], Seal: s.Index, Detail: fmt.Sprintf("seal #%d does not continue seal #%d", s.Index, i)}
			}
			if err := domain.CheckSeal(s, pub); err != nil {
				kind := KindSealForged
				if errors.Is(err, domain.ErrSealKey) {
					kind = KindSealKey
				}
				return &Problem{Kind: kind, Position: sealPos[s.Index], Seal: s.Index, Detail: fmt.Sprintf("seal #%d: %v", s.Index, err)}
			}
			prev, _ = domain.ParseHash(s.SealHash)
			to = s.ToSeq
		}
		return nil
	}
	for {
		m, raw, ok, err := next()
		if err != nil {
			return out, err
		}
		if !ok {
			break
		}
		var kind string
		json.Unmarshal(m["kind"], &kind)
		switch kind {
		case "seal":
			var s exportSeal
			if err := json.Unmarshal(raw, &s); err != nil {
				return out, fmt.Errorf("line %d: %w", line, err)
			}
			seals = append(seals, s.Seal)
			sealPos[s.Seal.Index] = s.Position
		case "event":
			if !sealsChecked {
				sealsChecked = true
				sort.SliceStable(seals, func(i, j int) bool { return seals[i].Index < seals[j].Index })
				if p := checkSeals(); p != nil {
					v.fail(p)
					out.Report = v.finish()
					return out, nil
				}
			}
			var e exportEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				return out, fmt.Errorf("line %d: %w", line, err)
			}
			leaf, perr := exportLeaf(e)
			if perr != nil {
				v.fail(&Problem{Kind: KindChanged, Position: e.Position, Seq: e.Seq, Detail: perr.Error()})
				out.Report = v.finish()
				return out, nil
			}
			if full {
				if e.Seq != lastSeq+1 {
					v.fail(&Problem{Kind: KindRemoved, Position: e.Position, Seq: e.Seq, Detail: fmt.Sprintf("event number %d follows %d in a full export", e.Seq, lastSeq)})
					out.Report = v.finish()
					return out, nil
				}
				lastSeq = e.Seq
				v.event(e.Position, leaf)
				for nextSeal < len(seals) && seals[nextSeal].ToSeq == e.Seq {
					if p := v.seal(sealPos[seals[nextSeal].Index], seals[nextSeal]); p != nil {
						out.Report = v.finish()
						return out, nil
					}
					nextSeal++
				}
				continue
			}
			// Scoped: prove inclusion in the covering seal.
			v.rep.Events++
			v.rep.Head = e.Position
			if e.Seal == 0 {
				v.rep.Unsealed++
				continue
			}
			if e.Seal > uint64(len(seals)) {
				v.fail(&Problem{Kind: KindSealMissing, Position: e.Position, Seq: e.Seq, Seal: e.Seal, Detail: fmt.Sprintf("the export has no seal #%d", e.Seal)})
				out.Report = v.finish()
				return out, nil
			}
			s := seals[e.Seal-1]
			if e.Seq < s.FromSeq || e.Seq > s.ToSeq || e.DigestIndex != e.Seq-s.FromSeq {
				v.fail(&Problem{Kind: KindReordered, Position: e.Position, Seq: e.Seq, Seal: s.Index, Detail: "the event's place does not fall in its seal"})
				out.Report = v.finish()
				return out, nil
			}
			want := s.Digests[e.DigestIndex*domain.DigestSize : (e.DigestIndex+1)*domain.DigestSize]
			if string(leaf[:domain.DigestSize]) != string(want) {
				v.fail(&Problem{Kind: KindChanged, Position: e.Position, Seq: e.Seq, Seal: s.Index,
					Detail: fmt.Sprintf("the event at position %d differs from the one sealed by seal #%d", e.Position, s.Index)})
				out.Report = v.finish()
				return out, nil
			}
			v.rep.Sealed++
		case "footer":
			var f exportFooter
			json.Unmarshal(raw, &f)
			footer = &f
		default:
			return out, fmt.Errorf("line %d: unknown kind %q", line, kind)
		}
	}
	if !sealsChecked {
		if p := checkSeals(); p != nil {
			v.fail(p)
			out.Report = v.finish()
			return out, nil
		}
	}
	if footer == nil || footer.Events != v.rep.Events {
		v.fail(&Problem{Kind: KindRemoved, Position: v.rep.Head, Detail: "the export is truncated (no footer, or its event count differs)"})
	}
	out.Report = v.finish()
	if full {
		out.Report.Seals = uint64(nextSeal)
	} else {
		out.Report.Seals = uint64(len(seals))
		out.Report.Unsealed = v.rep.Unsealed
	}
	return out, nil
}

// exportLeaf recomputes an exported event's leaf hash. When the data is
// present its hash is computed from it; a redacted event is hashed through the
// data hash the export gives.
func exportLeaf(e exportEvent) (domain.Hash, error) {
	var dataHash, mdHash [32]byte
	if e.Data != nil || e.DataRedacted == nil {
		dataHash = sha256.Sum256(e.Data)
	} else {
		b, err := hex.DecodeString(e.DataSHA256)
		if err != nil || len(b) != 32 {
			return domain.Hash{}, fmt.Errorf("event at position %d: bad data_sha256", e.Position)
		}
		copy(dataHash[:], b)
	}
	mdHash = sha256.Sum256(e.Metadata)
	return domain.LeafHashOfDigests(e.Stream, e.Revision, e.ID, e.Type, dataHash, mdHash), nil
}

var _ = strings.TrimSpace
