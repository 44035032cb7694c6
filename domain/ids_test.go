package domain_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

func TestTimeOrderedIDsSortByTimeAndCarryIt(t *testing.T) {
	base := time.Date(2026, 12, 5, 1, 2, 3, 4_000_000, time.UTC)
	var ids []string
	for i := range 200 {
		var r [16]byte
		for j := range r {
			r[j] = byte(255 - (i*7+j*13)%256) // later ids draw "smaller" random bytes
		}
		at := base.Add(time.Duration(i) * time.Millisecond)
		id := domain.NewTimeOrderedID(domain.PrefixMessage, at.UnixMilli(), r)
		if err := domain.ValidateID("id", id); err != nil {
			t.Fatal(err)
		}
		if got, ok := domain.IDTime(domain.PrefixMessage, id); !ok || !got.Equal(at) {
			t.Fatalf("IDTime(%s) = %v, %v; want %v", id, got, ok, at)
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("ids drawn at increasing times do not sort in that order: %v", ids[:5])
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatal("ids repeat")
	}
}

func TestTimeOrderedIDsUseTheirRandomBits(t *testing.T) {
	var a, b [16]byte
	b[10] = 1 // the last random byte used
	if domain.NewTimeOrderedID("x_", 1, a) == domain.NewTimeOrderedID("x_", 1, b) {
		t.Fatal("byte 10 of the random bits does not reach the id")
	}
	b = a
	b[0] = 1
	if domain.NewTimeOrderedID("x_", 1, a) == domain.NewTimeOrderedID("x_", 1, b) {
		t.Fatal("byte 0 of the random bits does not reach the id")
	}
}

func TestIDTimeRefusesOtherIDs(t *testing.T) {
	for _, id := range []string{
		"msg_0123456789abcdefghjkmnpqrs",   // random or derived: 26 characters
		domain.MessageIDForKey("app", "k"), // derived
		"sub_0123456789abcdefghjkmnpqrst",  // another prefix
		"msg_0123456789abcdefghjkmnpqrs_",  // not the alphabet
		"msg_U123456789abcdefghjkmnpqrst",
	} {
		if _, ok := domain.IDTime(domain.PrefixMessage, id); ok {
			t.Errorf("IDTime(%s) claims a time", id)
		}
	}
}

func TestDeliveryIDsOfTimeOrderedMessagesShareTheirTime(t *testing.T) {
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	msg := domain.NewTimeOrderedID(domain.PrefixMessage, at.UnixMilli(), [16]byte{9})
	d1, d2 := domain.DeliveryIDFor(msg, "sub_1"), domain.DeliveryIDFor(msg, "sub_2")
	if d1 == d2 || d1 != domain.DeliveryIDFor(msg, "sub_1") {
		t.Fatalf("delivery ids not stable and distinct: %s %s", d1, d2)
	}
	for _, d := range []string{d1, d2} {
		if got, ok := domain.IDTime(domain.PrefixDelivery, d); !ok || !got.Equal(at) {
			t.Fatalf("IDTime(%s) = %v, %v; want the message's %v", d, got, ok, at)
		}
		if err := domain.ValidateID("id", d); err != nil {
			t.Fatal(err)
		}
	}
	later := domain.NewTimeOrderedID(domain.PrefixMessage, at.UnixMilli()+1, [16]byte{})
	if !(domain.DeliveryIDFor(later, "sub_1") > d1 && domain.DeliveryIDFor(later, "sub_1") > d2) {
		t.Fatal("a later message's deliveries do not sort after an earlier one's")
	}
}

// A ledger written before time-ordered ids holds message ids of 26
// characters; their deliveries must keep the ids they were scheduled under,
// or a fan-out finished after an upgrade would schedule a second delivery.
func TestDeliveryIDsOfOtherMessagesKeepTheirDerivation(t *testing.T) {
	if got := domain.DeliveryIDFor("msg_0123456789abcdefghjkmnpqrs", "sub_x"); got != "dlv_chakxc13mqga6sm5xqmj2yferr" {
		t.Fatalf("DeliveryIDFor changed for a 26-character message id: %s", got)
	}
	if got := domain.DeliveryIDFor("msg_1", "sub_1"); strings.TrimPrefix(got, domain.PrefixDelivery) == got || len(got) != len("dlv_")+26 {
		t.Fatalf("DeliveryIDFor(msg_1) = %s", got)
	}
}

// The hashes recorded in the ledger (payloads, API keys) keep their form:
// "sha256:" and the digest in lower-case hex.
func TestHashesKeepTheirRecordedForm(t *testing.T) {
	if got, want := domain.PayloadHash([]byte(`{}`)), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"; got != want {
		t.Errorf("PayloadHash = %s, want %s", got, want)
	}
	if got, want := domain.HashAPIKey("k1"), "sha256:6ab9f1eb8f7d3388f4f9d586f66e99fd54080df2c446f0e58668b09c08a16dd0"; got != want {
		t.Errorf("HashAPIKey = %s, want %s", got, want)
	}
}
