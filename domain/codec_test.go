package domain_test

import (
	"errors"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// oneOfEach has one populated value of every event type.
func oneOfEach() []domain.Event {
	key := domain.SigningKey{KeyID: "whk_1", Secret: secretA, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	return []domain.Event{
		domain.ApplicationCreated{ApplicationID: "app_1", Name: "Shop", CreatedAt: t0},
		domain.ApplicationUpdated{ApplicationID: "app_1", Name: "Store"},
		domain.ApplicationDeleted{ApplicationID: "app_1", Reason: "offboarded", DeletedAt: t0},
		domain.SubscriptionCreated{SubscriptionID: "sub_1", ApplicationID: "app_1", URL: "https://e.x/h", EventTypes: domain.Filters{"a.*"}, Description: "d", Headers: map[string]string{"X-A": "1"}, RetryScheduleMS: []int64{0, 10}, Key: key, CreatedAt: t0},
		domain.SubscriptionUpdated{SubscriptionID: "sub_1", URL: "https://e.x/h2", EventTypes: domain.Filters{"b"}, Headers: map[string]string{"X-B": "2"}, UpdatedAt: t0},
		domain.SubscriptionPaused{SubscriptionID: "sub_1", Reason: "maintenance", PausedAt: t0},
		domain.SubscriptionResumed{SubscriptionID: "sub_1", Reason: "done", ResumedAt: t0},
		domain.SubscriptionSecretRotated{SubscriptionID: "sub_1", Key: key, PreviousKeyID: "whk_0", PreviousExpiresAt: t0},
		domain.SubscriptionDisabled{SubscriptionID: "sub_1", Reason: domain.DisabledFailing, Detail: "5 days", DisabledAt: t0},
		domain.SubscriptionDeleted{SubscriptionID: "sub_1", Reason: "customer left", DeletedAt: t0},
		domain.SubscriptionReplayRequested{SubscriptionID: "sub_1", Since: t0, Until: t0.Add(time.Hour), Reason: "endpoint was down", RequestedAt: t0},
		domain.EventTypeDefined{Name: "order.paid", Description: "an order was paid", Schema: []byte(`{"type":"object"}`), DefinedAt: t0},
		domain.MessagePublished{MessageID: "msg_1", ApplicationID: "app_1", EventType: "a.b", Payload: []byte(`{"x":1}`), PayloadHash: "sha256:00", IdempotencyKey: "k", PublishedAt: t0},
		domain.MessagePublished{MessageID: "msg_2", ApplicationID: "app_1", EventType: "a.b", PayloadHash: "sha256:00", Subject: "cus_1", PublishedAt: t0,
			Sealed: &domain.SealedValue{Alg: domain.SealAlgorithm, KeyID: "app_1/s/00/20260101", Nonce: []byte{1, 2, 3}, Ciphertext: []byte{4, 5, 6}}},
		domain.DeliveryScheduled{DeliveryID: "dlv_1", MessageID: "msg_1", SubscriptionID: "sub_1", ApplicationID: "app_1", EventType: "a.b", SubscriptionRevision: 2, MatchedPattern: "a.*", MessagePosition: 9, DueAt: t0},
		domain.AttemptStarted{DeliveryID: "dlv_1", Attempt: 1, Worker: "w", StartedAt: t0, NodeID: "n1", Partition: intp(7), Epoch: 3},
		domain.AttemptAcknowledged{DeliveryID: "dlv_1", Attempt: 1, StatusCode: 200, LatencyUS: 5, ResponseExcerpt: "ok", KeyIDs: []string{"whk_1"}, AcknowledgedAt: t0},
		domain.AttemptFailed{DeliveryID: "dlv_1", Attempt: 1, StatusCode: 503, ErrorClass: domain.ErrorClassThrottled, Error: "e", LatencyUS: 5, ResponseExcerpt: "busy", KeyIDs: []string{"whk_1"}, RetryAfterMS: 1000, FailedAt: t0},
		domain.AttemptOutcomeUnknown{DeliveryID: "dlv_1", Attempt: 2, Reason: "crash", ClosedAt: t0},
		domain.RetryScheduled{DeliveryID: "dlv_1", NextAttempt: 2, DueAt: t0, DelayMS: 5000, Reason: "timeout", RetryAfterHonoured: true},
		domain.DeliveryExhausted{DeliveryID: "dlv_1", Attempts: 8, Reason: "r", ExhaustedAt: t0},
		domain.RedeliveryRequested{DeliveryID: "dlv_1", By: "key_1", Reason: "r", DueAt: t0},
		domain.DeliveryCancelled{DeliveryID: "dlv_1", Reason: "r", CancelledAt: t0},
		domain.APIKeyCreated{KeyID: "key_1", Role: domain.RoleApplication, ApplicationID: "app_1", Hash: domain.HashAPIKey("k"), Name: "ci", CreatedAt: t0},
		domain.APIKeyRevoked{KeyID: "key_1", RevokedAt: t0},
		domain.ErasureRequested{ErasureID: "era_1", ApplicationID: "app_1", Scope: domain.EraseMessages, MessageIDs: []string{"msg_1"}, Reason: "GDPR art. 17", RequestedAt: t0},
		domain.ErasureCompleted{ErasureID: "era_1", ApplicationID: "app_1", KeyIDs: []string{"app_1/m/20260101/msg_1"}, EffectiveBefore: t0, CompletedAt: t0},
		domain.ClusterConfigured{Partitions: 64, LeaseMS: 10000, NodeID: "n1", ConfiguredAt: t0},
		domain.LeaseAcquired{NodeID: "n1", Lease: "partition-7", Partition: intp(7), Epoch: 3, ExpiresAt: t0.Add(10 * time.Second), Previous: "n2", AcquiredAt: t0},
		domain.LeaseRenewed{NodeID: "n1", Leases: []domain.HeldLease{{Lease: "partition-7", Epoch: 3}, {Lease: domain.SealerLease, Epoch: 1}}, ExpiresAt: t0.Add(10 * time.Second), RenewedAt: t0},
		domain.LeaseReleased{NodeID: "n1", Lease: "partition-7", Partition: intp(7), Epoch: 3, Reason: "rebalance", ReleasedAt: t0},
		domain.LedgerExported{Application: "app_1", From: 100, Since: "2026-07-01T00:00:00Z", Head: 900, Events: 40, Seals: 3, Complete: true, ExportedAt: t0},
		domain.LedgerBackedUp{Head: 900, Files: 12, Bytes: 1 << 20, Complete: true, BackedUpAt: t0},
		domain.MasterKeyRotated{KeyStore: "ledger", FromMasterID: "mk_0123456789abcdef", ToMasterID: "mk_fedcba9876543210", KeysRewrapped: 3, RotatedAt: t0},
		domain.AuditSealed{Index: 1, FromSeq: 1, ToSeq: 2, Count: 2, FromPosition: 1, ToPosition: 2, ChainHash: "00", PrevSealHash: "00", Digests: make([]byte, 32), SealedAt: t0, KeyID: "ed25519:00", SealHash: "00", Signature: []byte{1, 2}},
	}
}

func TestCodecRoundTripsEveryEventType(t *testing.T) {
	events := oneOfEach()
	var types []string
	md := domain.Metadata{RecordedAt: t0, Actor: "key_1", CorrelationID: "msg_1", CausationID: "evt-0"}
	for i, ev := range events {
		types = append(types, ev.Type())
		data, err := domain.Encode(domain.DerivedEventID("t", ev.Type()), ev, md)
		if err != nil {
			t.Fatalf("%s: %v", ev.Type(), err)
		}
		back, gotMD, err := domain.Decode(domain.RecordedEvent{ID: data.ID, Type: data.Type, Data: data.Data, Metadata: data.Metadata, Position: domain.Position(i)})
		if err != nil {
			t.Fatalf("%s: %v", ev.Type(), err)
		}
		if !reflect.DeepEqual(back, ev) {
			t.Errorf("%s round trip:\n got %#v\nwant %#v", ev.Type(), back, ev)
		}
		if only, err := domain.DecodeEvent(domain.RecordedEvent{Type: data.Type, Data: data.Data, Metadata: data.Metadata}); err != nil || !reflect.DeepEqual(only, ev) {
			t.Errorf("%s DecodeEvent: %#v, %v", ev.Type(), only, err)
		}
		withoutBody := ev
		if m, ok := ev.(domain.MessagePublished); ok {
			m.Payload, m.Sealed = nil, nil
			withoutBody = m
		}
		if lean, err := domain.DecodeEventWithoutBody(domain.RecordedEvent{Type: data.Type, Data: data.Data, Metadata: data.Metadata}); err != nil || !reflect.DeepEqual(lean, withoutBody) {
			t.Errorf("%s DecodeEventWithoutBody:\n got %#v, %v\nwant %#v", ev.Type(), lean, err, withoutBody)
		}
		want := md
		want.Schema = domain.SchemaVersion
		if !reflect.DeepEqual(gotMD, want) {
			t.Errorf("%s metadata: got %+v want %+v", ev.Type(), gotMD, want)
		}
	}
	all := domain.EventTypes()
	sort.Strings(all)
	types = slices.Compact(slices.Sorted(slices.Values(types))) // message.published twice: plain and sealed
	if !reflect.DeepEqual(all, types) {
		t.Fatalf("the test covers %v but the codec knows %v", types, all)
	}
}

func TestDecodeRejectsUnknownTypesAndNewerSchemas(t *testing.T) {
	_, _, err := domain.Decode(domain.RecordedEvent{Type: "order.teleported", Data: []byte(`{}`)})
	if !errors.Is(err, domain.ErrUnknownEventType) {
		t.Fatalf("unknown type: %v", err)
	}
	_, _, err = domain.Decode(domain.RecordedEvent{Type: domain.TypeSubscriptionPaused, Data: []byte(`{}`), Metadata: []byte(`{"schema":99}`)})
	if !errors.Is(err, domain.ErrUnknownEventType) {
		t.Fatalf("newer schema: %v", err)
	}
	_, _, err = domain.Decode(domain.RecordedEvent{Type: domain.TypeSubscriptionPaused, Data: []byte(`{`)})
	if err == nil {
		t.Fatal("malformed data must not decode")
	}
}

// DecodeEvent reads the schema version from the front of the metadata Encode
// writes and decodes any other form in full: both forms refuse a newer schema.
func TestDecodeEventReadsOnlyTheSchema(t *testing.T) {
	for _, tc := range []struct {
		metadata string
		newer    bool // refused as newer than this build
		bad      bool // refused as malformed
	}{
		{metadata: ``},
		{metadata: `{"schema":1,"recorded_at":"2026-01-01T00:00:00Z","actor":"fanout"}`},
		{metadata: `{"schema":1}`},
		{metadata: `{"schema":2,"actor":"x"}`, newer: true},
		{metadata: `{"schema":1234567890123,"actor":"x"}`, newer: true}, // too long for the fast path
		{metadata: `{"actor":"x","schema":7}`, newer: true},             // not first: decoded in full
		{metadata: `{ "schema": 3 }`, newer: true},
		{metadata: `{"schema":01}`, bad: true},
		{metadata: `{"schema":"1"}`, bad: true},
		{metadata: `{"actor":`, bad: true},
		{metadata: `{}`},
	} {
		rec := domain.RecordedEvent{Type: domain.TypeSubscriptionPaused, Data: []byte(`{"subscription_id":"sub_1"}`), Metadata: []byte(tc.metadata)}
		ev, err := domain.DecodeEvent(rec)
		_, _, full := domain.Decode(rec)
		switch {
		case tc.newer:
			if !errors.Is(err, domain.ErrUnknownEventType) || !errors.Is(full, domain.ErrUnknownEventType) {
				t.Errorf("%s: DecodeEvent %v, Decode %v; want both refused as newer", tc.metadata, err, full)
			}
		case tc.bad:
			if err == nil || full == nil {
				t.Errorf("%s: DecodeEvent %v, Decode %v; want both refused", tc.metadata, err, full)
			}
		default:
			if err != nil || full != nil || ev.(domain.SubscriptionPaused).SubscriptionID != "sub_1" {
				t.Errorf("%s: DecodeEvent %v %v, Decode %v", tc.metadata, ev, err, full)
			}
		}
	}
}

func TestValidateAppend(t *testing.T) {
	ok := domain.EventData{ID: "1", Type: "t"}
	cases := []struct {
		stream string
		events []domain.EventData
		want   error
	}{
		{"s", []domain.EventData{ok}, nil},
		{"commandes-café-☕", []domain.EventData{ok}, nil},
		{"", []domain.EventData{ok}, domain.ErrInvalidArgument},
		{"$all", []domain.EventData{ok}, domain.ErrInvalidArgument},
		{"a\nb", []domain.EventData{ok}, domain.ErrInvalidArgument},
		{"bad\xffutf8", []domain.EventData{ok}, domain.ErrInvalidArgument},
		{"s", nil, domain.ErrInvalidArgument},
		{"s", []domain.EventData{{ID: "1"}}, domain.ErrInvalidArgument},
		{"s", []domain.EventData{{Type: "t"}}, domain.ErrInvalidArgument},
		{"s", []domain.EventData{ok, ok}, domain.ErrInvalidArgument},
		{"s", []domain.EventData{{ID: "1", Type: "t", Data: make([]byte, domain.MaxEventSize+1)}}, domain.ErrEventTooLarge},
	}
	for _, c := range cases {
		err := domain.ValidateAppend(c.stream, c.events)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("ValidateAppend(%q, %d events) = %v, want %v", c.stream, len(c.events), err, c.want)
		}
	}
}

// A message decoded without its body is refused as DecodeEvent refuses it:
// a newer schema, malformed metadata or malformed data.
func TestDecodeEventWithoutBodyRefusesWhatDecodeEventRefuses(t *testing.T) {
	data := `{"message_id":"msg_1","application_id":"app_1","event_type":"a.b","payload":{"big":[1,2,3]},"payload_hash":"sha256:00","published_at":"2026-01-01T00:00:00Z"}`
	for _, tc := range []struct {
		data, metadata string
		newer, bad     bool
	}{
		{data: data, metadata: `{"schema":1}`},
		{data: data, metadata: `{"schema":2}`, newer: true},
		{data: data, metadata: `{"actor":`, bad: true},
		{data: `{"message_id":"msg_1","payload":{"big":[1,2}`, metadata: `{"schema":1}`, bad: true},
	} {
		rec := domain.RecordedEvent{Type: domain.TypeMessagePublished, Data: []byte(tc.data), Metadata: []byte(tc.metadata)}
		ev, err := domain.DecodeEventWithoutBody(rec)
		switch {
		case tc.newer:
			if !errors.Is(err, domain.ErrUnknownEventType) {
				t.Errorf("%s: %v, want refused as newer", tc.metadata, err)
			}
		case tc.bad:
			if err == nil {
				t.Errorf("%s %s: decoded %#v, want refused", tc.data, tc.metadata, ev)
			}
		default:
			m, ok := ev.(domain.MessagePublished)
			if err != nil || !ok || m.MessageID != "msg_1" || m.PayloadHash != "sha256:00" || m.Payload != nil || m.Sealed != nil {
				t.Errorf("%#v, %v", ev, err)
			}
		}
	}
}

// Events decode the same on both JSON paths (eventjson_v1.go, eventjson_v2.go):
// what an older build or another writer may have stored is still read.
func TestDecodeToleratesWhatAWriterMayHaveStored(t *testing.T) {
	for _, tc := range []struct {
		name, typ, data string
		check           func(domain.Event) bool
	}{
		{"invalid UTF-8 in a body", domain.TypeMessagePublished,
			"{\"message_id\":\"msg_1\",\"payload\":{\"s\":\"\xff\xfe\"},\"payload_hash\":\"h\"}",
			func(ev domain.Event) bool { return ev.(domain.MessagePublished).MessageID == "msg_1" }},
		{"a repeated member: the last wins", domain.TypeAttemptStarted,
			`{"delivery_id":"dlv_1","attempt":1,"attempt":2}`,
			func(ev domain.Event) bool { return ev.(domain.AttemptStarted).Attempt == 2 }},
		{"null members", domain.TypeAttemptAcknowledged,
			`{"delivery_id":"dlv_1","key_ids":null,"response_excerpt":null}`,
			func(ev domain.Event) bool {
				a := ev.(domain.AttemptAcknowledged)
				return a.DeliveryID == "dlv_1" && a.KeyIDs == nil && a.ResponseExcerpt == ""
			}},
		{"unknown members", domain.TypeDeliveryCancelled,
			`{"delivery_id":"dlv_1","added_later":{"x":[1,2]},"reason":"r"}`,
			func(ev domain.Event) bool { return ev.(domain.DeliveryCancelled).Reason == "r" }},
	} {
		rec := domain.RecordedEvent{Type: tc.typ, Data: []byte(tc.data), Metadata: []byte(`{"schema":1}`)}
		for name, decode := range map[string]func(domain.RecordedEvent) (domain.Event, error){
			"DecodeEvent": domain.DecodeEvent, "DecodeEventWithoutBody": domain.DecodeEventWithoutBody,
		} {
			ev, err := decode(rec)
			if err != nil || !tc.check(ev) {
				t.Errorf("%s, %s: %#v, %v", tc.name, name, ev, err)
			}
		}
	}
}

func intp(i int) *int { return &i }
