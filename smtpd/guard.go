package smtpd

import (
	"bytes"
	"net"
	"net/netip"
	"time"

	"github.com/emersion/go-smtp"
)

// Limits against hostile clients beyond go-smtp's own: connections per
// client address, refused commands per session, free disk before a
// transaction, and the header section of a message (its size and its
// Received hops).
const (
	// maxConnsPerAddr is the most connections one client address may
	// hold at once; loopback clients (a webmail, a test) are exempt.
	maxConnsPerAddr = 20
	// maxRefusals is the number of refused MAIL and RCPT commands after
	// which a session is ended with 421: an address harvester or a
	// confused client.
	maxRefusals = 20
	// maxHops is the number of Received fields that marks a mail loop
	// (RFC 5321 §6.3); Postfix's default is 50 too.
	maxHops = 50
	// maxHeaderSection bounds the header section of a message, and
	// maxHeaderLines its lines: go-imap's header parsing for FETCH
	// BODY[HEADER.FIELDS] grows with the square of the line count, so
	// 300,000 short lines would cost an IMAP client seconds per fetch
	// (a denial of service by mail).
	maxHeaderSection = 1 << 20
	maxHeaderLines   = 10000
	// minFreeDisk is the free space below which MAIL is refused with
	// 452 before any data is taken, on top of max_message_size.
	minFreeDisk = 64 << 20
)

// addrConns counts the connections of each client address. It runs
// under Server.mu.
type addrConns map[netip.Addr]int

// remoteAddr returns the IP address of a connection's peer.
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// refuseBusy answers a connection over maxConnsPerAddr and closes it.
func refuseBusy(c net.Conn) {
	r := replyTooManyConns
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte(codeString(r) + " " + r.Message + "\r\n"))
	c.Close()
}

// checkDisk refuses a transaction when the data directory could not
// take a message of the largest size.
func (s *session) checkDisk() (*smtp.SMTPError, string) {
	free := s.srv.tune.freeDisk(s.srv.opts.Store.DataDir())
	if free >= 0 && free < s.cfg.Server.MaxMessageSize+minFreeDisk {
		return replyDiskFull, "low free disk space"
	}
	return nil, ""
}

// refused counts a refused MAIL or RCPT; past maxRefusals the session
// ends with 421 after this reply's place.
func (s *session) refused(r *smtp.SMTPError) *smtp.SMTPError {
	n := s.countRefused()
	if n < maxRefusals {
		return r
	}
	s.log.Warn("too many refused commands; closing", "refusals", n)
	s.closeWith(replyTooManyErrors)
	return replyTooManyErrors
}

// countRefused counts a refused command and returns the count: the
// connection's, which go-smtp's own refusals add to (see wire.go).
func (s *session) countRefused() int {
	if s.tc != nil {
		return int(s.tc.refusals.Add(1))
	}
	s.refusals++
	return s.refusals
}

// headerChecker watches the header section of a message as it streams
// by: its size, its lines, and the number of Received fields. It relies
// on bodyChecker for line endings: a CR is always followed by LF.
type headerChecker struct {
	done  bool   // the empty line that ends the header was seen
	size  int    // bytes of header so far
	lines int    // lines of header so far
	col   int    // bytes into the current line
	start []byte // the first bytes of the current line, lower case
	hops  int
}

// receivedField is how a Received field begins, in lower case.
var receivedField = []byte("received:")

func newHeaderChecker() *headerChecker { return &headerChecker{} }

// check inspects the next piece of the message.
func (h *headerChecker) check(p []byte) (*smtp.SMTPError, string) {
	for _, c := range p {
		if h.done {
			return nil, ""
		}
		if h.size++; h.size > maxHeaderSection {
			return replyHeaderTooBig, "header section over 1 MiB"
		}
		switch {
		case c == '\n':
			h.col, h.start = 0, h.start[:0]
			if h.lines++; h.lines > maxHeaderLines {
				return replyHeaderTooBig, "over 10,000 header lines"
			}
			continue
		case h.col == 0 && c == '\r':
			h.done = true // CRLF alone: the empty line
			continue
		}
		h.col++
		if len(h.start) < len(receivedField) {
			h.start = append(h.start, c|0x20) // ASCII lower case
			if bytes.Equal(h.start, receivedField) {
				if h.hops++; h.hops > maxHops {
					return replyLoop, "too many Received fields"
				}
			}
		}
	}
	return nil, ""
}

// maxContainers bounds the MIME containers in a message: "multipart/"
// and "message/rfc822" (or "message/global") media types, each of which
// can nest another level. go-imap's BODYSTRUCTURE costs grow faster
// than the depth: 20,000 levels (1.4 MB) keep a FETCH busy for minutes,
// or take gigabytes of memory, and then fail it. Real mail has a
// handful. maxParts bounds the parts of all the containers together,
// counted as boundary lines ("--" and a non-space at the start of a
// line): 2,500,000 empty parts make a 137 MB BODYSTRUCTURE.
const (
	maxContainers = 1000
	maxParts      = 10000
)

// mimeCounter counts MIME containers and part boundaries as a message
// streams by. Counting media types anywhere, not only in Content-Type
// fields, needs no MIME parsing and cannot be dodged by folding a
// field.
type mimeCounter struct {
	containers int
	parts      int
	tail       []byte // the end of the previous piece, lower case
	bol        bool   // the next byte starts a line
	dash       int    // dashes at the start of the current line
}

var containerTokens = [][]byte{[]byte("multipart/"),
	[]byte("message/rfc822"), []byte("message/global")}

func newMIMECounter() *mimeCounter { return &mimeCounter{bol: true} }

// check inspects the next piece of the message.
func (m *mimeCounter) check(p []byte) (*smtp.SMTPError, string) {
	const keep = len("message/rfc822") - 1
	buf := append(m.tail, bytes.ToLower(p)...)
	for _, tok := range containerTokens {
		m.containers += bytes.Count(buf, tok)
	}
	if m.containers > maxContainers {
		return replyTooComplex, "over 1,000 MIME containers"
	}
	m.tail = append(m.tail[:0], buf[max(0, len(buf)-keep):]...)
	for _, c := range p {
		switch {
		case c == '\n':
			m.bol, m.dash = true, 0
			continue
		case m.bol && c == '-' && m.dash < 2:
			m.dash++
			continue
		case m.bol && m.dash == 2 && c != ' ' && c != '\t' && c != '\r':
			if m.parts++; m.parts > maxParts {
				return replyTooComplex, "over 10,000 MIME parts"
			}
		}
		m.bol = false
	}
	return nil, ""
}
