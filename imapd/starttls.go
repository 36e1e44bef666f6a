package imapd

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"
)

// STARTTLS is done by the guard, beneath imapserver, so that the guard
// goes on reading plain text in TLS (SORT, the literal and empty-line
// guards; guard.go). Left to imapserver, its *tls.Conn would sit above
// the guard, which would see only ciphertext.
//
// imapserver still parses the command and decides (it refuses STARTTLS
// once logged in, or with arguments). When the guard has passed a
// STARTTLS line it holds back whatever the client sent behind it, so
// that imapserver's buffer ends with that line. If imapserver answers
// OK, its next step is a TLS handshake of its own over the guard; the
// guard's next Read does the real handshake with the client instead,
// on the socket, and reports end of stream to imapserver, whose
// handshake then fails at once: its connection ends, and its Close
// hands the connection, now in TLS, to the server's second imapserver
// (the one of implicit TLS, which allows LOGIN and offers no
// STARTTLS), behind a new guard that drops its greeting (RFC 3501
// §6.2.1: none is sent after STARTTLS). The bytes held back are dropped:
// plain text pipelined behind STARTTLS must never run in the TLS
// session (CVE-2011-0411's injection). If imapserver refuses instead,
// they are read as usual.
const (
	stagePlain    int32 = iota // no STARTTLS accepted (or none ours)
	stageUpgrade               // the OK is out: the handshake is next
	stageHandOver              // TLS is up: imapserver's side is ending
	stageGone                  // handed over to the next guard
	stageEnded                 // the handshake failed: only Close is left
)

// tlsUp is what a guard needs to do STARTTLS.
type tlsUp struct {
	config *tls.Config
	// handOff gives a connection in TLS to the implicit-TLS
	// imapserver; false when the server is closing.
	handOff func(*guardConn) bool
	log     *slog.Logger
}

// upgrade does the TLS handshake of a STARTTLS imapserver accepted, and
// reports end of stream to imapserver either way.
func (c *guardConn) upgrade() error {
	tc := tls.Server(c.Conn, c.up.config)
	c.Conn.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	err := tc.Handshake()
	c.Conn.SetDeadline(time.Time{})
	if err != nil {
		c.up.log.Info("imap STARTTLS handshake failed",
			"remote", remoteIP(c.RemoteAddr()).String(), "err", err)
		c.stage.Store(stageEnded)
		return io.EOF
	}
	c.mu.Lock()
	c.after, c.haveAfter = nil, false // pipelined behind STARTTLS
	c.mu.Unlock()
	c.next = &guardConn{Conn: tc, tls: true, greeting: true}
	c.stage.Store(stageHandOver)
	return io.EOF
}

// Close closes the connection, unless imapserver is closing its side
// of a STARTTLS the guard did: then the connection goes on, in TLS,
// with the next guard.
func (c *guardConn) Close() error {
	if c.stage.CompareAndSwap(stageHandOver, stageGone) {
		if c.up.handOff(c.next) {
			return nil
		}
		return c.next.Close()
	}
	return c.Conn.Close()
}

// dropGreeting returns what is left of p once the greeting, the first
// line imapserver writes, is dropped; wmu is held.
func (c *guardConn) dropGreeting(p []byte) []byte {
	for i, b := range p {
		if b == '\n' {
			c.greeting = false
			return p[i+1:]
		}
	}
	return nil
}

// startTLSUp prepares the guards' STARTTLS, if the server offers it: the
// implicit-TLS imapserver is served the connections handed over.
func (s *Server) startTLSUp() *tlsUp {
	if s.opts.TLSConfig == nil {
		return nil
	}
	s.handOffMu.Lock()
	if !s.handOffUp && !s.closing.Load() {
		s.handOffUp = true
		go s.imapTLS.Serve(s.handOffLn)
	}
	s.handOffMu.Unlock()
	ln := s.handOffLn
	return &tlsUp{
		config:  s.opts.TLSConfig,
		handOff: func(g *guardConn) bool { return ln.Push(g) },
		log:     s.log,
	}
}
