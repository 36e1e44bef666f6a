package smtpd

import (
	"crypto/tls"
	"io"
	"time"
)

// TLS is done here, beneath go-smtp, not by go-smtp: our layers that
// read what the client sends and what go-smtp answers (dotGuard,
// replyTap, wire.go) must see plain text, and a layer under go-smtp's
// own *tls.Conn would see only ciphertext. So go-smtp is always given
// the trackedConn, plain text in both directions, and never a
// *tls.Conn; it then believes no connection is secure. Each generation
// (server.go) therefore runs two go-smtp servers: plain, for
// connections that start in clear text, which offers STARTTLS; and
// secure, for connections in TLS (implicit TLS, or after STARTTLS),
// which offers no STARTTLS and allows AUTH (it is TLS). Our session
// asks the trackedConn whether TLS is on, not go-smtp.
//
// STARTTLS: go-smtp parses the command (its idea of a STARTTLS line
// is the one that counts: any line starting with the word), writes
// "220 Ready to start TLS" and begins a TLS handshake over the
// trackedConn. The reply tap sees that 220 (stagePlain → stageUpgrade),
// and go-smtp's first read for its handshake is where we do the real
// handshake with the client on the socket (upgrade), then end go-smtp's
// side with io.EOF: its handshake fails, its "550 Handshake error" is
// dropped, it reads end of stream and closes, and that Close hands the
// connection, now in TLS, to the secure server of the current
// generation (handOver), which starts a new session: EHLO is required
// again (RFC 3207 §4.2). Its banner is not sent: the client expects
// none after STARTTLS.
//
// What a client pipelines behind STARTTLS in clear text must be
// dropped, never run (CVE-2011-0411's injection): go-smtp's old side
// would run whatever its buffer holds after its failed handshake, so
// trackedConn.Read never gives it bytes past the end of a line that
// starts with "STARTTLS" (lineCut, wire.go): the rest waits in held,
// and is thrown away if the STARTTLS is accepted.
const (
	stagePlain    int32 = iota // clear text; STARTTLS not yet accepted
	stageUpgrade               // go-smtp accepted STARTTLS: handshake next
	stageHandOver              // TLS is up: go-smtp's side is ending
	stageSecure                // TLS, with the secure server's session
	stageEnded                 // the handshake failed: only Close is left
)

// tlsHandshakeTimeout bounds a client's TLS handshake.
const tlsHandshakeTimeout = 30 * time.Second

// upgrade does the TLS handshake of a STARTTLS go-smtp accepted, and
// reports end of stream to go-smtp either way.
func (c *trackedConn) upgrade() error {
	c.held = nil // pipelined behind STARTTLS: dropped
	tc := tls.Server(c.Conn, c.starttls)
	c.Conn.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	err := tc.Handshake()
	c.Conn.SetDeadline(time.Time{})
	if err != nil {
		c.log.Info("STARTTLS handshake failed", "err", err)
		c.stage.Store(stageEnded)
		return io.EOF
	}
	c.rw, c.tlsConn = tc, tc
	c.stage.Store(stageHandOver)
	return io.EOF
}

// handOver passes the connection, after the handshake of a STARTTLS, to
// the secure go-smtp server, as go-smtp closes its plain side. False
// when there is nothing to hand over, or the server is closing.
func (c *trackedConn) handOver() bool {
	if !c.stage.CompareAndSwap(stageHandOver, stageSecure) {
		return false
	}
	c.tap = replyTap{}
	c.dots = dotGuard{}
	c.dropBanner = true
	for {
		gen := c.srv.current()
		if gen == nil {
			return false
		}
		if gen.secLn.Push(c) {
			return true
		}
	}
}

// skipBanner returns what is left of p once the banner is dropped: the
// bytes up to the end of the first line (go-smtp's banner is one line).
func (c *trackedConn) skipBanner(p []byte) []byte {
	for i, b := range p {
		if b == '\n' {
			c.dropBanner = false
			// The tap takes the next reply for the banner too
			// otherwise.
			c.tap.greeted = true
			return p[i+1:]
		}
	}
	return nil
}

// isTLS reports whether the connection is in TLS now.
func (c *trackedConn) isTLS() bool {
	return c.stage.Load() == stageSecure
}
