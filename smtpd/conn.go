package smtpd

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// trackedConn is a client connection as the server accepted it. It
// carries the connection id, lets Close reach every connection, and
// implements the deadline handling go-smtp lacks: go-smtp sets one read
// deadline per command line, so the whole DATA transfer would have to
// fit in one ReadTimeout. While a transfer is running (dataMode), every
// read extends the deadline instead.
type trackedConn struct {
	net.Conn
	id  string
	srv *Server
	ip  netip.Addr // the client's address

	// dataMode is set by a DATA/BDAT body read and cleared when
	// go-smtp sets the next command deadline.
	dataMode  atomic.Bool
	dataStart atomic.Int64 // unix nanoseconds

	// closeAfterWrite makes the next reply the last: the connection
	// closes once it is written.
	closeAfterWrite atomic.Bool

	// plain is set while the connection carries plain text: until
	// STARTTLS, and never on implicit TLS. tap reads go-smtp's replies
	// meanwhile (see wire.go).
	plain atomic.Bool
	tap   replyTap
	dots  dotGuard
	// refusals counts the refused commands of the connection, ours
	// and go-smtp's, toward maxRefusals.
	refusals atomic.Int32
	log      *slog.Logger // with the connection's id and address

	closeOnce sync.Once
	closeErr  error
}

// Read reads from the client, extending the deadline first while a
// message body is being transferred. Plain text passes dotGuard (see
// wire.go). go-smtp's connection goroutine is the only reader.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.dataMode.Load() {
		c.Conn.SetReadDeadline(c.dataDeadline())
	}
	n, err := c.Conn.Read(p)
	if c.plain.Load() {
		c.dots.scan(p[:n])
	}
	return n, err
}

// SetReadDeadline is how go-smtp starts waiting for a command line; it
// ends data mode.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.dataMode.Store(false)
	return c.Conn.SetReadDeadline(t)
}

// Write writes a reply, and closes the connection after it when
// closeAfterWrite is set. Replies in plain text are read first (see
// wire.go), so that a refusal is in the log before the client has it.
func (c *trackedConn) Write(p []byte) (int, error) {
	last := c.plain.Load() && c.watch(p)
	n, err := c.Conn.Write(p)
	if last {
		c.Conn.Write([]byte(replyLine(replyTooManyErrors) + "\r\n"))
	}
	if last || c.closeAfterWrite.Load() {
		c.Close()
	}
	return n, err
}

// watch reads the replies in p, about to be written in plain text:
// STARTTLS ends plain text, 354 arms dotGuard and the next reply
// disarms it, and go-smtp's own refusals are recorded.
// It reports whether p holds the refusal that reaches maxRefusals.
func (c *trackedConn) watch(p []byte) (last bool) {
	c.tap.write(p, func(line string, ev tapEvent) {
		switch ev {
		case tapTLS:
			c.plain.Store(false)
		case tapData:
			c.dots.arm()
		case tapReply:
			c.dots.disarm()
		case tapRefusal:
			c.dots.disarm()
			last = c.goSMTPRefused(line) || last
		}
	})
	return last
}

// goSMTPRefused logs and counts a refusal go-smtp made itself; true
// means it is the maxRefusals-th of the connection, to be followed by
// 421 and the end of the connection.
func (c *trackedConn) goSMTPRefused(line string) bool {
	code, text := splitReply(line)
	reason := goSMTPReason(line)
	c.srv.stats.countReason(reason)
	c.log.Info("command refused", "code", code, "reply", text,
		"reason", reason, "by", "go-smtp")
	if c.refusals.Add(1) != maxRefusals {
		return false
	}
	c.log.Warn("too many refused commands; closing", "refusals",
		maxRefusals)
	return true
}

// Close closes the connection once and forgets it.
func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.srv.untrack(c)
	})
	return c.closeErr
}

// beginData enters data mode: from now on each read extends the
// deadline by the data read timeout, up to the total data time limit
// counted from the first read of the transfer.
func (c *trackedConn) beginData() {
	if c.dataMode.CompareAndSwap(false, true) {
		c.dataStart.Store(time.Now().UnixNano())
	}
}

// dataDeadline returns the read deadline for the next read of a body.
func (c *trackedConn) dataDeadline() time.Time {
	now := time.Now()
	d := now.Add(c.srv.tune.dataReadTimeout)
	end := time.Unix(0, c.dataStart.Load()).Add(c.srv.tune.dataTotal)
	if end.Before(d) {
		return end
	}
	return d
}

// tracked returns the trackedConn under nc, which is either one or a
// TLS connection over one after STARTTLS.
func tracked(nc net.Conn) *trackedConn {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	tc, _ := nc.(*trackedConn)
	return tc
}

// chanListener hands accepted connections to one go-smtp server: the
// one built for the configuration snapshot current when each arrived.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn),
		done: make(chan struct{})}
}

// Accept returns the next connection pushed, or net.ErrClosed.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// push hands c to Accept; false means the listener was closed first.
// The channel is unbuffered, so a pushed connection is never stranded.
func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// Close stops Accept.
func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the address of the first real listener.
func (l *chanListener) Addr() net.Addr { return l.addr }
