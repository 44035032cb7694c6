package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookledger/hookledger/adapters/audit"
	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// TestSealerRefusesALedgerSealedByAnotherKey: a sealer whose key is not the
// one the ledger's seals are signed with writes no seal (each would fail
// every later verification) and reports the failure; the ledger still
// verifies with its own key.
func TestSealerRefusesALedgerSealedByAnotherKey(t *testing.T) {
	store, key, n := sealedLedger(t)
	ctx := context.Background()
	store.Append(ctx, "application-app_three", domain.NoStream, domain.EventData{ID: ids.NewEventID(), Type: domain.TypeApplicationCreated, Data: []byte(`{"application_id":"app_three","name":"x"}`)})
	before, _, _, _ := audit.LastSeal(ctx, store)

	_, other, _ := ed25519.GenerateKey(nil)
	var mu sync.Mutex
	var failures []error
	runCtx, cancel := context.WithCancel(ctx)
	s := &audit.Sealer{Store: store, Key: other, Every: 1, Interval: 10 * time.Millisecond, NewEventID: ids.NewEventID, Log: zerolog.Nop(),
		OnFailure: func(err error, _ time.Time) { mu.Lock(); failures = append(failures, err); mu.Unlock() }}
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := len(failures)
		mu.Unlock()
		if got > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sealer reported no failure")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if !errors.Is(failures[0], audit.ErrSealKeyMismatch) {
		t.Fatalf("failure %v, want ErrSealKeyMismatch", failures[0])
	}
	after, _, _, _ := audit.LastSeal(ctx, store)
	if after.Index != before.Index || after.KeyID != domain.KeyIDFor(pub(key)) {
		t.Fatalf("a seal was written with the other key: %+v", after)
	}
	rep, err := audit.Verify(ctx, store, pub(key), nil)
	if err != nil || !rep.OK || rep.Sealed != uint64(n) || rep.Unsealed != 1 {
		t.Fatalf("the ledger after the refused sealer: %+v %v", rep, err)
	}
}

// TestParsePublicKeyNamesThePublicKeyOfASealKey: the server's private seal
// key given where the public key belongs is refused (a verifier pins a key
// held apart from the writer), and the answer names the key to pin.
func TestParsePublicKeyNamesThePublicKeyOfASealKey(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	want := audit.EncodePublicKey(pub)
	got, err := audit.ParsePublicKey(want + "\n")
	if err != nil || !got.Equal(pub) {
		t.Fatalf("the public key itself: %v %v", got, err)
	}
	got, err = audit.ParsePublicKey(`{"algorithm":"ed25519","public_key":"` + want + `"}`)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("the answer of GET /v1/audit/public-key: %v %v", got, err)
	}
	_, err = audit.ParsePublicKey(base64.StdEncoding.EncodeToString(priv) + "\n")
	if err == nil || !strings.Contains(err.Error(), "private seal key") || !strings.Contains(err.Error(), want) {
		t.Fatalf("a private seal key as the trusted key: %v", err)
	}
	if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(priv)) {
		t.Fatal("the refusal echoes the private key")
	}
	if _, err := audit.ParsePublicKey("c2hvcnQ="); err == nil || !strings.Contains(err.Error(), "32-byte") {
		t.Fatalf("a short key: %v", err)
	}
}
