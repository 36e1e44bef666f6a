package smtpd

import (
	"crypto/tls"
	"errors"
	"io"
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
//
// It also does the TLS of the connection itself, so that what it reads
// and writes is always plain text (see tlsup.go): go-smtp works above
// it and never sees a *tls.Conn.
type trackedConn struct {
	net.Conn // the client's socket: deadlines and Close go here
	id       string
	srv      *Server
	ip       netip.Addr // the client's address

	// rw is what go-smtp's bytes are read from and written to: the
	// socket, or TLS over it. Only go-smtp's connection goroutine
	// uses it, and changes it (tlsup.go).
	rw net.Conn
	// tlsConn is the TLS layer over the socket, nil before TLS.
	tlsConn *tls.Conn
	// starttls is the TLS configuration of STARTTLS on a plain-text
	// connection of a server that offers it; nil otherwise.
	starttls *tls.Config
	// stage is where the connection stands with TLS; see tlsup.go.
	stage atomic.Int32
	// cut and held keep from go-smtp what follows a line it must
	// answer first, until it has (lineCut, wire.go).
	cut  lineCut
	held []byte
	// timedOut: a read timed out; reads end the stream from then on.
	timedOut bool
	// dropBanner: the first reply written (go-smtp's banner) is
	// dropped, on a connection handed over after STARTTLS.
	dropBanner bool

	// dataMode is set by a DATA/BDAT body read and cleared when
	// go-smtp sets the next command deadline.
	dataMode  atomic.Bool
	dataStart atomic.Int64 // unix nanoseconds

	// closeAfterWrite makes the next reply the last: the connection
	// closes once it is written.
	closeAfterWrite atomic.Bool

	// tap reads go-smtp's replies, dots guards DATA bodies (wire.go).
	tap  replyTap
	dots dotGuard
	// refusals counts the refused commands of the connection, ours
	// and go-smtp's, toward maxRefusals.
	refusals atomic.Int32
	log      *slog.Logger // with the connection's id and address

	closeOnce sync.Once
	closeErr  error
}

// Read reads from the client, extending the deadline first while a
// message body is being transferred. What is read passes dotGuard (see
// wire.go). go-smtp's connection goroutine is the only reader.
func (c *trackedConn) Read(p []byte) (int, error) {
	switch c.stage.Load() {
	case stageUpgrade:
		return 0, c.upgrade()
	case stageHandOver, stageEnded:
		return 0, io.EOF
	}
	if c.timedOut {
		return 0, io.EOF
	}
	var n int
	var err error
	if len(c.held) > 0 {
		n = copy(p, c.held)
		c.held = c.held[n:]
	} else {
		if c.dataMode.Load() {
			c.Conn.SetReadDeadline(c.dataDeadline())
		}
		n, err = c.rw.Read(p)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// go-smtp goes back to reading commands after some
			// timeouts (draining a refused body, a SASL answer, a
			// BDAT chunk) without an answer lineCut could follow:
			// the stream is no longer known, so it ends here. go-smtp
			// still writes its reply to the timeout.
			c.timedOut = true
		}
	}
	// go-smtp gets nothing past a line it must answer first, such as
	// STARTTLS, so that what a client pipelines behind one never
	// reaches its buffer (lineCut, wire.go).
	c.cut.resume(c.tap.last)
	if k := c.cut.next(p[:n]); k < n {
		c.held = append(c.held[:0:0], p[k:n]...)
		n = k
	}
	if c.cut.lost {
		c.log.Warn("BDAT line too long to follow; closing")
		c.stage.Store(stageEnded)
		return 0, io.EOF
	}
	c.dots.scan(p[:n])
	return n, err
}

// SetReadDeadline is how go-smtp starts waiting for a command line; it
// ends data mode.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	c.dataMode.Store(false)
	return c.Conn.SetReadDeadline(t)
}

// Write writes a reply, and closes the connection after it when
// closeAfterWrite is set. Replies are read first (see wire.go), so that
// a refusal is in the log before the client has it.
func (c *trackedConn) Write(p []byte) (int, error) {
	switch c.stage.Load() {
	case stageHandOver, stageEnded:
		// go-smtp's words after a STARTTLS that we did: its failed
		// handshake's 550. The client never hears them.
		return len(p), nil
	}
	all := len(p)
	if c.dropBanner {
		p = c.skipBanner(p)
	}
	p = c.fixSizeReply(p)
	last, upgrade := c.watch(p)
	n, err := c.rw.Write(p)
	if last {
		c.rw.Write([]byte(replyLine(replyTooManyErrors) + "\r\n"))
	}
	if last || c.closeAfterWrite.Load() {
		c.Close()
	}
	if upgrade && err == nil {
		c.stage.CompareAndSwap(stagePlain, stageUpgrade)
	}
	if err == nil {
		n = all // what was dropped or rewritten counts as written
	}
	return n, err
}

// watch reads the replies in p, about to be written: 354 arms dotGuard
// and the next reply disarms it, and go-smtp's own refusals are
// recorded. It reports whether p holds the refusal that reaches
// maxRefusals, and whether it accepts STARTTLS (tlsup.go).
func (c *trackedConn) watch(p []byte) (last, upgrade bool) {
	c.tap.write(p, func(line string, ev tapEvent) {
		switch ev {
		case tapTLS:
			upgrade = c.starttls != nil
		case tapData:
			c.dots.arm()
		case tapReply:
			c.dots.disarm()
		case tapRefusal:
			c.dots.disarm()
			last = c.goSMTPRefused(line) || last
		}
	})
	return last, upgrade
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

// Close closes the connection once and forgets it; but when go-smtp
// closes its side of a STARTTLS we did, the connection goes on, in TLS,
// with a fresh go-smtp session (tlsup.go).
func (c *trackedConn) Close() error {
	if c.handOver() {
		return nil
	}
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

// tracked returns nc as a trackedConn, nil if it is not one.
func tracked(nc net.Conn) *trackedConn {
	tc, _ := nc.(*trackedConn)
	return tc
}
