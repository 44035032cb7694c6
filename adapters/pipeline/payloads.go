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
// message to many subscriptions) or the ledger. The cache holds what
// the ledger holds, so an encrypted payload is decrypted at each use: an
// erasure (its key destroyed) takes effect at once, even for a cached
// message. An erased payload answers *domain.ErasedError.
// keyID is the data key the payload is encrypted under ("" for a payload
// in the clear): the attempt's response excerpt is sealed under it too.
// at is the message's position in the ledger, as its deliveries record it
// (0: unknown).
func (r *Runner) payload(ctx context.Context, msgID string, at domain.Position) (body []byte, keyID string, err error) {
	m, ok := r.payloads.get(msgID)
	if !ok {
		rec, err := r.published(ctx, msgID, at)
		if err != nil {
			return nil, "", err
		}
		ev, err := domain.DecodeEvent(rec)
		if err != nil {
			return nil, "", err
		}
		if m, ok = ev.(domain.MessagePublished); !ok {
			return nil, "", fmt.Errorf("message stream %s starts with %s", msgID, rec.Type)
		}
		r.payloads.put(m)
	}
	if m.Sealed != nil {
		keyID = m.Sealed.KeyID
	}
	body, err = domain.OpenPayload(ctx, r.opts.Cipher, m)
	return body, keyID, err
}

// published reads the event that published a message: at its position on a
// store that reads by position (domain.PositionReader: one lookup where the
// message stream takes two; a backlog's attempts, minutes after their
// messages, miss the cache), or from the stream when the store does not, the
// position is unknown, or it holds another event.
func (r *Runner) published(ctx context.Context, msgID string, at domain.Position) (domain.RecordedEvent, error) {
	stream := domain.MessageStream(msgID)
	if pr, ok := r.opts.Store.(domain.PositionReader); ok && at > 0 {
		rec, err := pr.ReadAt(ctx, at)
		if err == nil && rec.Position == at && rec.Stream == stream && rec.Revision == 0 {
			return rec, nil
		}
	}
	recs, err := r.opts.Store.ReadStream(ctx, stream, 0, domain.Forward, 1)
	if err != nil {
		return domain.RecordedEvent{}, err
	}
	return recs[0], nil
}

// payloadCache is a map of published messages (their payload as the
// ledger holds it) bounded in bytes, which forgets the oldest first.
//
// Why oldest first: messages come in publish order, and their attempts
// follow in about that order, as far behind as the pipeline lags. The cache
// used to be emptied whole when full, so when the attempts ran a few
// thousand messages behind the fold, each emptying lost the bodies they were
// about to need, and the pipeline read them back from the ledger: the
// further it fell behind, the more each delivery cost. Forgetting the oldest
// keeps the newest limit bytes, which cover any lag under them
// (docs/benchmarks.md).
type payloadCache struct {
	mu    sync.Mutex
	m     map[string]domain.MessagePublished
	order []string // ids in the order they came; order[head:] are in m
	head  int
	bytes int
	limit int
}

func (c *payloadCache) get(id string) (domain.MessagePublished, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[id]
	return m, ok
}

// entryBytes is what a cached message takes beyond its body's bytes (its
// id, twice, the map's slot and the struct), so that empty bodies are
// bounded too.
const entryBytes = 160

func sizeOf(m domain.MessagePublished) int {
	n := entryBytes + 2*len(m.MessageID) + len(m.Payload)
	if m.Sealed != nil {
		n += len(m.Sealed.Ciphertext) + len(m.Sealed.Nonce) + len(m.Sealed.KeyID)
	}
	return n
}

func (c *payloadCache) put(m domain.MessagePublished) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := sizeOf(m)
	if n > c.limit {
		return // larger than the whole cache: read from the stream each time
	}
	if _, ok := c.m[m.MessageID]; ok {
		return // the same event: a message is published once
	}
	for c.bytes+n > c.limit {
		id := c.order[c.head]
		c.order[c.head] = ""
		c.head++
		c.bytes -= sizeOf(c.m[id])
		delete(c.m, id)
	}
	if c.head > len(c.order)/2 && c.head >= 1024 {
		// The forgotten half of the slice is reused, not kept forever.
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
	m.IdempotencyKey, m.EventType = "", "" // what an attempt needs: the body
	c.m[m.MessageID] = m
	c.order = append(c.order, m.MessageID)
	c.bytes += n
}
