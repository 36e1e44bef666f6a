package imapd

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// go-imap beta.8 closes the connection when a command line is empty
// (just CRLF), which iOS Mail sends (see DEPENDENCIES.md). We cannot
// reach its command loop, so guardListener wraps each accepted
// connection in a guardConn that drops an empty line read where a
// command starts.
//
// Dropping rather than answering "* BAD empty command line": the client
// sent no tag and waits for nothing; an untagged reply would have to be
// written from the read path, racing the server's own writer (IDLE
// updates, a half-written FETCH). RFC 3501 has no empty command, so
// either is ours to choose; silence is the one that cannot hurt.
//
// What counts as a command start is decided by following the client's
// syntax, not guessed: a line ending in a literal marker ({N}, {N+},
// ~{N}, with the optional SP and lone LF beta.8 accepts) is followed by
// N bytes passed through untouched, and the command line goes on after
// them. For a synchronising literal the bytes are only counted once the
// server has written its "+" continuation (the guard also watches what
// the server writes, skipping the server's own literals); if the server
// instead answers that command, the literal was refused and the next
// line is a command again. Replies are matched to commands by position
// (the guard counts both), never by tag, which a client may use twice.
// The line after AUTHENTICATE without an initial response (a SASL
// response, where an empty line is a valid empty response) is not a
// command, nor are the lines after IDLE up to DONE.
//
// Every doubt fails open: a client sending bytes before the "+" it must
// wait for, or a literal size that does not fit in an int64, turns the
// guard off for good and the connection is passed through byte for
// byte, so the guard can only ever fail to drop an empty line, never
// alter other bytes. STARTTLS is done by the guard itself, beneath
// imapserver (starttls.go), so the connection stays guarded in TLS.
// Consequence: an empty line pipelined behind a SASL response before
// the server has answered is not dropped.
//
// The guard also ends the connection after a non-synchronising literal
// larger than LITERAL- allows (RFC 7888 §5), whose size it cannot
// trust: beta.8 answers it BAD and then runs the literal's bytes as
// commands, so a message body holding "a CREATE x" lines would be
// executed. The command line with the marker still reaches imapserver,
// which answers BAD; the guard then drops everything after it and
// reports end of stream, and imapserver closes the connection.
//
// The guard also carries SORT, which imapserver lacks: it rewrites a
// SORT command into a SEARCH and the answer back (sortwire.go).
//
// A synchronising literal over 4096 bytes outside APPEND is refused by
// beta.8, but where it expected a string it first reads on for the end
// of the line, which the client, waiting for "+", never sends. When
// imapserver reads again after such a marker line without having
// answered, the guard hands it that line end, so that the refusal goes
// out at once; where imapserver answered first, nothing is added.
//
// Connections with implicit TLS are guarded above TLS (tlsGuardListener),
// and so are those that use STARTTLS: the guard does its TLS itself
// (starttls.go).
type guardListener struct {
	net.Listener
	up *tlsUp // STARTTLS, when the server offers it
}

// Accept wraps each connection in a guardConn.
func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, up: l.up}, nil
}

// tlsHandshakeTimeout bounds a client's TLS handshake on ServeTLS.
const tlsHandshakeTimeout = 30 * time.Second

// tlsGuardListener does the TLS handshake of each accepted connection
// itself and guards the plain text above it (Server.ServeTLS).
type tlsGuardListener struct {
	net.Listener
	config *tls.Config
}

// Accept wraps each connection in TLS and then in a guardConn.
func (l tlsGuardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// The handshake runs in the connection's first Read or Write;
	// imapserver sets its own deadlines only after its greeting.
	c.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	return &guardConn{Conn: tls.Server(c, l.config), tls: true}, nil
}

// maxHead bounds how much of a line's start is kept to read its tag,
// command name and the words after (an AUTHENTICATE's initial
// response); maxTail how much of its end, to find a literal marker.
// maxTag is the longest tag the guard lets through (see
// badCommandStart): with it, a command's words fit in maxHead.
const (
	maxHead = 640
	maxTail = 32
	maxTag  = 512
)

// maxCommandBytes bounds a command's bytes outside its literals, under
// the 50 KiB at which imapserver's decoder gives up in mid-line.
const maxCommandBytes = 48 << 10

// maxWaitLine bounds a line that is not a command (DONE, a SASL
// response), well under imapserver's 4096-byte line reader buffer.
const maxWaitLine = 1024

// maxNonSync is the largest non-synchronising literal LITERAL- allows
// (RFC 7888 §5); imapserver advertises LITERAL- and enforces it.
const maxNonSync = 4096

// lineState follows one direction of the stream: where lines start and
// which bytes are literal data.
type lineState struct {
	mid  bool  // inside a line (false: at the start of one)
	lit  int64 // literal bytes still to come
	head []byte
	tail []byte
}

// feed takes one byte that is not literal data and reports whether it
// ended a line.
func (ls *lineState) feed(b byte) bool {
	if !ls.mid {
		ls.mid = true
		ls.head = ls.head[:0]
		ls.tail = ls.tail[:0]
	}
	if len(ls.head) < maxHead {
		ls.head = append(ls.head, b)
	}
	if len(ls.tail) == maxTail {
		copy(ls.tail, ls.tail[1:])
		ls.tail = ls.tail[:maxTail-1]
	}
	ls.tail = append(ls.tail, b)
	return b == '\n'
}

// literal parses the literal marker that ends the line just ended:
// "{N}" or "{N+}", then an optional SP and CR before the LF. ok is false
// without one; bad is true for a size that does not fit (nonSync is
// then still reported).
func (ls *lineState) literal() (size int64, nonSync, ok, bad bool) {
	t := ls.tail[:len(ls.tail)-1] // drop LF
	if len(t) > 0 && t[len(t)-1] == '\r' {
		t = t[:len(t)-1]
	}
	if len(t) > 0 && t[len(t)-1] == ' ' {
		t = t[:len(t)-1]
	}
	if len(t) < 3 || t[len(t)-1] != '}' {
		return 0, false, false, false
	}
	t = t[:len(t)-1]
	if t[len(t)-1] == '+' {
		nonSync = true
		t = t[:len(t)-1]
	}
	i := len(t)
	for i > 0 && t[i-1] >= '0' && t[i-1] <= '9' {
		i--
	}
	if i == 0 || i == len(t) || t[i-1] != '{' {
		if i == 0 && len(ls.tail) == maxTail {
			// The digits run past what we kept: cannot tell.
			return 0, nonSync, false, true
		}
		return 0, false, false, false
	}
	n, err := strconv.ParseInt(string(t[i:]), 10, 64)
	if err != nil {
		return 0, nonSync, false, true
	}
	return n, nonSync, true, false
}

// token returns the n-th (0-based) SP-separated word of the line start.
func (ls *lineState) token(n int) string {
	h := ls.head
	for {
		end := 0
		for end < len(h) && h[end] != ' ' && h[end] != '\r' &&
			h[end] != '\n' {
			end++
		}
		if n == 0 {
			return string(h[:end])
		}
		if end == len(h) || h[end] != ' ' {
			return ""
		}
		h = h[end+1:]
		n--
	}
}

// guardConn is a net.Conn that drops empty lines at command starts; see
// guardListener.
type guardConn struct {
	net.Conn

	raw  [4096]byte // read from the connection
	pend []byte     // filtered, not yet returned
	poff int

	mu        sync.Mutex
	off       bool // passing everything through for good
	cut       bool // the client's stream ends here (oversized literal)
	in, out   lineState
	heldCR    bool // a CR at a command start, held back
	awaitCont bool // a synchronising literal waits for "+"
	contSize  int64
	outWord   bool // the first word of the server's line was seen

	// Commands are counted as they start and tagged replies as they
	// come, so that a reply is matched to its command by position,
	// not by its tag, which a client may use twice.
	sent, answered uint64
	cmdIdx         uint64 // the command whose line is being read
	awaitIdx       uint64 // the command whose literal waits for "+"
	waitIdx        uint64 // lines are not commands until it is answered
	waitIdle       bool   // and it is IDLE: its DONE line ends the wait
	tlsIdx         uint64 // STARTTLS: the output is TLS after its OK
	tlsRaw         bool   // bytes passed unguarded since STARTTLS

	// A synchronising literal imapserver refuses and then waits for
	// the rest of its line (clientLineEnd): injectAt is where in pend
	// the marker line ends; once go-imap has read past it and reads
	// again without having answered, the guard ends the line.
	injectWant, injectArmed bool
	injectAt                int
	injected                int // line ends made so (tests)

	// SORT (sortwire.go): the start of a command line held back until
	// it is known whether it is a SORT, and of a server line until it
	// is known whether to rewrite it.
	marker     string // HEADER key of a rewritten SORT; see sortMarker
	holding    bool
	hold       []byte
	outHolding bool
	outHold    []byte
	sortNext   bool // the next "* SEARCH" line answers a SORT
	sortDone   bool // and the next tagged line completes it
	outOff     bool // the output is TLS records: passed as they are

	wmu  sync.Mutex // serialises Write, for wbuf
	wbuf []byte

	tls bool // above a TLS connection of ours (ServeTLS, STARTTLS)

	// badArgs logs a command whose arguments go-imap refused with
	// SERVERBUG (badargs.go); set by the session.
	badArgs func(command string, cut, literal bool)
	// readFailed: reading the connection failed (see decideOut).
	readFailed bool
	// cutLiteral: the stream was cut for an oversized LITERAL- literal
	// (other cuts are for what the guard cannot follow).
	cutLiteral bool
	// names holds the command names of the commands not yet
	// answered, by position.
	names map[uint64]string
	// origin is the x-originating-ip of an ID command (idwire.go).
	origin netip.Addr

	// A literal whose command imapserver answered before reading it
	// is orphaned: imapserver would read its bytes as commands; and
	// where it fails on a literal's content it leaves the rest of the
	// line unread (its DiscardLine returns at once after a literal),
	// which then fails as a command and ends the connection. So the
	// guard stops at a non-synchronising literal's marker line
	// (holdLine) and at the end of any literal's data, until
	// imapserver comes back for more: if it has answered the command
	// by then, what is left of the command is dropped (orphan). litIdx
	// is the command of the literal being passed.
	litIdx uint64
	orphan bool
	// appendTail follows the bytes after an APPEND's message literal,
	// where imapserver takes only [SP] [CR] LF (appendLineEnd).
	appendTail uint8
	// holdLine stops the filter at the end of the current line, the
	// rest held (holdRest) until imapserver reads again: after a
	// STARTTLS line, a non-synchronising literal's marker, an IDLE or
	// AUTHENTICATE line or a SASL response, imapserver's answer says
	// what the next bytes are. waitLen is the length of a line that
	// is not a command (maxWaitLine).
	holdLine bool
	waitLen  int
	// cmdLen counts the bytes of the command being read, literals
	// aside, as imapserver's decoder does (maxCommandBytes).
	cmdLen int
	// inQuote and quoteEsc follow quoted strings in command lines
	// (quotedLF).
	inQuote, quoteEsc bool
	quotePrev         byte

	// STARTTLS done by the guard (starttls.go).
	up        *tlsUp       // nil: imapserver's STARTTLS, if any
	stage     atomic.Int32 // stagePlain … stageGone
	after     []byte       // bytes held back (holdRest), and whether
	haveAfter bool         // there are any
	upNext    bool         // its OK is being written: TLS after it
	next      *guardConn   // the connection's guard once in TLS
	greeting  bool         // the greeting is still to be dropped
}

// sortMarker returns the connection's SORT marker, made on first use.
func (c *guardConn) sortMarker() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.marker0()
}

func (c *guardConn) marker0() string {
	if c.marker == "" {
		c.marker = newSortMarker()
	}
	return c.marker
}

// offersSort reports whether SORT commands are rewritten (and so
// advertised) on this connection now; c.mu is held.
func (c *guardConn) offersSort() bool { return !c.off && !c.cut }

// sortAnswered tells the guard that the SEARCH being answered now is a
// rewritten SORT.
func (c *guardConn) sortAnswered() {
	c.mu.Lock()
	c.sortNext = true
	c.mu.Unlock()
}

// Read returns the client's bytes less the empty command lines.
func (c *guardConn) Read(p []byte) (int, error) {
	for c.poff == len(c.pend) {
		switch c.stage.Load() {
		case stageUpgrade:
			return 0, c.upgrade()
		case stageHandOver, stageEnded, stageGone:
			return 0, io.EOF
		}
		c.mu.Lock()
		if c.litIdx != 0 && c.answered >= c.litIdx {
			// imapserver answered the command without reading all
			// of it (a bad argument before a literal, or in one):
			// what is left of the command, literals included, is
			// dropped, not run as commands.
			c.orphan = true
		}
		if c.haveAfter {
			// Behind a STARTTLS that was refused, or a literal's
			// marker line: read on as the client sent it.
			rest := c.after
			c.after, c.haveAfter = nil, false
			c.pend, c.poff = c.filter(c.pend[:0], rest), 0
			c.mu.Unlock()
			continue
		}
		cut, inject := c.cut, c.injectArmed
		c.injectArmed = false
		c.mu.Unlock()
		if cut {
			return 0, io.EOF
		}
		if inject && len(p) >= 2 {
			c.injected++
			return copy(p, "\r\n"), nil
		}
		n, err := c.Conn.Read(c.raw[:])
		c.mu.Lock()
		c.readFailed = c.readFailed || err != nil
		c.pend, c.poff = c.filter(c.pend[:0], c.raw[:n]), 0
		if err != nil && c.heldCR {
			c.pend = append(c.pend, '\r')
			c.heldCR = false
		}
		if err != nil && c.holding {
			c.pend = append(c.pend, c.hold...)
			c.holding, c.hold = false, c.hold[:0]
		}
		c.mu.Unlock()
		if err != nil {
			if len(c.pend) == 0 {
				return 0, err
			}
			// The error comes again on the next Read.
			break
		}
	}
	n := copy(p, c.pend[c.poff:])
	c.poff += n
	c.mu.Lock()
	if c.injectWant && c.poff >= c.injectAt {
		c.injectWant, c.injectArmed = false, true
	}
	c.mu.Unlock()
	return n, nil
}

// filter appends to dst the bytes of src to pass on; c.mu is held.
func (c *guardConn) filter(dst, src []byte) []byte {
	for i, b := range src {
		if c.appendTail != 0 && !c.cut && !c.off && !c.orphan &&
			!c.appendLineEnd(b) {
			// imapserver has stored the message and, finding more
			// than a line end after it, answers nothing at all
			// (beta.8's handleAppend): replies would no longer match
			// commands, so the connection ends here.
			c.cut = true
		}
		switch {
		case c.cut:
			return dst
		case c.off:
			c.tlsRaw = c.tlsIdx != 0
			return c.flushCR(dst, src[i:])
		case c.in.lit > 0:
			if !c.orphan {
				dst = append(dst, b)
			}
			c.in.lit--
			if c.in.lit == 0 && c.names[c.litIdx] == "APPEND" {
				c.appendTail = 1 // only a line end may follow
			}
			if c.in.lit == 0 && c.litIdx != 0 && !c.orphan {
				// The literal is in: hold what follows until
				// imapserver comes back for it (see Read).
				c.holdRest(src[i+1:])
				return dst
			}
			continue
		case c.awaitCont:
			// Literal data before the server's "+": we no longer
			// know where commands start.
			c.off = true
			c.injectWant, c.injectArmed = false, false
			return c.flushCR(dst, src[i:])
		case !c.in.mid && c.waitIdx == 0:
			if b == '\n' {
				c.heldCR = false // the empty line is dropped
				continue
			}
			if b == '\r' && !c.heldCR {
				c.heldCR = true
				continue
			}
		}
		if c.heldCR {
			// A CR at a command start, and no LF: a bare CR, which
			// imapserver may take for a line end (see quotedLF).
			c.heldCR = false
			c.cut = true
			return dst
		}
		if !c.in.mid && c.waitIdx == 0 {
			c.cmdLen = 0
			c.sent++ // a command starts
			c.cmdIdx = c.sent
			c.holding = c.offersSort() // is it SORT?
		}
		if c.holding {
			c.hold = append(c.hold, b)
		} else if !c.orphan {
			dst = append(dst, b)
		}
		if c.unfollowable(b) {
			c.cut = true
			return dst
		}
		ended := c.in.feed(b)
		if c.holding {
			dst = c.decideSort(dst, ended)
		}
		if ended {
			c.clientLineEnd()
			if c.injectWant {
				c.injectAt = len(dst)
			}
			if c.holdLine {
				c.holdLine = false
				c.holdRest(src[i+1:])
				return dst
			}
		}
	}
	return dst
}

// decideSort passes the held start of a command line on, rewritten if
// it is a SORT or an ID (idwire.go), once that is known; c.mu is held.
func (c *guardConn) decideSort(dst []byte, ended bool) []byte {
	switch noop, v, origin := parseIDCommand(c.hold, ended); v {
	case sortMore:
		return dst
	case sortYes:
		if origin.IsValid() {
			c.origin = origin
		}
		c.holding, c.hold = false, c.hold[:0]
		return append(dst, noop...)
	}
	out, v := parseSortHead(c.hold, c.marker0())
	if v == sortMore && !ended {
		return dst
	}
	if v == sortYes {
		dst = append(dst, out...)
	} else {
		dst = append(dst, c.hold...)
	}
	c.holding, c.hold = false, c.hold[:0]
	return dst
}

// holdRest keeps rest, the client's bytes behind a point where
// imapserver must answer or read on before the guard can tell what
// they are (see holdLine); Read filters them when imapserver reads
// again; c.mu is held.
func (c *guardConn) holdRest(rest []byte) {
	c.haveAfter = true
	c.after = append([]byte(nil), rest...)
}

// unfollowable takes the next byte of a line outside literals and
// reports whether imapserver would read the line otherwise than the
// guard, which must then end the connection: a line that is not a
// command (DONE, a SASL response) over maxWaitLine, which
// imapserver's 4096-byte line reader would split and run the rest of;
// a command over maxCommandBytes, where imapserver's decoder gives up
// and starts the next command in mid-line; a line feed in a quoted
// string or a bare CR (quotedLF). c.mu is held.
func (c *guardConn) unfollowable(b byte) bool {
	if c.waitIdx != 0 {
		if c.waitLen++; c.waitLen > maxWaitLine {
			return true
		}
	} else if c.cmdLen++; c.cmdLen > maxCommandBytes {
		return true
	}
	if b == '\n' {
		c.waitLen = 0
	}
	return c.quotedLF(b)
}

// quotedLF follows quoted strings in command lines and reports a line
// feed inside one. imapserver reads a quoted string only where its
// grammar has a string, which always follows SP or '('; a quote
// anywhere else is a syntax error that stops its parsing, after which
// it reads to the line feed. Lines that are not commands (a SASL
// response, DONE) hold no quoted strings.
func (c *guardConn) quotedLF(b byte) bool {
	prev := c.quotePrev
	c.quotePrev = b
	if c.waitIdx != 0 {
		c.inQuote, c.quoteEsc = false, false
		return false
	}
	if b == '\n' && c.inQuote {
		return true // escaped or not: imapserver's Quoted reads on
	}
	if prev == '\r' && b != '\n' {
		// A bare CR: after an error imapserver's DiscardLine stops at
		// a CR as at an LF, and the next command starts behind it.
		// In a quoted string too: the guard's idea of one may be a
		// quote imapserver never reads as one.
		return true
	}
	switch {
	case c.quoteEsc:
		c.quoteEsc = false
	case c.inQuote && b == '\\':
		c.quoteEsc = true
	case c.inQuote && b == '"':
		c.inQuote = false
	case b == '"' && (prev == ' ' || prev == '('):
		c.inQuote = true
	}
	if b == '\n' {
		c.inQuote, c.quoteEsc = false, false
	}
	return false
}

// appendLineEnd takes the next byte after an APPEND's literal and
// reports whether it can still be the line end imapserver's CRLF
// accepts there: an optional SP, an optional CR, then LF.
func (c *guardConn) appendLineEnd(b byte) bool {
	switch {
	case b == '\n':
		c.appendTail = 0
	case b == ' ' && c.appendTail == 1:
		c.appendTail = 2
	case b == '\r' && c.appendTail < 3:
		c.appendTail = 3
	default:
		c.appendTail = 0
		return false
	}
	return true
}

// flushCR appends a held CR and then rest to dst.
func (c *guardConn) flushCR(dst, rest []byte) []byte {
	if c.heldCR {
		c.heldCR = false
		dst = append(dst, '\r')
	}
	return append(dst, rest...)
}

// clientLineEnd handles the end of a line from the client.
func (c *guardConn) clientLineEnd() {
	if _, ok := c.names[c.cmdIdx]; !ok && c.waitIdx == 0 &&
		c.cmdIdx > c.answered {
		if c.badCommandStart() {
			// The guard could not pair replies with commands from
			// here on: the connection ends.
			c.cut = true
			return
		}
		if c.names == nil {
			c.names = map[uint64]string{}
		}
		name := c.commandName()
		if name == "UID" {
			name += " " + upper(c.in.token(2))
		}
		c.names[c.cmdIdx] = name
	}
	size, nonSync, ok, bad := c.in.literal()
	switch {
	case (ok || bad) && nonSync && (bad || size > maxNonSync):
		// imapserver refuses it but would run its bytes as
		// commands: let the line through for the BAD, then end.
		c.cut, c.cutLiteral = true, true
		return
	case bad:
		c.off = true
		return
	case ok && nonSync:
		c.in.lit = size
		c.in.tail = c.in.tail[:0] // the line goes on after the literal
		if !c.orphan {
			c.litIdx, c.holdLine = c.cmdIdx, true
		}
		return
	case ok && c.orphan:
		// A synchronising literal in a command already answered: no
		// "+" will come, and where the client goes on is unknown.
		c.cut = true
		return
	case ok:
		c.awaitCont, c.contSize, c.awaitIdx = true, size, c.cmdIdx
		c.in.tail = c.in.tail[:0]
		// imapserver refuses a synchronising literal over 4096 bytes
		// outside APPEND, sometimes only after reading on for the
		// end of a line that the client, waiting for "+", never
		// sends; Read then ends it (see injectWant).
		c.injectWant = size > maxNonSync && c.commandName() != "APPEND"
		return
	}
	c.in.mid = false
	c.litIdx = 0
	if c.orphan {
		c.orphan = false // the answered command ends here
		return
	}
	if c.waitIdx != 0 {
		// A line that is not a command: DONE or a SASL response.
		// imapserver answers it, or sends another "+", before reading
		// on; its answer says whether the next line is a command (it
		// ends IDLE with BAD on any line but DONE).
		c.holdLine = true
		if c.waitIdle && upper(c.in.token(0)) == "DONE" {
			c.waitIdx, c.waitIdle = 0, false // commands may follow
		}
		return
	}
	switch c.commandName() {
	case "STARTTLS":
		switch {
		case c.up != nil: // ours to do, if imapserver accepts it
			c.tlsIdx, c.holdLine = c.cmdIdx, true
		case !c.tls: // above TLS, imapserver refuses it
			c.off, c.tlsIdx, c.tlsRaw = true, c.cmdIdx, false
		}
	case "IDLE":
		c.waitIdx, c.waitIdle, c.holdLine = c.cmdIdx, true, true
	case "AUTHENTICATE":
		if c.in.token(3) == "" { // no initial response: one will follow
			c.waitIdx, c.holdLine = c.cmdIdx, true
		}
	}
}

// badCommandStart reports whether the first line of a command, just
// ended, starts with what the guard cannot follow: a tag holding '+',
// which imapserver takes (RFC 3501 does not) and whose tagged reply
// then looks like a continuation request ("+ OK ..."), so the guard
// would count one reply short for good; or a tag over maxTag bytes, or
// a command name running past maxHead, so that the guard would not
// see which command it is (an APPEND, IDLE, AUTHENTICATE, STARTTLS).
func (c *guardConn) badCommandStart() bool {
	h := c.in.head
	sp := bytes.IndexByte(h, ' ')
	if sp < 0 {
		return len(h) > maxTag
	}
	if sp > maxTag || bytes.IndexByte(h[:sp], '+') >= 0 {
		return true
	}
	return bytes.IndexAny(h[sp+1:], " \r\n") < 0 && len(h) == maxHead
}

// commandName is the command of the line just ended, "" if it has none.
func (c *guardConn) commandName() string { return upper(c.in.token(1)) }

// upper upper-cases a command word as imapserver does, with
// strings.ToUpper: "ſtarttls" (U+017F) is STARTTLS to it, and so to us.
func upper(s string) string { return strings.ToUpper(s) }

// Write passes the server's bytes on, watching for continuation
// requests and tagged replies, and rewriting what answers a SORT.
func (c *guardConn) Write(p []byte) (int, error) {
	if c.stage.Load() != stagePlain {
		// imapserver's TLS records after a STARTTLS that the guard
		// does itself: the client never hears them (starttls.go).
		return len(p), nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	all := len(p)
	if c.greeting {
		p = c.dropGreeting(p)
	}
	c.mu.Lock()
	out := c.transform(c.wbuf[:0], p)
	up := c.upNext
	c.upNext = false
	c.mu.Unlock()
	if cap(out) <= 64<<10 {
		c.wbuf = out[:0]
	}
	if len(out) > 0 {
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
	}
	if up {
		c.stage.Store(stageUpgrade)
	}
	return all, nil
}

// transform follows what the server writes and appends to dst what to
// send for p; c.mu is held.
func (c *guardConn) transform(dst, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		if c.outOff {
			return append(dst, p[i:]...)
		}
		if c.out.lit > 0 {
			n := int(min(c.out.lit, int64(len(p)-i)))
			dst = append(dst, p[i:i+n]...)
			c.out.lit -= int64(n)
			i += n - 1
			continue
		}
		b := p[i]
		if !c.out.mid {
			c.outWord = false
			c.outHolding = c.sortNext || c.sortDone || c.offersSort() ||
				c.cut
		}
		end := c.out.feed(b)
		if !c.off && !c.outWord && (b == ' ' || end) {
			c.outWord = true
			c.serverWord(c.out.token(0))
		}
		if c.outHolding {
			dst = c.decideOut(dst, b, end)
		} else {
			dst = append(dst, b)
		}
		if end {
			c.serverLineEnd()
		}
	}
	return dst
}

// decideOut holds b, the next byte of a server line's start, and
// passes the held start on, rewritten or not, once that is known.
func (c *guardConn) decideOut(dst []byte, b byte, end bool) []byte {
	c.outHold = append(c.outHold, b)
	out, done, kind := rewriteOutHead(c.outHold, c.sortNext, c.sortDone,
		c.offersSort(), c.names[c.answered+1] == "ID")
	if !done && !end {
		return dst
	}
	switch kind {
	case outSort:
		c.sortNext, c.sortDone = false, true
	case outSortOK:
		c.sortDone = false
	case outBadArgs:
		name := c.names[c.answered+1]
		switch {
		case c.readFailed:
			// The connection failed under imapserver (a reset, a
			// shutdown): its words stand, for no one to read.
			out = nil
		case c.cut:
			out = cutLine(out, c.cutLiteral)
			name = "" // the command is not known to be what failed
		case mailboxOnly[name]:
			out = badNameLine(out)
		}
		if c.badArgs != nil && !c.readFailed {
			c.badArgs(name, c.cut, c.cutLiteral)
		}
	}
	if out == nil {
		out = c.outHold
	}
	dst = append(dst, out...)
	c.outHolding, c.outHold = false, c.outHold[:0]
	return dst
}

// serverLineEnd handles the end of a line the server wrote.
func (c *guardConn) serverLineEnd() {
	if size, _, ok, bad := c.out.literal(); bad {
		c.off = true
	} else if ok {
		c.out.lit = size
		c.out.tail = c.out.tail[:0]
		return
	}
	if w := c.out.token(0); w != "*" && w != "+" && w != "" {
		c.taggedReply(upper(c.out.token(1)))
	}
	c.out.mid = false
}

// taggedReply handles the end of the server's tagged reply to the
// oldest command not yet answered; status is its OK, NO or BAD.
func (c *guardConn) taggedReply(status string) {
	c.answered++
	n := c.answered
	delete(c.names, n)
	c.sortNext, c.sortDone = false, false
	if c.awaitCont && n == c.awaitIdx {
		// The literal was refused; the command is over.
		c.awaitCont, c.injectWant, c.injectArmed = false, false, false
		c.in.mid = false
	}
	if n == c.waitIdx {
		c.waitIdx, c.waitIdle = 0, false
	}
	if c.tlsIdx != 0 && n == c.tlsIdx {
		if status == "OK" && c.up != nil {
			c.upNext = true // our TLS after this line (starttls.go)
		} else if status == "OK" {
			c.outOff = true // TLS from here on
		} else if !c.tlsRaw {
			c.off = false // refused, and nothing passed unguarded
		}
		c.tlsIdx = 0
	}
}

// serverWord handles the first word of a line the server writes.
func (c *guardConn) serverWord(w string) {
	if w == "+" && c.awaitCont {
		c.awaitCont, c.injectWant, c.injectArmed = false, false, false
		c.in.lit = c.contSize
		c.litIdx = c.awaitIdx
	}
}
