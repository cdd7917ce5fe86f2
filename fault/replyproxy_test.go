package fault_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// replyProxy is a TCP proxy between pgx and PostgreSQL that loses the
// reply to every every-th transaction end of each application_name: it
// forwards the client's message, waits for the server's ReadyForQuery,
// then closes both sides without relaying the server's answer. The statement has committed; the
// client sees a broken connection. That is a lost commit reply, the one
// fault a client cannot tell from "nothing happened".
//
// It speaks just enough of the PostgreSQL wire protocol: after the
// untyped startup message (an SSLRequest or GSSENCRequest is answered "N"
// by the proxy itself, so the session stays in plain text), every message
// is one type byte and an int32 length. A transaction end is a
// ReadyForQuery with status 'I' (idle) that answers a client cycle — a
// simple Query ('Q'), or a Sync ('S') after at least one Execute ('E') —
// so neither a BEGIN (status 'T') nor a statement inside a transaction
// nor a Parse/Describe/Sync of a statement being prepared counts; reads in
// their own implicit transaction do. While a cycle is outstanding the
// server's messages are held until its ReadyForQuery; otherwise (a LISTEN
// connection's notifications) they are relayed at once.
type replyProxy struct {
	ln      net.Listener
	target  string
	every   int64 // <= 0: never drop
	ends    atomic.Int64
	dropped atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	byApp  map[string][2]int64 // by the connection's application_name: ends, lost replies
	wg     sync.WaitGroup
}

// Untyped startup message codes.
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
)

// startReplyProxy listens on a free local port and proxies to target
// (host:port), losing the reply to every every-th transaction end of each
// application_name.
func startReplyProxy(target string, every int) (*replyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("reply proxy: listen: %w", err)
	}
	p := &replyProxy{ln: ln, target: target, every: int64(every), conns: map[net.Conn]struct{}{}, byApp: map[string][2]int64{}}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *replyProxy) Addr() string { return p.ln.Addr().String() }

// Ends counts the transaction ends seen so far; Dropped how many of their
// replies were lost.
func (p *replyProxy) Ends() int64    { return p.ends.Load() }
func (p *replyProxy) Dropped() int64 { return p.dropped.Load() }

// ByApp returns the transaction ends and the lost replies on connections
// whose application_name is app.
func (p *replyProxy) ByApp(app string) (ends, dropped int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.byApp[app]
	return c[0], c[1]
}

// end counts a transaction end on a connection of app and reports
// whether its reply is to be lost: every every-th end of each
// application_name, so that each pool gets its share however few
// transactions it commits (a group commit serves many calls).
func (p *replyProxy) end(app string) bool {
	p.ends.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.byApp[app]
	c[0]++
	drop := p.every > 0 && c[0]%p.every == 0
	if drop {
		c[1]++
		p.dropped.Add(1)
	}
	p.byApp[app] = c
	return drop
}

// Close stops accepting, closes every proxied connection and waits for
// the proxy's goroutines.
func (p *replyProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// track registers c so Close can close it; it reports false (and closes
// c) once the proxy is closed.
func (p *replyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *replyProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *replyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

// cycles is a connection's outstanding client cycles, oldest first: for
// each, whether it executed a statement.
type cycles struct {
	mu   sync.Mutex
	exec []bool
}

func (c *cycles) push(exec bool) {
	c.mu.Lock()
	c.exec = append(c.exec, exec)
	c.mu.Unlock()
}

func (c *cycles) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.exec)
}

func (c *cycles) pop() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.exec) == 0 {
		return false
	}
	e := c.exec[0]
	c.exec = c.exec[1:]
	return e
}

func (p *replyProxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	cr := bufio.NewReader(client)
	app := ""
	for {
		msg, err := readUntyped(cr)
		if err != nil {
			return
		}
		if code := binary.BigEndian.Uint32(msg[4:8]); code == codeSSLRequest || code == codeGSSENCRequest {
			if _, err := client.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		app = startupParam(msg, "application_name")
		if _, err := server.Write(msg); err != nil {
			return
		}
		break
	}
	var pending cycles
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.serverToClient(server, client, app, &pending)
		_ = client.Close()
		_ = server.Close()
	}()
	p.clientToServer(cr, server, &pending)
	_ = client.Close()
	_ = server.Close()
	<-done
}

// clientToServer relays the client's messages, noting each cycle it ends
// before the server can answer it.
func (p *replyProxy) clientToServer(cr *bufio.Reader, server net.Conn, pending *cycles) {
	exec := false
	for {
		typ, msg, err := readTyped(cr)
		if err != nil {
			return
		}
		switch typ {
		case 'E':
			exec = true
		case 'S':
			pending.push(exec)
			exec = false
		case 'Q':
			pending.push(true)
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// serverToClient relays the server's messages, a cycle's answer at once
// when its ReadyForQuery arrives, until either side closes or it loses a
// reply.
func (p *replyProxy) serverToClient(server, client net.Conn, app string, pending *cycles) {
	sr := bufio.NewReader(server)
	var buf []byte
	for {
		typ, msg, err := readTyped(sr)
		if err != nil {
			if len(buf) > 0 { // the server's last words (a FATAL on termination)
				_, _ = client.Write(buf)
			}
			return
		}
		if len(buf) == 0 && pending.len() == 0 {
			if _, err := client.Write(msg); err != nil {
				return
			}
			continue
		}
		buf = append(buf, msg...)
		if typ != 'Z' {
			continue
		}
		exec := pending.pop()
		if exec && len(msg) == 6 && msg[5] == 'I' {
			if p.end(app) {
				return // the caller closes both sides: the reply is lost
			}
		}
		if _, err := client.Write(buf); err != nil {
			return
		}
		buf = buf[:0]
	}
}

// startupParam returns the value of name in a StartupMessage (int32
// length, int32 protocol version, then NUL-terminated name and value
// strings), or "".
func startupParam(msg []byte, name string) string {
	if len(msg) < 8 {
		return ""
	}
	parts := bytes.Split(msg[8:], []byte{0})
	for i := 0; i+1 < len(parts); i += 2 {
		if string(parts[i]) == name {
			return string(parts[i+1])
		}
	}
	return ""
}

// maxMessage bounds a message's length, against a stream gone astray.
const maxMessage = 1 << 30

var errBadLength = errors.New("reply proxy: bad message length")

// readUntyped reads a startup-phase message: int32 length, then the rest.
func readUntyped(r *bufio.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 8 || n > maxMessage {
		return nil, errBadLength
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// readTyped reads one message: type byte, int32 length (itself
// included), body. It returns the whole message.
func readTyped(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n < 4 || n > maxMessage {
		return 0, nil, errBadLength
	}
	msg := make([]byte, 1+n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[5:]); err != nil {
		return 0, nil, err
	}
	return hdr[0], msg, nil
}
