package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
)

// go-imap beta.8 checks some arguments only after parsing a command,
// with helpers that fail with plain errors rather than syntax errors:
// a sequence set holding 0 or a number over 32 bits (FETCH 0, STORE,
// COPY, SEARCH UID 0), an APPEND or SEARCH date that does not exist
// ("31-Foo-2020", "31-Feb-2020"), a mailbox name that is not valid
// modified UTF-7 ("&Jjo"), an unknown SEARCH key (read as a set). For
// a plain error imapserver answers "NO [SERVERBUG] Internal server
// error", as if the server had failed, and logs it at ERROR without the
// connection. These are the client's mistakes: RFC 3501 §7.1.5 wants
// BAD, and an operator's ERROR lines should mean server trouble.
//
// Our Session never returns a plain error (session.fail wraps
// everything in an imap.Error with its own text), so that exact reply
// comes only from imapserver's own checks. The guard rewrites it on the
// wire as "BAD [CLIENTBUG] Invalid arguments" (sortwire.go), or, for a
// command whose only argument is a mailbox name, where the name is
// what failed (not valid modified UTF-7, or control characters in it),
// as "NO [CANNOT] Invalid mailbox name", as for the names store
// refuses; and it has the session log it with the connection's fields.
// imapserver's own line for it is logged at INFO (goImapLog).
//
// TODO: the reply does not say which argument; imapserver's error text
// has it but goes only to its log, which cannot tell connections apart.
const (
	goImapServerBug = "NO [SERVERBUG] Internal server error\r"
	badArgsReply    = "BAD [CLIENTBUG] Invalid arguments\r"
)

// mailboxOnly are the commands whose arguments are mailbox names (and
// patterns) alone.
var mailboxOnly = map[string]bool{"CREATE": true, "DELETE": true,
	"RENAME": true, "SELECT": true, "EXAMINE": true, "STATUS": true,
	"SUBSCRIBE": true, "UNSUBSCRIBE": true, "LIST": true, "LSUB": true}

// badNameLine turns a rewritten "tag BAD [CLIENTBUG] Invalid
// arguments" line start into the refusal of a mailbox name.
func badNameLine(line []byte) []byte {
	return bytes.Replace(line, []byte(badArgsReply),
		[]byte("NO [CANNOT] Invalid mailbox name\r"), 1)
}

// cutLine turns a rewritten "tag BAD [CLIENTBUG] Invalid arguments"
// line start into the refusal of a command after which the guard ends
// the connection: a non-synchronising literal over LITERAL-'s limit
// (literal), or input it cannot follow (guard.go: a bare CR, a tag
// with '+', a command over 48 KiB, ...).
func cutLine(line []byte, literal bool) []byte {
	text := "BAD [CLIENTBUG] Command not accepted; closing the connection\r"
	if literal {
		text = "BAD [CLIENTBUG] Non-synchronizing literals are limited " +
			"to 4096 bytes\r"
	}
	return bytes.Replace(line, []byte(badArgsReply), []byte(text), 1)
}

// badArguments logs a command refused so; cut means the guard ends the
// connection after it, literal that it is for a non-synchronising
// literal over the limit.
func (s *session) badArguments(command string, cut, literal bool) {
	reason, reply := "invalid arguments", "BAD"
	switch {
	case literal:
		reason = "literal too large"
	case cut:
		reason = "input the server cannot follow"
	case mailboxOnly[command]:
		reason, reply = "invalid mailbox name", "NO"
	}
	s.logger().Info("imap command refused", "command", command,
		"reason", reason, "reply", reply)
}

// goImapLog takes imapserver's log lines, which carry no connection.
// Its "handling X command" lines are the argument errors above (our
// Session's own failures never reach it, see session.fail) or a
// connection lost in the middle of a command; its "failed to read
// command" lines a client's garbage or a connection lost. All of these
// are the client's doing: INFO. Anything else (a panic, a failed
// greeting) stays at ERROR.
type goImapLog struct{ log *slog.Logger }

func (g goImapLog) Printf(format string, v ...any) {
	var err error
	if len(v) > 0 {
		err, _ = v[len(v)-1].(error)
	}
	switch {
	case format == "handling %v command: %v" && len(v) == 2:
		msg := "imap command refused by go-imap"
		if connLost(err) {
			msg = "imap connection lost"
		}
		g.log.Info(msg, "command", fmt.Sprint(v[0]), "err", fmt.Sprint(v[1]))
	case format == "failed to read command: %v" && len(v) == 1:
		msg := "imap command unreadable; connection closed"
		if connLost(err) {
			msg = "imap connection lost"
		}
		g.log.Info(msg, "err", fmt.Sprint(v[0]))
	default:
		g.log.Error("imap: " + strings.TrimSuffix(
			fmt.Sprintf(format, v...), "\n"))
	}
}

// connLost reports whether err is the connection failing (reset,
// closed, cut short) rather than something the client sent.
func connLost(err error) bool {
	var ne net.Error
	return err != nil && (errors.As(err, &ne) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}
