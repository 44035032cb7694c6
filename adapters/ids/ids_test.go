package ids

import (
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

func TestIDsAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New(domain.PrefixMessage)
		if err := domain.ValidateID("id", id); err != nil || seen[id] {
			t.Fatalf("%q: %v (seen %v)", id, err, seen[id])
		}
		seen[id] = true
	}
	if u := NewEventID(); len(u) != 36 || u[14] != '4' {
		t.Fatalf("not a v4 UUID: %s", u)
	}
	if err := domain.ValidateSecret(NewSecret()); err != nil {
		t.Fatal(err)
	}
}

func TestIDsCarryTheTimeTheyWereDrawn(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	id := New(domain.PrefixMessage)
	after := time.Now()
	at, ok := domain.IDTime(domain.PrefixMessage, id)
	if !ok || at.Before(before) || at.After(after) {
		t.Fatalf("IDTime(%s) = %v, %v; want between %v and %v", id, at, ok, before, after)
	}
}
