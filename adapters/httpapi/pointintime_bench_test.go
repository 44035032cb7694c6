package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/domain"
)

// BenchmarkSubscriptionAsOf measures GET .../subscriptions/{id}?as_of= on
// ledgers of growing length (the extra events belong to other streams). The
// answer folds the subscription's own stream, so its cost stays flat:
//
//	go test -run '^$' -bench SubscriptionAsOf ./adapters/httpapi/
func BenchmarkSubscriptionAsOf(b *testing.B) {
	for _, history := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			e := newEnv(b)
			A := e.admin
			e.must(201, "POST", "/v1/applications", A, map[string]any{"id": "app_b", "name": "B"})
			e.must(201, "POST", "/v1/applications/app_b/subscriptions", A, map[string]any{"id": "sub_b", "url": "http://127.0.0.1:1/b", "event_types": []string{"none.*"}})
			ctx := context.Background()
			for i := 0; i < history; i++ {
				app := fmt.Sprintf("app_noise_%d", i)
				ev, err := domain.Encode(ids.NewEventID(), domain.ApplicationCreated{ApplicationID: app, Name: "n"}, domain.Metadata{Actor: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.store.Append(ctx, domain.ApplicationStream(app), domain.NoStream, ev); err != nil {
					b.Fatal(err)
				}
			}
			head, _ := e.store.Head(ctx)
			e.runner.WaitFor(ctx, head)
			path := fmt.Sprintf("/v1/applications/app_b/subscriptions/sub_b?as_of=%d", head)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := e.do("GET", path, A, nil); r.status != 200 {
					b.Fatalf("%d %s", r.status, r.body)
				}
			}
		})
	}
}
