package domain

import (
	"strings"
	"testing"
)

// Every event of a delivery's or a subscription's stream says which one it
// belongs to: an event type added without the method fails here, not in a
// fold that silently skips it.
func TestEveryStreamEventSaysWhoseItIs(t *testing.T) {
	data := []byte(`{"delivery_id":"dlv_1","subscription_id":"sub_1","message_id":"msg_1"}`)
	for _, typ := range EventTypes() {
		ev, err := decoders[typ](data)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		d, isDelivery := ev.(DeliveryEvent)
		s, isSubscription := ev.(SubscriptionEvent)
		switch {
		case strings.HasPrefix(typ, "delivery."):
			if !isDelivery || d.OfDelivery() != "dlv_1" {
				t.Errorf("%s: not a DeliveryEvent of dlv_1 (%T)", typ, ev)
			}
		case strings.HasPrefix(typ, "subscription."):
			if !isSubscription || s.OfSubscription() != "sub_1" {
				t.Errorf("%s: not a SubscriptionEvent of sub_1 (%T)", typ, ev)
			}
		default:
			if isDelivery || isSubscription {
				t.Errorf("%s: says it is of a delivery (%v) or a subscription (%v)", typ, isDelivery, isSubscription)
			}
		}
	}
}
