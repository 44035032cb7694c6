package domain

import (
	"context"
	"time"
)

// Copies of the ledger's data taken through the API, recorded in the ledger
// itself: an auditor can answer who took which data, and when (an export of
// a subject's messages is an access request's answer; a backup holds
// everything).
const (
	TypeLedgerExported = "ledger.exported"
	TypeLedgerBackedUp = "ledger.backed_up"
)

// AccessStream is the stream of those records.
const AccessStream = "ledger-access"

// LedgerExported: a verifiable export was taken (GET /v1/audit/export). Its
// actor (in the metadata) is the key that took it.
type LedgerExported struct {
	Application  string   `json:"application,omitempty"`
	Subscription string   `json:"subscription,omitempty"`
	Subject      string   `json:"subject,omitempty"`
	From         Position `json:"from,omitempty"`
	To           Position `json:"to,omitempty"`
	Since        string   `json:"since,omitempty"`
	Until        string   `json:"until,omitempty"`
	// Head is the ledger's head the export was taken at; Events and Seals
	// what it held.
	Head   Position `json:"head"`
	Events uint64   `json:"events"`
	Seals  uint64   `json:"seals"`
	// Complete is false for an export that failed midway: the client was
	// sent part of it.
	Complete   bool      `json:"complete"`
	ExportedAt time.Time `json:"exported_at"`
}

// LedgerBackedUp: a backup was taken (POST /v1/backup).
type LedgerBackedUp struct {
	Head       Position  `json:"head"`
	Files      int       `json:"files"`
	Bytes      int64     `json:"bytes"`
	Complete   bool      `json:"complete"`
	BackedUpAt time.Time `json:"backed_up_at"`
}

func (LedgerExported) Type() string { return TypeLedgerExported }
func (LedgerBackedUp) Type() string { return TypeLedgerBackedUp }

// RecordAccess appends a record of data taken (LedgerExported,
// LedgerBackedUp) to AccessStream.
func (c *Commands) RecordAccess(ctx context.Context, ev Event, md Metadata) (AppendResult, error) {
	if md.RecordedAt.IsZero() {
		md.RecordedAt = c.Now().UTC()
	}
	res, _, err := c.append(ctx, AccessStream, Any, []Event{ev}, md)
	return res, err
}
