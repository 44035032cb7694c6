package pebblestore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookledger/hookledger/domain"
)

// Concurrent commands on one stream all succeed on the embedded store, where
// the appends of one group commit race for the same revision and only one
// of them wins each turn: a command that loses reads the stream again and
// decides again (with 8 retries, a tenth of 20 concurrent updates of one
// subscription were refused as concurrent).
func TestConcurrentCommandsOnOneStreamAllSucceed(t *testing.T) {
	s := openEmpty(t)
	ctx := context.Background()
	var n int64
	var mu sync.Mutex
	cmds := &domain.Commands{Store: s, Now: time.Now, NewEventID: func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return domain.FormatUUID(fmt.Appendf(nil, "%016d", n))
	}}
	md := domain.Metadata{Actor: "test"}
	if _, _, err := cmds.CreateApplication(ctx, domain.CreateApplication{ApplicationID: "app_a", Name: "A"}, md); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cmds.CreateSubscription(ctx, domain.CreateSubscription{SubscriptionID: "sub_a", ApplicationID: "app_a", URL: "https://hooks.example.com/a",
		EventTypes: domain.Filters{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, md); err != nil {
		t.Fatal(err)
	}
	const writers = 40
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fmt.Sprint("update ", i)
			_, _, err := cmds.ChangeSubscription(ctx, "app_a", "sub_a", domain.UpdateSubscription{Description: &d}, md)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent update: %v", err)
		}
	}
	_, rev, _, err := domain.Load(ctx, s, domain.SubscriptionStream("sub_a"), domain.EvolveSubscription)
	if err != nil || rev != writers {
		t.Errorf("revision %d (%v) after %d updates", rev, err, writers)
	}
}
