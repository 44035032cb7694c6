package domain_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

func TestLeafAndChainAreSensitiveToEveryField(t *testing.T) {
	base := domain.LeafHash("s", 1, "id", "t", []byte("data"), []byte("md"))
	for name, h := range map[string]domain.Hash{
		"stream":   domain.LeafHash("s2", 1, "id", "t", []byte("data"), []byte("md")),
		"revision": domain.LeafHash("s", 2, "id", "t", []byte("data"), []byte("md")),
		"id":       domain.LeafHash("s", 1, "id2", "t", []byte("data"), []byte("md")),
		"type":     domain.LeafHash("s", 1, "id", "t2", []byte("data"), []byte("md")),
		"data":     domain.LeafHash("s", 1, "id", "t", []byte("datb"), []byte("md")),
		"metadata": domain.LeafHash("s", 1, "id", "t", []byte("data"), []byte("me")),
		"boundary": domain.LeafHash("s", 1, "i", "dt", []byte("data"), []byte("md")),
	} {
		if h == base {
			t.Errorf("changing %s does not change the leaf hash", name)
		}
	}
	var zero domain.Hash
	c1 := domain.ChainNext(zero, 1, base)
	if c1 == domain.ChainNext(zero, 2, base) || c1 == domain.ChainNext(c1, 1, base) {
		t.Fatal("the chain must cover the sequence number and the previous value")
	}
}

func TestSealSignAndCheck(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	var zero domain.Hash
	s := domain.AuditSealed{Index: 1, FromSeq: 1, ToSeq: 2, Count: 2, ChainHash: zero.String(), PrevSealHash: zero.String(), Digests: make([]byte, 32), SealedAt: t0}
	s, err := domain.SignSeal(s, priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := domain.CheckSeal(s, pub); err != nil {
		t.Fatalf("a fresh seal must verify: %v", err)
	}
	forged := s
	forged.ToSeq, forged.Count = 3, 3
	forged.Digests = make([]byte, 48)
	if err := domain.CheckSeal(forged, pub); !errors.Is(err, domain.ErrSealHash) {
		t.Fatalf("changed fields: %v", err)
	}
	resigned, _ := domain.SignSeal(forged, priv)
	resigned.Signature[0] ^= 1
	if err := domain.CheckSeal(resigned, pub); !errors.Is(err, domain.ErrSealSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	byOther, _ := domain.SignSeal(s, otherPriv)
	if err := domain.CheckSeal(byOther, pub); !errors.Is(err, domain.ErrSealKey) {
		t.Fatalf("seal by another key: %v", err)
	}
	if err := domain.CheckSeal(byOther, otherPub); err != nil {
		t.Fatal(err)
	}
}

// The leaf hash is part of every seal already signed: its value may never
// change. Pinned here, and checked against its definition written out.
func TestLeafHashKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		stream   string
		revision uint64
		id, typ  string
		data, md []byte
		want     string
	}{
		{"delivery-dlv_1", 3, "7655bfe5-9cbd-400e-bfed-d0790a38bb13", "delivery.attempt_started", []byte(`{"a":1}`), []byte(`{"schema":1}`),
			"d31a9e424c5f0a2ee6b98ce18aa649bc606ecde9cd526e21339dee4ab66b697a"},
		{"", 0, "", "", nil, nil, "13fe0ee64ad4d8ae60389f991911ce158bf39b14a0fa46a80d5c495416840027"},
		{strings.Repeat("s", 300), 1 << 40, strings.Repeat("i", 70), "t", []byte("d"), []byte("m"), ""}, // past the stack buffer
	} {
		got := domain.LeafHash(c.stream, c.revision, c.id, c.typ, c.data, c.md)
		if c.want != "" && hex.EncodeToString(got[:]) != c.want {
			t.Errorf("%s/%d: %x, want %s", c.stream, c.revision, got, c.want)
		}
		var in []byte
		lp := func(s string) { in = binary.BigEndian.AppendUint32(in, uint32(len(s))); in = append(in, s...) }
		in = append(in, "hookledger-event-v1"...)
		lp(c.stream)
		in = binary.BigEndian.AppendUint64(in, c.revision)
		lp(c.id)
		lp(c.typ)
		dh, mh := sha256.Sum256(c.data), sha256.Sum256(c.md)
		in = append(append(in, dh[:]...), mh[:]...)
		if want := sha256.Sum256(in); got != want {
			t.Errorf("%.20s/%d: %x, the definition gives %x", c.stream, c.revision, got, want)
		}
	}
}

func BenchmarkLeafHash(b *testing.B) {
	data, md := make([]byte, 180), make([]byte, 190)
	b.ReportAllocs()
	for b.Loop() {
		domain.LeafHash("delivery-dlv_01m92z5xv34sz13kqtzqp348s6t", 3, "7655bfe5-9cbd-400e-bfed-d0790a38bb13", "delivery.attempt_acknowledged", data, md)
	}
}
