package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

func TestEventTypeCatalog(t *testing.T) {
	desc, yes := "A user signed up", true
	defined := domain.EventTypeDefined{Name: "user.created", Description: desc, DefinedAt: t0}
	schema := json.RawMessage(`{"type":"object","required":["id"]}`)
	later := t0.Add(time.Minute)
	decide := func(s domain.EventTypeDef, c any, now time.Time) ([]domain.Event, error) {
		return domain.DecideEventType(s, c.(domain.DefineEventType), now)
	}
	run(t, []scenario{
		{name: "define", when: domain.DefineEventType{Name: "user.created", Create: true, Description: &desc}, then: []domain.Event{defined}},
		{name: "define twice", given: []domain.Event{defined}, when: domain.DefineEventType{Name: "user.created", Create: true}, err: domain.ErrAlreadyExists},
		{name: "change an unknown type", when: domain.DefineEventType{Name: "user.created", Deprecated: &yes}, err: domain.ErrNotFound},
		{name: "bad name", when: domain.DefineEventType{Name: "user created", Create: true}, err: domain.ErrInvalidArgument},
		{name: "schema not an object", when: domain.DefineEventType{Name: "user.created", Create: true, Schema: json.RawMessage(`[1]`)}, err: domain.ErrInvalidArgument},
		{name: "schema compacted, description kept", given: []domain.Event{defined}, now: later,
			when: domain.DefineEventType{Name: "user.created", Schema: json.RawMessage("{ \"type\": \"object\",\n \"required\": [\"id\"] }")},
			then: []domain.Event{domain.EventTypeDefined{Name: "user.created", Description: desc, Schema: schema, DefinedAt: later}}},
		{name: "schema removed", given: []domain.Event{domain.EventTypeDefined{Name: "user.created", Schema: schema, DefinedAt: t0}}, now: later,
			when: domain.DefineEventType{Name: "user.created", Schema: json.RawMessage(`null`)},
			then: []domain.Event{domain.EventTypeDefined{Name: "user.created", DefinedAt: later}}},
		{name: "deprecate", given: []domain.Event{defined}, now: later, when: domain.DefineEventType{Name: "user.created", Deprecated: &yes},
			then: []domain.Event{domain.EventTypeDefined{Name: "user.created", Description: desc, Deprecated: true, DefinedAt: later}}},
		{name: "no change writes nothing", given: []domain.Event{defined}, when: domain.DefineEventType{Name: "user.created", Description: &desc}},
	}, domain.EvolveEventType, decide)

	// The fold keeps when the entry was created apart from when it last changed.
	s := domain.EvolveEventType(domain.EvolveEventType(domain.EventTypeDef{}, defined),
		domain.EventTypeDefined{Name: "user.created", Deprecated: true, DefinedAt: later})
	if !s.Exists || !s.CreatedAt.Equal(t0) || !s.UpdatedAt.Equal(later) || !s.Deprecated || s.Description != "" {
		t.Fatalf("folded entry: %+v", s)
	}
}
