package domain_test

import (
	"testing"

	"github.com/hookledger/hookledger/domain"
)

// TestSealedKeyOf names the data key of every kind of event that can hold a
// sealed value, and nothing for the same events in the clear.
func TestSealedKeyOf(t *testing.T) {
	v := &domain.SealedValue{Alg: domain.SealAlgorithm, KeyID: "app_1/d/20261206#1"}
	for _, tc := range []struct {
		ev   domain.Event
		want string
	}{
		{domain.MessagePublished{MessageID: "msg_1", Sealed: v}, v.KeyID},
		{domain.SubscriptionCreated{SubscriptionID: "sub_1", HeadersSealed: v}, v.KeyID},
		{domain.SubscriptionUpdated{SubscriptionID: "sub_1", HeadersSealed: v}, v.KeyID},
		{domain.AttemptAcknowledged{DeliveryID: "dlv_1", ResponseExcerptSealed: v}, v.KeyID},
		{domain.AttemptFailed{DeliveryID: "dlv_1", ResponseExcerptSealed: v}, v.KeyID},
		{domain.MessagePublished{MessageID: "msg_1", Payload: []byte(`{}`)}, ""},
		{domain.SubscriptionCreated{SubscriptionID: "sub_1"}, ""},
		{domain.AttemptFailed{DeliveryID: "dlv_1"}, ""},
		{domain.SubscriptionPaused{SubscriptionID: "sub_1"}, ""},
	} {
		if got := domain.SealedKeyOf(tc.ev); got != tc.want {
			t.Errorf("%T: %q, want %q", tc.ev, got, tc.want)
		}
	}
}
