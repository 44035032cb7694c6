package ids

import (
	"testing"

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
