package sender_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/sender/sendertest"
	"github.com/hookledger/hookledger/domain"
)

// TestClientCertificate: an endpoint requiring mutual TLS acknowledges a
// request carrying a certificate its CA issued, and refuses (class tls) one
// with none or with a certificate from another CA.
func TestClientCertificate(t *testing.T) {
	ca, stranger := sendertest.NewCA(t), sendertest.NewCA(t)
	var seen string
	srv, trust := sendertest.MTLSServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			seen = r.TLS.PeerCertificates[0].Subject.CommonName
		}
	}))
	s := sender.New(sender.Options{AllowPrivate: true, TLSConfig: trust, Timeout: 5 * time.Second})
	defer s.Close()
	signer, err := domain.NewSigner("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	send := func(cert *domain.ClientCertificate) domain.AttemptResult {
		return s.Send(context.Background(), sender.Request{URL: srv.URL, MessageID: "msg_1", Body: []byte(`{}`), Signer: signer, Timestamp: time.Now(), ClientCert: cert})
	}
	good := ca.ClientCert(t, "hookledger")
	if res := send(&good); res.ErrorClass != "" || res.StatusCode != 200 || seen != "hookledger" {
		t.Fatalf("with the CA's certificate: %+v (server saw %q)", res, seen)
	}
	if res := send(nil); res.ErrorClass == "" {
		t.Fatalf("without a certificate the endpoint must refuse: %+v", res)
	}
	foreign := stranger.ClientCert(t, "intruder")
	if res := send(&foreign); res.ErrorClass == "" {
		t.Fatalf("with another CA's certificate: %+v", res)
	}
	if res := send(&good); res.ErrorClass != "" { // the pool per certificate is reused
		t.Fatalf("again with the CA's certificate: %+v", res)
	}
}
