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

// An id's prefix says whose stream it names; an id without a known prefix
// may name any kind's.
func TestEntityStreamsOfAnID(t *testing.T) {
	for id, want := range map[string]string{
		"sub_1": "subscription-sub_1", "dlv_1": "delivery-dlv_1", "msg_1": "message-msg_1",
		"app_1": "application-app_1", "key_1": "apikey-key_1", "era_1": "erasure-era_1",
	} {
		if got, ok := EntityStream(id); !ok || got != want {
			t.Errorf("EntityStream(%s) = %q, %v; want %s", id, got, ok, want)
		}
		if all := EntityStreams(id); len(all) != 6 || all[0] != want {
			t.Errorf("EntityStreams(%s) = %v: want the six kinds, %s first", id, all, want)
		}
	}
	if got, ok := EntityStream("order-42"); ok {
		t.Errorf("EntityStream(order-42) = %q: an id without a known prefix names no one stream", got)
	}
	if all := EntityStreams("order-42"); len(all) != 6 || all[0] != "subscription-order-42" {
		t.Errorf("EntityStreams(order-42) = %v: want every kind's", all)
	}
}
