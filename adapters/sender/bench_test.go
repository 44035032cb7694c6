package sender_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/domain"
)

// BenchmarkSend is one signed attempt of a 1 KiB message to a loopback
// endpoint that reads it and answers 200, the receiver's allocations
// included (-benchmem).
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	s := loopback()
	defer s.Close()
	signer, err := domain.NewSigner(secret)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
	req := sender.Request{URL: srv.URL, MessageID: "msg_1", Body: body, Signer: signer, Timestamp: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if res := s.Send(context.Background(), req); res.StatusCode != 200 {
			b.Fatalf("result %+v", res)
		}
	}
}
