package storekit

import (
	"context"
	"sync"

	"github.com/hookledger/hookledger/domain"
)

// Notifier wakes every waiter when new events are committed. Take the channel
// with Wait before reading, then read, then block on the channel: a commit that
// lands between the read and the block has already closed the channel, so no
// wake-up is lost.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel closed at the next Broadcast.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Broadcast wakes every current waiter.
func (n *Notifier) Broadcast() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}

// ReadAllFunc reads up to max events with position >= from. CatchUp is done
// with a page when it asks for the next one, so a ReadAllFunc may return the
// same slice again, refilled.
type ReadAllFunc func(ctx context.Context, from domain.Position, max int) ([]domain.RecordedEvent, error)

// PageSize is how many events a catch-up subscription reads at a time.
const PageSize = 512

// CatchUp implements EventStore.SubscribeAll over a store's ReadAll and its
// commit notifier: it reads pages after the last position handled and, once a
// page comes back short, waits for the next commit. Because it reads by
// position and readers only see durable events in order, it delivers history
// then live events with no gap and no duplicate.
func CatchUp(ctx context.Context, after domain.Position, read ReadAllFunc, n *Notifier, handle func(domain.RecordedEvent) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wake := n.Wait()
		evs, err := read(ctx, after+1, PageSize)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := handle(ev); err != nil {
				return err
			}
			after = ev.Position
		}
		if len(evs) == PageSize {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}
