package domain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// AuditStream holds the seals. Its events are not part of the hash chain
// (seals are chained among themselves).
const AuditStream = "audit-seals"

// TypeAuditSealed is the seal event's type.
const TypeAuditSealed = "audit.sealed"

// DigestSize is the length of a per-event digest kept in a seal: the first
// 16 bytes of the event's leaf hash.
const DigestSize = 16

// MaxSealEvents bounds the events of one seal (its digests must fit in one
// ledger event).
const MaxSealEvents = 40_000

// AuditSealed: a range of the ledger was sealed. The seal is signed with
// ed25519; see docs/audit.md for the byte-exact construction.
type AuditSealed struct {
	Index        uint64    `json:"index"`
	FromSeq      uint64    `json:"from_seq"`
	ToSeq        uint64    `json:"to_seq"`
	Count        uint64    `json:"count"`
	FromPosition Position  `json:"from_position"` // informative: store positions change in a migration
	ToPosition   Position  `json:"to_position"`
	ChainHash    string    `json:"chain_hash"`     // hex, the chain value after ToSeq
	PrevSealHash string    `json:"prev_seal_hash"` // hex, zeros for the first seal
	Digests      []byte    `json:"digests"`        // Count x DigestSize bytes (base64 in JSON)
	SealedAt     time.Time `json:"sealed_at"`
	KeyID        string    `json:"key_id"`
	SealHash     string    `json:"seal_hash"` // hex
	Signature    []byte    `json:"signature"` // ed25519 over the 32 bytes of the seal hash
}

func (AuditSealed) Type() string { return TypeAuditSealed }

// Hash is a SHA-256 value.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hex hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("not a hex SHA-256: %q", s)
	}
	copy(h[:], b)
	return h, nil
}

func lp(h interface{ Write([]byte) (int, error) }, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// LeafHash is an event's hash, independent of where the store put it:
//
//	SHA-256("hookledger-event-v1" || lp(stream) || u64(revision) || lp(id) ||
//	        lp(type) || SHA-256(data) || SHA-256(metadata))
//
// lp(x) is a big-endian u32 length then x; u64 is big-endian. Hashing the
// digests of data and metadata (not the bytes) lets an export withhold
// them (secrets, erased payloads) and stay verifiable.
func LeafHash(stream string, revision uint64, id, typ string, data, metadata []byte) Hash {
	dataHash := sha256.Sum256(data)
	mdHash := sha256.Sum256(metadata)
	return LeafHashOfDigests(stream, revision, id, typ, dataHash, mdHash)
}

// LeafHashOfDigests is LeafHash given the SHA-256 of data and metadata.
// The whole input is laid out in one buffer, on the stack for the usual
// sizes, and hashed in one call: the sealer hashes every event the ledger
// appends, and a hash.Hash with a write per field cost an allocation per
// field and one for the hash. BenchmarkLeafHash: 718 -> 518 ns, 7 -> 0
// allocations.
func LeafHashOfDigests(stream string, revision uint64, id, typ string, dataHash, mdHash [32]byte) Hash {
	var stack [256]byte
	b := append(stack[:0], "hookledger-event-v1"...)
	b = appendLP(b, stream)
	b = binary.BigEndian.AppendUint64(b, revision)
	b = appendLP(b, id)
	b = appendLP(b, typ)
	b = append(b, dataHash[:]...)
	b = append(b, mdHash[:]...)
	return sha256.Sum256(b)
}

// appendLP appends lp's encoding of s: its length (u32) and its bytes.
func appendLP(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// LeafOf is LeafHash of a recorded event.
func LeafOf(rec RecordedEvent) Hash {
	return LeafHash(rec.Stream, rec.Revision, rec.ID, rec.Type, rec.Data, rec.Metadata)
}

// ChainNext extends the chain: SHA-256("hookledger-chain-v1" || prev ||
// u64(seq) || leaf). The chain starts from 32 zero bytes; seq counts the
// ledger's events from 1, seals excluded.
func ChainNext(prev Hash, seq uint64, leaf Hash) Hash {
	var buf [19 + 32 + 8 + 32]byte
	copy(buf[:], "hookledger-chain-v1")
	copy(buf[19:], prev[:])
	binary.BigEndian.PutUint64(buf[51:], seq)
	copy(buf[59:], leaf[:])
	return sha256.Sum256(buf[:])
}

// ComputeSealHash is the value a seal signs:
//
//	SHA-256("hookledger-seal-v1" || u64(index) || u64(from_seq) || u64(to_seq) ||
//	        u64(count) || chain_hash || prev_seal_hash || SHA-256(digests) ||
//	        u64(sealed_at unix nanoseconds) || lp(key_id))
//
// Store positions are not covered: they change when a ledger is copied to
// another store.
func ComputeSealHash(s AuditSealed) (Hash, error) {
	chain, err := ParseHash(s.ChainHash)
	if err != nil {
		return Hash{}, fmt.Errorf("chain_hash: %w", err)
	}
	prev, err := ParseHash(s.PrevSealHash)
	if err != nil {
		return Hash{}, fmt.Errorf("prev_seal_hash: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("hookledger-seal-v1"))
	var u [8]byte
	for _, v := range []uint64{s.Index, s.FromSeq, s.ToSeq, s.Count} {
		binary.BigEndian.PutUint64(u[:], v)
		h.Write(u[:])
	}
	h.Write(chain[:])
	h.Write(prev[:])
	d := sha256.Sum256(s.Digests)
	h.Write(d[:])
	binary.BigEndian.PutUint64(u[:], uint64(s.SealedAt.UnixNano()))
	h.Write(u[:])
	lp(h, []byte(s.KeyID))
	var out Hash
	h.Sum(out[:0])
	return out, nil
}

// KeyIDFor names an ed25519 public key: "ed25519:" and the first 8 bytes of
// its SHA-256, in hex.
func KeyIDFor(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(h[:8])
}

// SignSeal fills in KeyID, SealHash and Signature.
func SignSeal(s AuditSealed, key ed25519.PrivateKey) (AuditSealed, error) {
	s.KeyID = KeyIDFor(key.Public().(ed25519.PublicKey))
	h, err := ComputeSealHash(s)
	if err != nil {
		return s, err
	}
	s.SealHash = h.String()
	s.Signature = ed25519.Sign(key, h[:])
	return s, nil
}

// Errors of seal checks.
var (
	ErrSealHash      = errors.New("seal hash does not match its fields")
	ErrSealSignature = errors.New("seal signature does not verify")
	ErrSealKey       = errors.New("seal signed by another key")
)

// CheckSeal verifies a seal's own integrity: hash over its fields, digest
// length, and signature by pub.
func CheckSeal(s AuditSealed, pub ed25519.PublicKey) error {
	if KeyIDFor(pub) != s.KeyID {
		return fmt.Errorf("%w: %s, trusted key is %s", ErrSealKey, s.KeyID, KeyIDFor(pub))
	}
	h, err := ComputeSealHash(s)
	if err != nil {
		return err
	}
	if h.String() != s.SealHash {
		return ErrSealHash
	}
	if uint64(len(s.Digests)) != s.Count*DigestSize || s.Count != s.ToSeq-s.FromSeq+1 {
		return fmt.Errorf("%w: %d digests for %d events (%d..%d)", ErrSealHash, len(s.Digests)/DigestSize, s.Count, s.FromSeq, s.ToSeq)
	}
	if !ed25519.Verify(pub, h[:], s.Signature) {
		return ErrSealSignature
	}
	return nil
}
