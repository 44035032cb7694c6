package domain

import (
	"context"
	"time"
)

// The key store of payload encryption sits outside the ledger; what an
// operator does to it as a whole is recorded in the ledger, so an auditor
// sees when the master key that wraps the data keys changed.
const TypeMasterKeyRotated = "key_store.master_key_rotated"

// KeyStoreStream is the stream of those records.
const KeyStoreStream = "key-store"

// MasterKeyRotated: every data key was re-wrapped under another master key
// (`hookledger keys rotate-master`). The ids name the keys, never reveal
// them. Its actor is the operator's process (local-operator).
type MasterKeyRotated struct {
	// KeyStore is where the data keys are: "local" (a data directory's) or
	// "ledger" (the ledger's server's, a cluster's).
	KeyStore      string    `json:"key_store"`
	FromMasterID  string    `json:"from_master_id"`
	ToMasterID    string    `json:"to_master_id"`
	KeysRewrapped int       `json:"keys_rewrapped"`
	RotatedAt     time.Time `json:"rotated_at"`
}

func (MasterKeyRotated) Type() string { return TypeMasterKeyRotated }

// RecordMasterKeyRotation appends a MasterKeyRotated to KeyStoreStream.
func (c *Commands) RecordMasterKeyRotation(ctx context.Context, ev MasterKeyRotated, md Metadata) (AppendResult, error) {
	if ev.RotatedAt.IsZero() {
		ev.RotatedAt = c.Now().UTC()
	}
	res, _, err := c.append(ctx, KeyStoreStream, Any, []Event{ev}, md)
	return res, err
}
