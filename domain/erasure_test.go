package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

func TestDataKeyIDsNameTheApplicationAndTheDay(t *testing.T) {
	at := time.Date(2026, 3, 9, 23, 59, 0, 0, time.FixedZone("x", -3600)) // 10 March in UTC
	for _, c := range []struct {
		scope            domain.ErasureScope
		subject, want    string
		kind             byte
		wantSubj, wantMs bool
	}{
		{domain.ScopeApplication, "cus_1", "app_1/d/20260310", 'd', false, false},
		{domain.ScopeSubject, "", "app_1/d/20260310", 'd', false, false}, // no subject: the application's key
		{domain.ScopeSubject, "cus_1", "app_1/s/" + domain.SubjectHash("cus_1") + "/20260310", 's', true, false},
		{domain.ScopeMessage, "cus_1", "app_1/m/20260310/msg_1", 'm', false, true},
	} {
		id := domain.DataKeyID(c.scope, "app_1", c.subject, "msg_1", at)
		if id != c.want {
			t.Errorf("%s/%q: %s, want %s", c.scope, c.subject, id, c.want)
		}
		k, ok := domain.ParseDataKeyID(id)
		if !ok || k.Application != "app_1" || k.Kind != c.kind || !k.Day.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) ||
			(k.Subject != "") != c.wantSubj || (k.Message == "msg_1") != c.wantMs {
			t.Errorf("parse %s: %+v %v", id, k, ok)
		}
	}
	for _, bad := range []string{"", "app_1", "app_1/x/20260310", "app_1/d/2026", "app_1/m/20260310", "app_1/s/aa/bb/20260310"} {
		if _, ok := domain.ParseDataKeyID(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := domain.ParseErasureScope("tenant"); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Errorf("scope tenant: %v", err)
	}
}

func TestDecideErasure(t *testing.T) {
	req := domain.RequestErasure{ErasureID: "era_1", ApplicationID: "app_1", Scope: domain.EraseMessages, MessageIDs: []string{"msg_1"}, Reason: "art. 17"}
	with := func(f func(*domain.RequestErasure)) domain.RequestErasure { r := req; f(&r); return r }
	requested := domain.Erasure{Exists: true, ErasureRequested: domain.ErasureRequested{ErasureID: "era_1", ApplicationID: "app_1",
		Scope: domain.EraseMessages, MessageIDs: []string{"msg_1"}, Reason: "art. 17", RequestedAt: t0}}
	done := requested
	done.Completed = &domain.ErasureCompleted{ErasureID: "era_1"}
	for _, c := range []struct {
		name  string
		given domain.Erasure
		when  any
		then  string // the event type, "" for none
		err   error
	}{
		{name: "request", when: req, then: domain.TypeErasureRequested},
		{name: "no reason", when: with(func(r *domain.RequestErasure) { r.Reason = " " }), err: domain.ErrInvalidArgument},
		{name: "messages without ids", when: with(func(r *domain.RequestErasure) { r.MessageIDs = nil }), err: domain.ErrInvalidArgument},
		{name: "a subject on a message erasure", when: with(func(r *domain.RequestErasure) { r.Subject = "cus_1" }), err: domain.ErrInvalidArgument},
		{name: "bad message id", when: with(func(r *domain.RequestErasure) { r.MessageIDs = []string{"msg 1"} }), err: domain.ErrInvalidArgument},
		{name: "unknown scope", when: with(func(r *domain.RequestErasure) { r.Scope = "tenant"; r.MessageIDs = nil }), err: domain.ErrInvalidArgument},
		{name: "before needs a time", when: with(func(r *domain.RequestErasure) { r.Scope = domain.EraseBefore; r.MessageIDs = nil }), err: domain.ErrInvalidArgument},
		{name: "subject", when: with(func(r *domain.RequestErasure) { r.Scope = domain.EraseSubject; r.MessageIDs = nil; r.Subject = "cus_1" }), then: domain.TypeErasureRequested},
		{name: "application", when: with(func(r *domain.RequestErasure) { r.Scope = domain.EraseApplication; r.MessageIDs = nil }), then: domain.TypeErasureRequested},
		{name: "the same request again resumes", given: requested, when: req},
		{name: "other content under the id", given: requested, when: with(func(r *domain.RequestErasure) { r.Reason = "other" }), err: domain.ErrConflict},
		{name: "complete", given: requested, when: domain.CompleteErasure{KeyIDs: []string{"k"}}, then: domain.TypeErasureCompleted},
		{name: "complete twice", given: done, when: domain.CompleteErasure{}},
		{name: "complete an unknown erasure", when: domain.CompleteErasure{}, err: domain.ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			evs, err := domain.DecideErasure(c.given, c.when, t0)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c.then == "") != (len(evs) == 0) || (len(evs) == 1 && evs[0].Type() != c.then) {
				t.Fatalf("events %v, want %q", evs, c.then)
			}
		})
	}
}
