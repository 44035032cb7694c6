package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hookledger/hookledger/domain"
)

// KindFooter: the export's signed footer is missing, forged, or disagrees
// with the header or the lines before it.
const KindFooter = "export_footer_invalid"

// ExportReport is the outcome of an offline export verification.
type ExportReport struct {
	Report
	Scope     Scope `json:"scope"`
	KeyPinned bool  `json:"key_pinned"` // false: checked against the key inside the export
	// LedgerHead is the ledger's head when the export was taken (its signed
	// header's): where the next export of the same scope starts (From).
	LedgerHead domain.Position `json:"ledger_head"`
	// FirstSeal and LastSeal are the first and the last of its valid seals
	// (none: nil): what ties it to the export before and after it.
	FirstSeal *ExportSealRef `json:"first_seal,omitempty"`
	LastSeal  *ExportSealRef `json:"last_export_seal,omitempty"`
}

// ExportSealRef names one seal of an export, and the seal it continues.
type ExportSealRef struct {
	Index    uint64 `json:"index"`
	Hash     string `json:"hash"`
	PrevHash string `json:"prev_hash"`
}

// VerifyExport checks an export offline. trusted is the public key the
// auditor trusts (nil: the export's own key is used, and the report says the
// key was not pinned).
//
// It proves three things. Each event is the sealed one: a full export is
// replayed like the ledger itself, a scoped export proves each event's
// inclusion in a signed seal. Nothing was removed, inserted or moved: every
// event line names the line before it (a removed line is reported at its own
// position), positions only grow, and the signed footer gives the last
// position, the count and a digest of every line. And the export is the one
// the seal key's holder made: the footer, which repeats the header's scope
// and head, is signed.
func VerifyExport(r io.Reader, trusted ed25519.PublicKey) (ExportReport, error) {
	return VerifyExportExpecting(r, trusted, Expect{})
}

// VerifyExportExpecting is VerifyExport that also checks what the auditor
// pinned, as VerifyExpecting does for a ledger: the ledger the export was
// taken from had reached exp.Head (the head its signed footer records), and
// the seal with hash exp.SealHash is among the export's valid seals.
func VerifyExportExpecting(r io.Reader, trusted ed25519.PublicKey, exp Expect) (ExportReport, error) {
	lr := newLineReader(r)
	var out ExportReport
	h, err := readExportHeader(lr)
	if err != nil {
		return out, err
	}
	pub, err := ParsePublicKey(h.PublicKey)
	if err != nil {
		return out, fmt.Errorf("header public key: %w", err)
	}
	if trusted != nil {
		out.KeyPinned, pub = true, trusted
	}
	out.Scope = h.Scope
	b, err := h.Scope.bounds()
	if err != nil {
		return out, fmt.Errorf("the header's scope: %w", err)
	}
	// A bounded export is proved event by event against its seals, as a
	// scoped one: it holds no chain from the ledger's first event to replay.
	ev := &exportVerifier{v: newVerifier(pub), pub: pub, header: h, full: h.Scope.all() && !h.Scope.Bounded(), bounds: b}
	problem, err := ev.run(lr)
	if err != nil {
		return out, err
	}
	if problem != nil && ev.v.rep.Problem == nil {
		ev.v.fail(problem)
	}
	out.Report = ev.v.finish()
	out.Report.Seals = ev.sealsReport()
	if !ev.full {
		out.Report.Unsealed = ev.unsealed
	}
	ev.checkExpect(&out.Report, exp)
	out.LedgerHead = h.Head
	if valid := ev.seals[:ev.sealsReport()]; len(valid) > 0 {
		ref := func(s domain.AuditSealed) *ExportSealRef {
			return &ExportSealRef{Index: s.Index, Hash: s.SealHash, PrevHash: s.PrevSealHash}
		}
		out.FirstSeal, out.LastSeal = ref(valid[0]), ref(valid[len(valid)-1])
	}
	return out, nil
}

// checkExpect adds the first unmet expectation to a report that found no
// other problem. Only the seals the verification accepted count: a full
// export's that its replay reached, every one of a scoped export's (their
// chain and signatures were checked before its events).
func (ev *exportVerifier) checkExpect(rep *Report, exp Expect) {
	if rep.Problem != nil {
		return
	}
	valid := ev.seals[:ev.sealsReport()]
	switch {
	case exp.Head > 0 && ev.header.Head < exp.Head:
		rep.Problem = &Problem{Kind: KindTruncated, Position: ev.header.Head,
			Detail: fmt.Sprintf("the export was taken when the ledger ended at position %d but the expected head is %d: events were removed from the ledger, or this export is older", ev.header.Head, exp.Head)}
	case exp.SealHash != "" && !slices.ContainsFunc(valid, func(s domain.AuditSealed) bool { return s.SealHash == exp.SealHash }):
		rep.Problem = &Problem{Kind: KindUnexpected, Position: ev.header.Head,
			Detail: fmt.Sprintf("the expected seal %s is not among the export's valid seals: it was removed, or this export is of another ledger", exp.SealHash)}
	}
	rep.OK = rep.Problem == nil
}

// exportVerifier holds the state of one export verification.
type exportVerifier struct {
	v      *verifier
	pub    ed25519.PublicKey
	header exportHeader
	full   bool
	bounds bounds

	seals    []domain.AuditSealed
	sealPos  map[uint64]domain.Position
	nextSeal int // full exports: the next seal to check against the replay

	lastSeq  uint64
	lastPos  domain.Position
	unsealed uint64 // scoped exports: events after the last seal
	events   uint64
	digest   domain.Hash
	footer   *exportFooter
}

func (ev *exportVerifier) sealsReport() uint64 {
	if ev.full {
		return uint64(ev.nextSeal)
	}
	return uint64(len(ev.seals))
}

// run reads the seals, then the events, then the footer, stopping at the
// first problem.
func (ev *exportVerifier) run(lr *lineReader) (*Problem, error) {
	ev.sealPos = map[uint64]domain.Position{}
	for {
		kind, raw, ok, err := lr.next()
		if err != nil {
			return nil, err
		}
		if !ok || kind != "seal" {
			if ok {
				lr.unread()
			}
			break
		}
		var s exportSeal
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("line %d: %w", lr.line, err)
		}
		ev.seals = append(ev.seals, s.Seal)
		ev.sealPos[s.Seal.Index] = s.Position
	}
	if p := ev.checkSealChain(); p != nil {
		return p, nil
	}
	for {
		kind, raw, ok, err := lr.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return ev.checkFooter()
		}
		switch kind {
		case "event":
			var e exportEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, fmt.Errorf("line %d: %w", lr.line, err)
			}
			if p := ev.event(e, lr); p != nil {
				return p, nil
			}
		case "footer":
			if ev.footer != nil {
				return &Problem{Kind: KindFooter, Position: ev.lastPos, Detail: "two footers"}, nil
			}
			var f exportFooter
			if err := json.Unmarshal(raw, &f); err != nil {
				return nil, fmt.Errorf("line %d: %w", lr.line, err)
			}
			ev.footer = &f
		case "seal":
			return &Problem{Kind: KindSealMissing, Position: ev.lastPos, Detail: fmt.Sprintf("line %d: a seal among the events: the export's lines were moved", lr.line)}, nil
		default:
			return nil, fmt.Errorf("line %d: unknown kind %q", lr.line, kind)
		}
	}
}

// checkSealChain requires the seals in index order, each continuing the one
// before it and signed with the key. A bounded export's seals start with the
// first that covers an event within its bounds, which continues a seal the
// export leaves out; the signed footer counts them.
func (ev *exportVerifier) checkSealChain() *Problem {
	var prev domain.Hash
	var to, index uint64
	for i, s := range ev.seals {
		continues := s.Index == index+1 && s.PrevSealHash == prev.String() && s.FromSeq == to+1
		if i == 0 && ev.header.Scope.Bounded() {
			continues = s.Index >= 1
		}
		if !continues {
			return &Problem{Kind: KindSealMissing, Position: ev.sealPos[s.Index], Seal: s.Index,
				Detail: fmt.Sprintf("seal #%d does not continue seal #%d (a seal was removed or the seals reordered)", s.Index, index)}
		}
		if err := domain.CheckSeal(s, ev.pub); err != nil {
			kind := KindSealForged
			if errors.Is(err, domain.ErrSealKey) {
				kind = KindSealKey
			}
			return &Problem{Kind: kind, Position: ev.sealPos[s.Index], Seal: s.Index, Detail: fmt.Sprintf("seal #%d: %v", s.Index, err)}
		}
		prev, _ = domain.ParseHash(s.SealHash)
		to, index = s.ToSeq, s.Index
	}
	return nil
}

// event checks one event line: its place, then its content.
func (ev *exportVerifier) event(e exportEvent, lr *lineReader) *Problem {
	if ev.footer != nil {
		return &Problem{Kind: KindInserted, Position: e.Position, Seq: e.Seq, Detail: "an event after the footer"}
	}
	if p := ev.checkBounds(e); p != nil {
		return p
	}
	if p := ev.checkPlace(e, lr); p != nil {
		return p
	}
	leaf, err := exportLeaf(e)
	if err != nil {
		return &Problem{Kind: KindChanged, Position: e.Position, Seq: e.Seq, Detail: err.Error()}
	}
	if p := ev.checkContent(e, leaf); p != nil {
		return p
	}
	ev.digest = eventsDigest(ev.digest, e.Seq, e.Position, e.Prev, leaf)
	ev.lastSeq, ev.lastPos = e.Seq, e.Position
	ev.events++
	return nil
}

// checkPlace finds removed, inserted and moved lines. A line whose prev is
// beyond the last line read follows a missing one: if the next line is the
// missing one, the two were swapped; otherwise it was removed, and it is
// reported at its own position.
func (ev *exportVerifier) checkPlace(e exportEvent, lr *lineReader) *Problem {
	if e.Position <= ev.lastPos || (ev.lastSeq > 0 && e.Seq <= ev.lastSeq) {
		return &Problem{Kind: KindReordered, Position: e.Position, Seq: e.Seq,
			Detail: fmt.Sprintf("the event at position %d comes after position %d: the export's lines were reordered", e.Position, ev.lastPos)}
	}
	if e.Prev == ev.lastPos {
		if ev.full && e.Seq != ev.lastSeq+1 {
			return &Problem{Kind: KindRemoved, Position: e.Position, Seq: e.Seq,
				Detail: fmt.Sprintf("event number %d follows %d in a full export", e.Seq, ev.lastSeq)}
		}
		return nil
	}
	if e.Prev < ev.lastPos {
		return &Problem{Kind: KindInserted, Position: ev.lastPos,
			Detail: fmt.Sprintf("the event at position %d was not in the export: the next line follows position %d", ev.lastPos, e.Prev)}
	}
	if next, ok := lr.peekEvent(); ok && next.Position == e.Prev {
		return &Problem{Kind: KindReordered, Position: e.Prev, Seq: next.Seq,
			Detail: fmt.Sprintf("the events at positions %d and %d are in each other's place", e.Prev, e.Position)}
	}
	return &Problem{Kind: KindRemoved, Position: e.Prev,
		Detail: fmt.Sprintf("the event at position %d is missing (the line at position %d follows it)", e.Prev, e.Position)}
}

// checkContent proves the event is the sealed one.
func (ev *exportVerifier) checkContent(e exportEvent, leaf domain.Hash) *Problem {
	v := ev.v
	if ev.full {
		v.event(e.Position, leaf)
		for ev.nextSeal < len(ev.seals) && ev.seals[ev.nextSeal].ToSeq == e.Seq {
			s := ev.seals[ev.nextSeal]
			if p := v.seal(ev.sealPos[s.Index], s); p != nil {
				return p
			}
			ev.nextSeal++
		}
		return nil
	}
	v.rep.Events++
	v.rep.Head = e.Position
	if e.Seal == 0 {
		ev.unsealed++
		return nil
	}
	// The seals are consecutive (checkSealChain), from the first one's index.
	if len(ev.seals) == 0 || e.Seal < ev.seals[0].Index || e.Seal-ev.seals[0].Index >= uint64(len(ev.seals)) {
		return &Problem{Kind: KindSealMissing, Position: e.Position, Seq: e.Seq, Seal: e.Seal, Detail: fmt.Sprintf("the export has no seal #%d", e.Seal)}
	}
	s := ev.seals[e.Seal-ev.seals[0].Index]
	if e.Seq < s.FromSeq || e.Seq > s.ToSeq || e.DigestIndex != e.Seq-s.FromSeq {
		return &Problem{Kind: KindReordered, Position: e.Position, Seq: e.Seq, Seal: s.Index, Detail: "the event's place does not fall in its seal"}
	}
	want := s.Digests[e.DigestIndex*domain.DigestSize : (e.DigestIndex+1)*domain.DigestSize]
	if string(leaf[:domain.DigestSize]) != string(want) {
		return &Problem{Kind: KindChanged, Position: e.Position, Seq: e.Seq, Seal: s.Index,
			Detail: fmt.Sprintf("the event at position %d differs from the one sealed by seal #%d", e.Position, s.Index)}
	}
	v.rep.Sealed++
	return nil
}

// checkFooter checks the signed footer against everything read.
func (ev *exportVerifier) checkFooter() (*Problem, error) {
	f := ev.footer
	if f == nil {
		return &Problem{Kind: KindRemoved, Position: ev.lastPos, Detail: "the export is truncated: no footer after position " + fmt.Sprint(ev.lastPos)}, nil
	}
	h := footerHash(f.footerBody)
	if !ed25519.Verify(ev.pub, h[:], f.Signature) {
		return &Problem{Kind: KindFooter, Position: ev.lastPos, Detail: "the footer's signature does not verify with the key: the footer was changed or forged"}, nil
	}
	switch {
	case f.Format != ev.header.Format || f.Scope != ev.header.Scope || f.Head != ev.header.Head:
		return &Problem{Kind: KindFooter, Position: ev.lastPos, Detail: "the header's scope or head differs from the signed footer's"}, nil
	case f.Seals != uint64(len(ev.seals)):
		return &Problem{Kind: KindSealMissing, Position: ev.lastPos, Detail: fmt.Sprintf("the export holds %d seals, the signed footer says %d", len(ev.seals), f.Seals)}, nil
	case f.LastPosition > ev.lastPos:
		return &Problem{Kind: KindRemoved, Position: f.LastPosition,
			Detail: fmt.Sprintf("the event at position %d is missing (the export's last event, per its signed footer)", f.LastPosition)}, nil
	case f.LastPosition < ev.lastPos:
		return &Problem{Kind: KindInserted, Position: ev.lastPos, Detail: fmt.Sprintf("the signed footer ends at position %d", f.LastPosition)}, nil
	case f.Events != ev.events:
		return &Problem{Kind: KindRemoved, Position: ev.lastPos, Detail: fmt.Sprintf("the export holds %d events, the signed footer says %d", ev.events, f.Events)}, nil
	case f.EventsDigest != ev.digest.String():
		return &Problem{Kind: KindChanged, Position: ev.lastPos, Detail: "the events differ from the ones exported (the signed digest of the event lines does not match)"}, nil
	}
	return nil, nil
}

// readExportHeader reads and checks the first line.
func readExportHeader(lr *lineReader) (exportHeader, error) {
	var h exportHeader
	kind, raw, ok, err := lr.next()
	if err != nil && bytes.HasPrefix(lr.raw, []byte("position,stream,")) {
		return h, errors.New("this is the CSV form of an export (export --format csv), made for spreadsheets: it holds no seals and proves nothing; verify the NDJSON export of the same scope")
	}
	if err != nil || !ok {
		return h, fmt.Errorf("empty or unreadable export: %v", err)
	}
	if err := json.Unmarshal(raw, &h); err != nil || kind != "header" {
		return h, errors.New("line 1: not an export header")
	}
	if h.Format == "hookledger-export/1" {
		return h, errors.New("this export is in format hookledger-export/1, which cannot prove a scoped export complete: export it again")
	}
	if h.Format != ExportFormat {
		return h, fmt.Errorf("line 1: format %q, want %s", h.Format, ExportFormat)
	}
	return h, nil
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

// lineReader reads NDJSON lines with one line of lookahead.
type lineReader struct {
	sc      *bufio.Scanner
	line    int
	pending bool   // the last line read is to be served again
	kind    string // of the last line read
	raw     []byte
}

func newLineReader(r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return &lineReader{sc: sc}
}

func (l *lineReader) next() (string, []byte, bool, error) {
	if l.pending {
		l.pending = false
		return l.kind, l.raw, true, nil
	}
	for l.sc.Scan() {
		l.line++
		b := bytes.TrimSpace(l.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var k struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(b, &k); err != nil {
			l.raw = append(l.raw[:0], b...) // for the caller to say what the line is
			return "", nil, false, fmt.Errorf("line %d: %w", l.line, err)
		}
		l.kind, l.raw = k.Kind, append(l.raw[:0], b...)
		return l.kind, l.raw, true, nil
	}
	return "", nil, false, l.sc.Err()
}

func (l *lineReader) unread() { l.pending = true }

// peekEvent returns the next line if it is an event, leaving it to be read.
func (l *lineReader) peekEvent() (exportEvent, bool) {
	kind, raw, ok, err := l.next()
	if err != nil || !ok {
		return exportEvent{}, false
	}
	l.unread()
	var e exportEvent
	if kind != "event" || json.Unmarshal(raw, &e) != nil {
		return exportEvent{}, false
	}
	return e, true
}
