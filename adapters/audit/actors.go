package audit

import (
	"context"
	"strings"

	"github.com/hookledger/hookledger/domain"
)

// ActorNamer names actors as people read them ("admin-ci (admin)" for an API
// key, a process by its name), reading each key's stream once.
type ActorNamer struct {
	Store domain.EventStore
	names map[string]string
}

// Name answers the actor's name (the actor itself when it names no key).
func (n *ActorNamer) Name(ctx context.Context, actor string) string {
	if !strings.HasPrefix(actor, domain.PrefixKey) {
		return actor
	}
	if name, ok := n.names[actor]; ok {
		return name
	}
	if n.names == nil {
		n.names = map[string]string{}
	}
	name := actor
	if recs, err := n.Store.ReadStream(ctx, domain.APIKeyStream(actor), 0, domain.Forward, 1); err == nil {
		if ev, err := domain.DecodeEvent(recs[0]); err == nil {
			if k, ok := ev.(domain.APIKeyCreated); ok {
				name = domain.ActorName(actor, &domain.APIKey{ID: k.KeyID, Name: k.Name, Role: k.Role})
			}
		}
	}
	n.names[actor] = name
	return name
}
