// Package chanln is a net.Listener fed by hand: a server that takes a
// listener (go-smtp, go-imap's imapserver) is given connections that
// were accepted elsewhere, or that change hands after STARTTLS.
package chanln

import (
	"net"
	"sync"
)

// Listener hands the connections pushed to it to Accept.
type Listener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once

	accepting     chan struct{}
	acceptingOnce sync.Once
}

// New returns a Listener that reports addr as its address.
func New(addr net.Addr) *Listener {
	return &Listener{addr: addr, ch: make(chan net.Conn),
		done: make(chan struct{}), accepting: make(chan struct{})}
}

// Accepting is closed when Accept is first called: a server started in
// a goroutine is then serving the listener. (imapserver's Serve and
// Close race when Close comes before Serve has begun to accept.)
func (l *Listener) Accepting() <-chan struct{} { return l.accepting }

// Accept returns the next connection pushed, or net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	l.acceptingOnce.Do(func() { close(l.accepting) })
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Push hands c to Accept; false means the listener was closed first.
// The channel is unbuffered, so a pushed connection is never stranded.
func (l *Listener) Push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// Close stops Accept.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the address given to New.
func (l *Listener) Addr() net.Addr { return l.addr }

// Addr is a placeholder address for listeners with no socket.
type Addr string

// Network returns the address itself.
func (a Addr) Network() string { return string(a) }

func (a Addr) String() string { return string(a) }
