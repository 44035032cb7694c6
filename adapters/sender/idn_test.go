package sender_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/hookledger/hookledger/adapters/sender"
	"github.com/hookledger/hookledger/adapters/sender/sendertest"
)

// An endpoint whose host is an internationalized name, as people type it
// (https://例え.jp/), is reached by its ASCII form, as every HTTP client
// does: the name resolved is xn--r8jz45g.jp, the TLS server name and the
// Host header are that too. The sender's own connections once dialed the
// name as typed, which no resolver accepts: every attempt failed "no such
// host".
func TestAnInternationalizedHostIsReachedByItsASCIIForm(t *testing.T) {
	const unicode, ascii = "例え.jp", "xn--r8jz45g.jp"
	var mu sync.Mutex
	var host, serverName string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		host, serverName = r.Host, r.TLS.ServerName
		mu.Unlock()
		w.WriteHeader(204)
	}))
	ca := sendertest.NewCA(t)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t, ascii)}}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	dns := &fakeDNS{addrs: map[string]netip.Addr{ascii + ".": netip.MustParseAddr("127.0.0.1")}}
	s := sender.New(sender.Options{AllowPrivate: true, Timeout: 2 * time.Second, ConnectTimeout: time.Second,
		TLSConfig: &tls.Config{RootCAs: ca.Pool}, Resolver: dns.resolver()})
	defer s.Close()

	res := send(t, s, "https://"+unicode+":"+port+"/hook")
	if res.ErrorClass != "" || res.StatusCode != 204 {
		t.Fatalf("result %+v, want 204", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if host != ascii+":"+port || serverName != ascii {
		t.Fatalf("Host %q, TLS server name %q: want %s:%s and %s", host, serverName, ascii, port, ascii)
	}
	if q := dns.queried(); len(q) == 0 || q[0] != ascii+"." {
		t.Fatalf("names resolved %v, want %s.", q, ascii)
	}
}

// fakeDNS answers A queries from a table, over an in-memory connection:
// the test needs no DNS server and no network.
type fakeDNS struct {
	addrs map[string]netip.Addr
	mu    sync.Mutex
	names []string
}

func (f *fakeDNS) queried() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.names...)
}

// resolver is a Go resolver whose every DNS exchange goes to f, framed as
// over TCP (a net.Pipe is a stream).
func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		go f.serve(server)
		return client, nil
	}}
}

func (f *fakeDNS) serve(c net.Conn) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return
		}
		question, err := p.Question()
		if err != nil {
			return
		}
		name := strings.ToLower(question.Name.String())
		f.mu.Lock()
		f.names = append(f.names, name)
		f.mu.Unlock()
		resp := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess})
		addr, ok := f.addrs[name]
		if !ok {
			resp = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError})
		}
		resp.EnableCompression()
		if resp.StartQuestions() != nil || resp.Question(question) != nil || resp.StartAnswers() != nil {
			return
		}
		if ok && question.Type == dnsmessage.TypeA {
			rh := dnsmessage.ResourceHeader{Name: question.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60}
			if resp.AResource(rh, dnsmessage.AResource{A: addr.As4()}) != nil {
				return
			}
		}
		out, err := resp.Finish()
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(n[:], uint16(len(out)))
		if _, err := c.Write(append(n[:], out...)); err != nil {
			return
		}
	}
}
