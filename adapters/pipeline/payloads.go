package pipeline

// Payloads: the bodies the fold decoded are kept (bounded in bytes) for the
// attempts that follow, so an attempt rarely reads the message stream.

import (
	"context"
	"fmt"
	"sync"

	"github.com/hookledger/hookledger/domain"
)

// payload returns a message's body, from a small cache (fan-out sends one
// message to many subscriptions) or the message stream.
func (r *Runner) payload(ctx context.Context, msgID string) ([]byte, error) {
	if b, ok := r.payloads.get(msgID); ok {
		return b, nil
	}
	recs, err := r.opts.Store.ReadStream(ctx, domain.MessageStream(msgID), 0, domain.Forward, 1)
	if err != nil {
		return nil, err
	}
	ev, err := domain.DecodeEvent(recs[0])
	if err != nil {
		return nil, err
	}
	m, ok := ev.(domain.MessagePublished)
	if !ok {
		return nil, fmt.Errorf("message stream %s starts with %s", msgID, recs[0].Type)
	}
	r.payloads.put(msgID, m.Payload)
	return m.Payload, nil
}

// payloadCache is a bounded map, emptied when full: simple, and enough for the
// fan-out locality it serves.
type payloadCache struct {
	mu    sync.Mutex
	m     map[string][]byte
	bytes int
	limit int
}

func (c *payloadCache) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[id]
	return b, ok
}

func (c *payloadCache) put(id string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(b) > c.limit {
		return // larger than the whole cache: read from the stream each time
	}
	if c.bytes+len(b) > c.limit {
		c.m, c.bytes = map[string][]byte{}, 0
	}
	c.m[id] = b
	c.bytes += len(b)
}
