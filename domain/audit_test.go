package domain_test

import (
	"crypto/ed25519"
	"errors"
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
