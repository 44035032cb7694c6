package pipeline_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/ids"
	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/sender/sendertest"
	"github.com/hookledger/hookledger/domain"
)

// TestMutualTLSEndpoint: a subscription with a client certificate is
// delivered to an endpoint that requires one; a subscription without it
// fails with the tls class, and the endpoint never sees its request.
func TestMutualTLSEndpoint(t *testing.T) {
	ca := sendertest.NewCA(t)
	var got atomic.Int32
	srv, trust := sendertest.MTLSServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	h := newHarness(t, harnessOpts{sender: sender.Options{TLSConfig: trust, Timeout: 5 * time.Second}})
	h.start()
	h.app("app")
	cert := ca.ClientCert(t, "hookledger")
	if _, _, err := h.cmds.CreateSubscription(context.Background(), domain.CreateSubscription{
		SubscriptionID: "sub_mtls", ApplicationID: "app", URL: srv.URL + "/with", EventTypes: domain.Filters{"with.*"}, Secret: ids.NewSecret(), ClientCert: &cert,
	}, md); err != nil {
		t.Fatal(err)
	}
	h.sub("app", "sub_plain", srv.URL+"/without", "without.*")
	m1, _ := h.publish("app", "with.x", `{}`)
	m2, _ := h.publish("app", "without.x", `{}`)
	with, without := domain.DeliveryIDFor(m1, "sub_mtls"), domain.DeliveryIDFor(m2, "sub_plain")
	waitUntil(t, 10*time.Second, "the mTLS delivery acknowledged", func() bool { return h.delivery(with).Status == domain.DeliveryStatusAcknowledged })
	waitUntil(t, 10*time.Second, "the delivery without a certificate failed", func() bool { return h.delivery(without).Failures > 0 })
	if d := h.delivery(without); d.LastErrorClass != domain.ErrorClassTLS {
		t.Fatalf("without a certificate: class %q", d.LastErrorClass)
	}
	if n := got.Load(); n != 1 {
		t.Fatalf("the endpoint handled %d requests, want 1 (only the one with a certificate)", n)
	}
}
