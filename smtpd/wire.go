package smtpd

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"
)

// go-smtp answers some commands itself, before or instead of our
// Session (see replies.go): SIZE= over the limit, unknown commands,
// syntax errors, commands out of order, over-long command lines. v0.26.0
// has no hook for them: ErrorLog gets only internal errors, and Debug
// is one writer for every connection of a server, with both directions
// mixed. What it writes does pass through our trackedConn, though, in
// plain text (the TLS is beneath it, tlsup.go), and the replies can be
// read there: replyTap does, so that each of go-smtp's refusals is
// logged, counted in Stats and counted toward maxRefusals like ours.

// maxReplyLine bounds the part of a reply line replyTap keeps; longer
// lines are cut (their code and the start of their text are enough).
const maxReplyLine = 512

// replyTap reads the replies written on a connection, line
// by line. It runs in go-smtp's connection goroutine, the only writer.
type replyTap struct {
	greeted bool   // the banner has been written
	last    int    // the code of the last reply written (lineCut)
	line    []byte // the reply line so far
}

// tapEvent is what a reply line tells trackedConn.
type tapEvent int

const (
	tapNone    tapEvent = iota
	tapTLS              // STARTTLS accepted: what follows is TLS
	tapData             // 354: the DATA body follows
	tapReply            // any other reply (its last line)
	tapRefusal          // a refusal of go-smtp's own
)

// write takes the next bytes written and calls f with each complete
// reply line that means something, and the event it is.
func (t *replyTap) write(p []byte, f func(line string, ev tapEvent)) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxReplyLine - len(t.line); room > 0 {
			t.line = append(t.line, chunk[:min(room, len(chunk))]...)
		}
		if i < 0 {
			return
		}
		p = p[i+1:]
		line := string(bytes.TrimSuffix(t.line, []byte("\r")))
		t.line = t.line[:0]
		if ev := t.classify(line); ev != tapNone {
			f(line, ev)
		}
	}
}

// classify says what one reply line means. go-smtp v0.26.0 writes 220
// twice at most: its banner, and its answer to STARTTLS, after which it
// starts the TLS handshake on the same connection; and 354 only to
// DATA, before it reads the body.
func (t *replyTap) classify(line string) tapEvent {
	if len(line) >= 4 && line[3] == ' ' {
		t.last, _ = strconv.Atoi(line[:3])
	}
	if !t.greeted {
		t.greeted = true
		return tapNone
	}
	if len(line) < 4 || line[3] != ' ' {
		return tapNone // a continuation line, or not a reply
	}
	switch {
	case line[:3] == "220":
		return tapTLS
	case line[:3] == "354":
		return tapData
	case line[0] != '4' && line[0] != '5':
		return tapReply
	case ownReplyLines()[line]:
		return tapReply // ours: logged and counted where it was made
	}
	return tapRefusal
}

// goSMTPReason names the reason of one of go-smtp's refusals for Stats,
// from its codes: the conditions that have a reason of ours share it.
func goSMTPReason(line string) string {
	code, _ := strconv.Atoi(line[:3])
	enh, _, _ := strings.Cut(line[4:], " ")
	switch {
	case code == 552 && enh == "5.3.4":
		return "too_big"
	case code == 500 && enh == "5.4.0":
		return "line_too_long"
	case code == 452 && enh == "4.5.3":
		return "too_many_recipients"
	case code == 421 && enh == "4.4.2":
		return "timeout"
	case code == 421 && enh == "4.4.0":
		return "connection_error"
	case code == 421:
		return "other" // a panic recovered: go-smtp logs it too
	}
	return "bad_command"
}

// splitReply splits a reply line into its codes ("500 5.5.2") and its
// text.
func splitReply(line string) (code, text string) {
	code, text = line[:3], line[4:]
	if enh, rest, _ := strings.Cut(text, " "); isEnhanced(enh) {
		code, text = code+" "+enh, rest
	}
	return code, text
}

// isEnhanced reports whether s looks like an enhanced status code.
func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}

// replyLine formats r as the line go-smtp writes for it, CRLF omitted.
func replyLine(r *smtp.SMTPError) string {
	return codeString(r) + " " + r.Message
}

// ownReplyLines is the set of the reply lines of ours that refuse
// something (allReplies, as go-smtp writes them).
var ownReplyLines = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, r := range allReplies {
		m[replyLine(r)] = true
	}
	return m
})

// SMTP smuggling through go-smtp's dot reader. In a DATA body, go-smtp
// v0.26.0 drops a dot at the start of a line together with a CR after
// it, whatever follows: "\r\n.\rX" reaches our Session as "\r\nX", and
// "\r\n.\r\r\n" as "\r\n\r\n", so the bare CR that RFC 5321 §2.3.8
// forbids, and that the issue wants refused around a dot, never
// reaches bodyChecker. (TestDotReader pins what go-smtp passes on.)
//
// dotGuard runs on the bytes, in plain text, before go-smtp reads them. It
// is armed when go-smtp writes 354 (a client waits for it before
// sending the body, RFC 2920 §3.1), follows go-smtp's reader through
// the body, and is done at the end of data, or at the latest at the
// reply to it, so that BDAT chunks and commands pass untouched. Where
// go-smtp would drop ".\r" before a byte X other than LF, it makes X a
// CR, and an LF right after X a space: go-smtp then hands on a bare CR
// ("\r" and a byte that is not LF), and the message is refused with 550
// 5.6.0 like every other bare CR. The marks keep the stream's length
// and where DATA ends, since go-smtp's reader is in its "middle of
// line" state after X and after the space as it would have been; and a
// body that can be accepted never holds the sequence. FuzzDotGuard
// checks all three against a model of the reader.
//
// A client that sends the body before the 354 it must wait for is
// guarded all the same: go-smtp is given nothing past a DATA line until
// it has answered it (lineCut), so the guard is armed before the body
// is read.
type dotGuard struct {
	armed  bool     // in a DATA body
	state  dotState // go-smtp's reader's state, while armed
	marked bool     // the last byte was a mark: an LF next is one too
}

// dotState mirrors the states of go-smtp's DATA reader.
type dotState uint8

const (
	dotBegin dotState = iota // at the start of a line
	dotDot                   // after a dot there (dropped)
	dotDotCR                 // after the dot and a CR (both dropped)
	dotCR                    // after a CR
	dotMid                   // in the middle of a line
	dotEnd                   // past the end of data
)

// arm starts guarding a DATA body: the next byte read is its first.
func (g *dotGuard) arm() { *g = dotGuard{armed: true} }

// disarm stops guarding: go-smtp has replied to the body, so it was
// read to its end. (A client that sent the body before the 354 may
// have had part of it read unguarded; then the guard's idea of where
// lines start may be wrong, and this bounds it to the body.)
func (g *dotGuard) disarm() { *g = dotGuard{} }

// scan marks p, the next bytes read, in place.
func (g *dotGuard) scan(p []byte) {
	for i := 0; i < len(p) && g.armed; i++ {
		if g.marked && p[i] == '\n' {
			p[i] = ' '
		}
		g.marked = false
		if g.state == dotDotCR && p[i] != '\n' {
			p[i], g.marked = '\r', true
		}
		g.state = nextDotState(g.state, p[i])
		g.armed = g.state != dotEnd
	}
}

// nextDotState is the state of go-smtp's DATA reader after c.
func nextDotState(s dotState, c byte) dotState {
	switch {
	case s == dotBegin && c == '.':
		return dotDot
	case s == dotDot && c == '\r':
		return dotDotCR
	case s == dotDotCR && c == '\n':
		return dotEnd
	case s == dotCR && c == '\n':
		return dotBegin
	case c == '\r' && (s == dotBegin || s == dotMid):
		return dotCR
	}
	return dotMid
}

// lineCut follows the client's stream as go-smtp reads it: command
// lines, DATA bodies, BDAT chunks and SASL responses, to find the end
// of each command line that go-smtp takes for STARTTLS (any line that
// starts so once upper-cased with strings.ToUpper, which also makes
// "ſtarttls" of U+017F), MAIL, DATA or AUTH. Bytes past such a line
// are held back until go-smtp has answered it (trackedConn.Read): for
// STARTTLS, so that what is pipelined behind it is dropped (tlsup.go);
// for MAIL, so that when go-smtp answers a MAIL the line it answers is
// the last one lineCut saw (fixSizeReply); for DATA, so that dotGuard
// is armed by the 354 before the body is read; for DATA and AUTH, so
// that their answer (354, 334) tells lineCut whether a body or a SASL
// response follows, which are not commands. A body line or a SASL
// response is never taken for a command: a "BDAT 5" line in a body
// must not make lineCut skip five bytes, nor a "STARTTLS" line in one
// hide the next command.
//
// A body ends where go-smtp's DATA reader ends it (nextDotState, shared
// with dotGuard). A BDAT chunk is not lines: after a BDAT command that
// go-smtp will take a chunk for (it parses the size, and then reads the
// chunk even when it refuses the command), lineCut passes that many
// bytes without looking, and a line starts after them. A SASL response
// line is cut after too, since the next answer (334 or not) says what
// the following line is.
type lineCut struct {
	mode lineMode
	wait lineWait // an answer decides the mode (resume)
	head [32]byte // the start of the current line
	n    int      // bytes of it in head
	kind lineKind // what the current line is, once n >= 4
	keep []byte   // the current line, when it is MAIL or BDAT
	skip int64    // BDAT chunk bytes still to pass
	dot  dotState // go-smtp's DATA reader, in a body
	// hugeSize: the last MAIL line's SIZE= is a number too large
	// for 32 bits (see fixSizeReply).
	hugeSize bool
	// lost: a BDAT line too long to read its size from; the stream
	// can no longer be followed, and the connection is ended.
	lost bool
}

// lineMode is what go-smtp reads next.
type lineMode uint8

const (
	modeCommand lineMode = iota
	modeBody             // a DATA body, up to its end
	modeSASL             // a SASL response line
)

// lineWait is what an answer of go-smtp's will decide.
type lineWait uint8

const (
	waitNone lineWait = iota
	waitData          // 354: a body follows
	waitSASL          // 334: a SASL response follows
)

// maxKeptLine bounds a MAIL or BDAT line kept whole. go-smtp refuses a
// line over MaxLineLength, but its count lets a little more through
// after a BDAT chunk or at the very start; twice the limit is past any
// line it takes.
const maxKeptLine = 2 * MaxLineLength

// lineKind is what a command line starts with, as far as lineCut cares.
type lineKind uint8

const (
	lineOther lineKind = iota
	lineMail
	lineData
	lineBdat
	lineAuth
)

// kindOf names a line from its first four bytes, as go-smtp's parseCmd
// does (ASCII only: four bytes of other scripts never upper-case to
// these words).
func kindOf(h []byte) lineKind {
	switch {
	case bytes.EqualFold(h, []byte("MAIL")):
		return lineMail
	case bytes.EqualFold(h, []byte("DATA")):
		return lineData
	case bytes.EqualFold(h, []byte("BDAT")):
		return lineBdat
	case bytes.EqualFold(h, []byte("AUTH")):
		return lineAuth
	}
	return lineOther
}

// resume is told the code of the last reply go-smtp wrote, before each
// read: after a cut at DATA, AUTH or a SASL response that is go-smtp's
// answer to it, which decides what the next bytes are.
func (l *lineCut) resume(last int) {
	switch l.wait {
	case waitData:
		if last == 354 {
			l.mode, l.dot = modeBody, dotBegin
		}
	case waitSASL:
		l.mode = modeCommand
		if last == 334 {
			l.mode = modeSASL
		}
	}
	l.wait = waitNone
}

// next takes the next bytes of the stream and returns how many of them
// to pass on now: up to the end of the first line that must be
// answered first (see lineCut), or all.
func (l *lineCut) next(p []byte) int {
	i := 0
	for i < len(p) {
		if l.wait != waitNone {
			return i
		}
		if l.skip > 0 {
			k := int(min(l.skip, int64(len(p)-i)))
			i += k
			l.skip -= int64(k)
			continue
		}
		if l.mode == modeBody {
			for i < len(p) && l.dot != dotEnd {
				l.dot = nextDotState(l.dot, p[i])
				i++
			}
			if l.dot == dotEnd {
				l.mode = modeCommand // go-smtp reads commands again
			}
			continue
		}
		filled := i
		for l.n < len(l.head) && i < len(p) && p[i] != '\n' {
			l.head[l.n] = p[i]
			l.n++
			i++
			if l.n == 4 && l.mode == modeCommand {
				l.kind = kindOf(l.head[:4])
			}
		}
		keep := l.kind == lineMail || l.kind == lineBdat
		switch {
		case keep && len(l.keep) == 0:
			l.keep = append(l.keep, l.head[:l.n]...)
		case keep:
			l.keep = append(l.keep, p[filled:i]...)
		}
		start := i
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			i = len(p)
		} else {
			i += j + 1
		}
		if keep && len(l.keep) <= maxKeptLine {
			l.keep = append(l.keep, p[start:i]...)
		}
		if j < 0 {
			break
		}
		if l.lineEnd() {
			return i
		}
	}
	return len(p)
}

// lineEnd takes the end of the current line, and reports whether go-smtp
// must answer it before it is given more.
func (l *lineCut) lineEnd() (cut bool) {
	defer func() { l.keep, l.n, l.kind = l.keep[:0], 0, lineOther }()
	if l.mode == modeSASL {
		l.wait = waitSASL
		return true
	}
	switch l.kind {
	case lineMail:
		l.hugeSize = hugeSize(l.keep)
		return true
	case lineBdat:
		if len(l.keep) > maxKeptLine {
			l.lost = true
		} else {
			l.skip = bdatChunk(l.keep)
		}
	case lineData:
		l.wait = waitData
	case lineAuth:
		l.wait = waitSASL
	}
	return l.wait != waitNone || startsSTARTTLS(l.head[:l.n])
}

// startsSTARTTLS reports whether a line starting with h is STARTTLS to
// go-smtp: strings.HasPrefix(strings.ToUpper(line), "STARTTLS").
func startsSTARTTLS(h []byte) bool {
	if len(h) == 0 || h[0] != 's' && h[0] != 'S' && h[0] != 0xC5 {
		return false // 0xC5 starts U+017F, which upper-cases to S
	}
	return bytes.HasPrefix(bytes.ToUpper(h), []byte("STARTTLS"))
}

// bdatChunk returns the size of the chunk that follows a BDAT line, as
// go-smtp v0.26.0 reads it (parseCmd, then handleBdat: one or two
// arguments, the second LAST, the size a 32-bit number); 0 when go-smtp
// refuses the command before its chunk, and reads none.
func bdatChunk(line []byte) int64 {
	s := strings.TrimRight(string(line), "\r\n")
	if len(s) < 6 || s[4] != ' ' {
		return 0
	}
	args := strings.Fields(s[5:])
	if len(args) == 0 || len(args) > 2 ||
		len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
		return 0
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return 0
	}
	return int64(n)
}

// hugeSize reports whether a MAIL line's SIZE= parameter is a number
// that does not fit in 32 bits: go-smtp v0.26.0 parses it so, and
// answers 501 instead of the 552 that RFC 1870 §6.1 asks for a size
// over the limit. The parameters are read as go-smtp reads them: words
// split at spaces, the key before '=' in any case, the last SIZE wins.
func hugeSize(line []byte) bool {
	if len(line) > maxKeptLine {
		return false // not all of it kept: go-smtp refuses it anyway
	}
	huge := false
	for _, w := range strings.Fields(string(line)) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || !strings.EqualFold(k, "SIZE") {
			continue
		}
		huge = v != "" && strings.Trim(v, "0123456789") == "" &&
			(len(v) > 10 || v > "4294967295" && len(v) == 10)
	}
	return huge
}

// fixSizeReply turns go-smtp's 501 for a SIZE= too large to parse into
// the 552 5.3.4 it gives a size over the limit, when the MAIL it
// answers (the last one read; see lineCut) has such a number. go-smtp
// writes a reply whole, so the line is whole in p.
func (c *trackedConn) fixSizeReply(p []byte) []byte {
	if !c.cut.hugeSize || !bytes.Contains(p, sizeParse501) {
		return p
	}
	c.cut.hugeSize = false
	return bytes.Replace(p, sizeParse501, sizeTooBig552, 1)
}

var (
	sizeParse501  = []byte("501 5.5.4 Unable to parse SIZE as an integer\r\n")
	sizeTooBig552 = []byte("552 5.3.4 Max message size exceeded\r\n")
)
