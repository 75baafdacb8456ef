package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections on loopback to a target. Blackhole makes it
// behave like a network that drops every packet: connections stay open and
// nothing answers, which no context cancellation can end.
type Proxy struct {
	Addr       string
	target     string
	listener   net.Listener
	blackholed atomic.Bool
	mu         sync.Mutex
	conns      []net.Conn
}

// StartProxy forwards a free loopback port to target until t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, listener: l}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Blackhole stops forwarding, on open connections and new ones alike.
func (p *Proxy) Blackhole() { p.blackholed.Store(true) }

// Restore forwards again. The connections open through the black hole
// lost data mid-stream, so they are closed: their clients reconnect, as
// after a real network partition ends.
func (p *Proxy) Restore() {
	p.mu.Lock()
	// Forwarding resumes before the list is taken: a connection accepted
	// from here on is forwarded, one accepted before is in the list.
	p.blackholed.Store(false)
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (p *Proxy) accept() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, client)
		blackholed := p.blackholed.Load()
		p.mu.Unlock()
		if blackholed {
			go func() { _, _ = io.Copy(io.Discard, client) }()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.track(server)
		go p.pipe(server, client)
		go p.pipe(client, server)
	}
}

// pipe copies from src to dst until either closes, dropping everything once
// the proxy is blackholed.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.blackholed.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !p.blackholed.Load() {
				_ = dst.Close()
			}
			return
		}
	}
}

func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *Proxy) close() {
	_ = p.listener.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}
