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
// mixed. What it writes does pass through our trackedConn, though, and
// as long as the connection is in plain text the replies can be read
// there: replyTap does, so that each of go-smtp's refusals is logged,
// counted in Stats and counted toward maxRefusals like ours.
//
// TODO: after STARTTLS, and on implicit TLS, trackedConn sees only
// ciphertext, so go-smtp's own refusals there are neither logged nor
// counted (go-smtp still closes after its fourth syntax error). Seeing
// them needs a reply hook in go-smtp, or wrapping go-smtp's tls.Conn,
// which it creates itself.

// maxReplyLine bounds the part of a reply line replyTap keeps; longer
// lines are cut (their code and the start of their text are enough).
const maxReplyLine = 512

// replyTap reads the replies written on a plain-text connection, line
// by line. It runs in go-smtp's connection goroutine, the only writer.
type replyTap struct {
	greeted bool   // the banner has been written
	line    []byte // the reply line so far
}

// tapEvent is what a reply line tells trackedConn.
type tapEvent int

const (
	tapNone    tapEvent = iota
	tapTLS              // STARTTLS accepted: what follows is TLS
	tapRefusal          // a refusal of go-smtp's own
)

// write takes the next bytes written and calls f with each complete
// reply line that is not ours and the event it is.
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
// starts the TLS handshake on the same connection.
func (t *replyTap) classify(line string) tapEvent {
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
	case line[0] != '4' && line[0] != '5':
		return tapNone
	case ownReplyLines()[line]:
		return tapNone // ours: logged and counted where it was made
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
