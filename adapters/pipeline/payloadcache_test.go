package pipeline

import (
	"fmt"
	"testing"

	"github.com/hookledger/hookledger/domain"
)

func cachedMessage(i, size int) domain.MessagePublished {
	return domain.MessagePublished{MessageID: fmt.Sprintf("msg_%06d", i), EventType: "order.paid", Payload: make([]byte, size)}
}

// TestThePayloadCacheForgetsTheOldestFirst: full, the cache forgets the
// messages that came first and keeps the newest, within its bytes; a
// message already held is not counted twice, and one larger than the whole
// cache is not held.
func TestThePayloadCacheForgetsTheOldestFirst(t *testing.T) {
	per := sizeOf(cachedMessage(0, 1000))
	c := payloadCache{m: map[string]domain.MessagePublished{}, limit: 100 * per}
	for i := 0; i < 5050; i++ {
		c.put(cachedMessage(i, 1000))
		if i%7 == 0 {
			c.put(cachedMessage(i, 1000)) // again: no second entry
		}
		if c.bytes > c.limit {
			t.Fatalf("after %d messages: %d bytes held, limit %d", i+1, c.bytes, c.limit)
		}
		if len(c.m) != len(c.order)-c.head {
			t.Fatalf("after %d messages: %d held, %d in order", i+1, len(c.m), len(c.order)-c.head)
		}
	}
	// The newest 100 are all there (the cache used to be emptied whole when
	// full, and then held only the few put since), the ones before are not.
	for i := 4950; i < 5050; i++ {
		if m, ok := c.get(cachedMessage(i, 0).MessageID); !ok || len(m.Payload) != 1000 || m.EventType != "" {
			t.Fatalf("message %d: held %v, %d bytes, event type %q", i, ok, len(m.Payload), m.EventType)
		}
	}
	if _, ok := c.get(cachedMessage(4949, 0).MessageID); ok {
		t.Error("message 4949 is held beyond the limit")
	}
	if len(c.order) > 2*100+1024 {
		t.Errorf("the order slice keeps %d ids for 100 messages", len(c.order))
	}
	c.put(cachedMessage(9999, 101*per))
	if _, ok := c.get(cachedMessage(9999, 0).MessageID); ok || len(c.m) != 100 {
		t.Errorf("a message larger than the cache: held %v, %d messages left", ok, len(c.m))
	}
	// Empty bodies count too: the cache stays bounded.
	for i := 0; i < 10000; i++ {
		c.put(cachedMessage(10000+i, 0))
	}
	if len(c.m) > c.limit/entryBytes {
		t.Errorf("%d empty messages held in %d bytes", len(c.m), c.limit)
	}
}
