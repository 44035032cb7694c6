package audit

import (
	"fmt"

	"github.com/hookledger/hookledger/domain"
)

// KindNotFollowing: an export said to follow another does not start where
// the other ended, or is of another scope, key or seal chain.
const KindNotFollowing = "export_does_not_follow"

// Follows checks that next, an export bounded to what was recorded after
// prev was taken (the periodic exports of one scope), leaves nothing out
// between them: both verified, with the same seal key and the same scope;
// next starts where prev ended (From one past prev's To, or past the head
// prev was taken at; or Since at prev's Until); and where their seals meet
// they agree (the same seal, or the one after it, whose previous-seal hash
// is prev's last). Nil when it does.
func Follows(prev, next ExportReport) *Problem {
	fail := func(format string, args ...any) *Problem {
		return &Problem{Kind: KindNotFollowing, Position: next.Scope.From, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case !prev.OK || !next.OK:
		return fail("both exports must verify first")
	case prev.KeyID != next.KeyID:
		return fail("the exports are sealed by different keys (%s, then %s)", prev.KeyID, next.KeyID)
	case prev.Scope.Application != next.Scope.Application || prev.Scope.Subscription != next.Scope.Subscription || prev.Scope.Subject != next.Scope.Subject:
		return fail("the exports are of different scopes (%s, then %s)", prev.Scope, next.Scope)
	}
	switch {
	case next.Scope.Since != "" && prev.Scope.Until != "":
		if next.Scope.Since != prev.Scope.Until {
			return fail("it starts with the events recorded at %s, the export before ends before %s", next.Scope.Since, prev.Scope.Until)
		}
	case next.Scope.From != 0:
		if end := prev.Ends(); next.Scope.From != end+1 {
			return fail("it starts at position %d, the export before ends at %d: take it with --from %d", next.Scope.From, end, end+1)
		}
	default:
		return fail("it is not bounded to what came after the export before (--from its head + 1, or --since its --until)")
	}
	// Where their seals meet, they must agree. Seals between them (ones
	// made after prev was taken that cover only its unsealed tail) are in
	// neither: a full export holds them.
	if p, n := prev.LastSeal, next.FirstSeal; p != nil && n != nil {
		switch {
		case n.Index < p.Index:
			return fail("its first seal #%d comes before the export before's last, #%d", n.Index, p.Index)
		case n.Index == p.Index && n.Hash != p.Hash:
			return fail("its seal #%d differs from the export before's", n.Index)
		case n.Index == p.Index+1 && n.PrevHash != p.Hash:
			return fail("its first seal #%d does not continue the export before's last seal #%d", n.Index, p.Index)
		}
	}
	return nil
}

// Ends is where an export ends, for the next one's --from: one past it.
func (r ExportReport) Ends() domain.Position {
	if r.Scope.To != 0 && r.Scope.To < r.LedgerHead {
		return r.Scope.To
	}
	return r.LedgerHead
}
