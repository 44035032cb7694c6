package esdbtest

import (
	"io"
	"net"
	"strings"
	"sync"
)

// Proxy is a TCP relay between one client and a server on loopback: a
// network partition between that client and the store, made at will (Cut),
// while the server keeps serving everyone else.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	held  []net.Conn // accepted while cut: never answered, as a lost route
}

// NewProxy relays 127.0.0.1:<free port> to target (host:port).
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p, nil
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is target's connection string (url) with the proxy's address in place
// of the server's.
func (p *Proxy) URL(url string) string { return strings.Replace(url, p.target, p.Addr(), 1) }

// Cut partitions the client from the server (true): the connections open
// are dropped and new ones are accepted and never answered, so calls hang
// until their deadlines, as across a lost route. Cut(false) heals it.
func (p *Proxy) Cut(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = on
	if on {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
		return
	}
	for _, c := range p.held {
		c.Close()
	}
	p.held = nil
}

// Close stops the proxy and drops every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut(true)
	p.Cut(false)
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.held = append(p.held, c)
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		go p.relay(c)
	}
}

func (p *Proxy) relay(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}
