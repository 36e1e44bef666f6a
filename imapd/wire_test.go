package imapd

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// send writes s as is.
func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := fmt.Fprint(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// upTo reads lines up to and with the one starting with prefix.
func (r *raw) upTo(prefix string) []string {
	r.t.Helper()
	var lines []string
	for {
		l := r.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, prefix) {
			return lines
		}
	}
}

// TestEmptyLineIgnored: an empty line where a command is expected (iOS
// Mail sends one) is dropped and the connection goes on, before and
// after login, pipelined or alone, with CRLF or a lone LF.
func TestEmptyLineIgnored(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("one", "first"))
	r := h.raw(false)
	r.send("\r\n")
	if l := last(r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW))); !strings.HasPrefix(l, "t1 OK") {
		t.Fatalf("LOGIN after empty line: %s", l)
	}
	r.send("\r\n")
	time.Sleep(50 * time.Millisecond) // the empty line alone in a segment
	if l := last(r.cmd("SELECT INBOX")); !strings.HasPrefix(l, "t2 OK") {
		t.Fatalf("SELECT after empty line: %s", l)
	}
	r.send("\r\n\n\r\nt3 NOOP\r\n\r\nt4 FETCH 1 (FLAGS)\r\n\r\n")
	r.upTo("t3 OK")
	lines := r.upTo("t4 ")
	if l := last(lines); !strings.HasPrefix(l, "t4 OK") || len(lines) != 2 {
		t.Fatalf("pipelined FETCH: %q", lines)
	}
	r.n = 4
	if l := last(r.cmd("NOOP")); !strings.HasPrefix(l, "t5 OK") {
		t.Fatalf("NOOP: %s", l)
	}
	if strings.Contains(h.log.String(), "failed to read command") {
		t.Errorf("server log:\n%s", h.log.String())
	}
}

// TestEmptyLineLiteralsUntouched: CRLFs inside literals, including at
// their start and where a command would start, reach the store intact,
// through synchronising and non-synchronising literals, whatever the
// segmenting.
func TestEmptyLineLiteralsUntouched(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(true)
	// A message whose bytes begin with CRLF and hold blank lines.
	msg := "\r\n\r\nSubject: lit\r\n\r\n\r\nbody\r\n\r\n"

	// Synchronising literal, sent after the "+".
	r.send(fmt.Sprintf("a1 APPEND INBOX {%d}\r\n", len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %s", l)
	}
	r.send(msg + "\r\n")
	if l := last(r.upTo("a1 ")); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("APPEND sync: %s", l)
	}
	// Non-synchronising (LITERAL-), byte by byte to split everywhere.
	cmd := fmt.Sprintf("a2 APPEND INBOX {%d+}\r\n%s\r\n\r\n", len(msg), msg)
	for i := 0; i < len(cmd); i++ {
		r.send(cmd[i : i+1])
	}
	if l := last(r.upTo("a2 ")); !strings.HasPrefix(l, "a2 OK") {
		t.Fatalf("APPEND non-sync: %s", l)
	}

	r.cmd("SELECT INBOX")
	for seq := 1; seq <= 2; seq++ {
		r.send(fmt.Sprintf("f%d FETCH %d (BODY.PEEK[])\r\n", seq, seq))
		head := r.line()
		want := fmt.Sprintf("{%d}", len(msg))
		if !strings.HasSuffix(head, want) {
			t.Fatalf("FETCH %d: %q, want literal %s", seq, head, want)
		}
		body := make([]byte, len(msg))
		if _, err := ioReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		if string(body) != msg {
			t.Errorf("message %d stored as %q, want %q", seq, body, msg)
		}
		tag := fmt.Sprintf("f%d ", seq)
		if l := last(r.upTo(tag)); !strings.HasPrefix(l, tag+"OK") {
			t.Fatalf("FETCH %d: %s", seq, l)
		}
	}
}

func ioReadFull(r *raw, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.br.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestEmptyLineRefusedLiteral: when the server refuses a synchronising
// literal (its tagged reply instead of "+"), the next line is a command
// again and an empty line there is dropped.
func TestEmptyLineRefusedLiteral(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(true)
	r.send("a1 APPEND INBOX {999999999999}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
		t.Fatalf("oversized APPEND literal: %s", l)
	}
	r.send("\r\n")
	if l := last(r.cmd("NOOP")); !strings.HasPrefix(l, "t2 OK") {
		t.Fatalf("NOOP: %s", l)
	}
}

// TestEmptyLineNotCommands: lines that are not commands are never
// dropped: an empty SASL response reaches AUTHENTICATE (which then
// answers instead of waiting), and after IDLE's DONE is answered empty
// lines are dropped again.
func TestEmptyLineNotCommands(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(false)
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	r.send("a1 AUTHENTICATE PLAIN\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %s", l)
	}
	r.send("\r\n") // an empty client response
	if l := last(r.upTo("a1 ")); strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("empty PLAIN response accepted: %s", l)
	}
	r.c.SetDeadline(time.Now().Add(60 * time.Second))

	r.n = 1
	r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW))
	r.cmd("SELECT INBOX")
	r.send("i1 IDLE\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %s", l)
	}
	r.send("DONE\r\n")
	if l := last(r.upTo("i1 ")); !strings.HasPrefix(l, "i1 OK") {
		t.Fatalf("IDLE: %s", l)
	}
	r.send("\r\n")
	if l := last(r.cmd("NOOP")); !strings.HasPrefix(l, "t4 OK") {
		t.Fatalf("NOOP after IDLE: %s", l)
	}
}

// fakeConn is a net.Conn reading from a script and discarding writes.
type fakeConn struct {
	net.Conn
	in []byte
	k  int // bytes per Read
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if len(f.in) == 0 {
		return 0, fmt.Errorf("eof")
	}
	n := min(f.k, len(p), len(f.in))
	copy(p, f.in[:n])
	f.in = f.in[n:]
	return n, nil
}

// TestGuardFilterSegmenting: the filter's output does not depend on how
// the input is segmented, keeps literal bytes, and stops at STARTTLS.
func TestGuardFilterSegmenting(t *testing.T) {
	lit := "\r\n\r\nx{3}\r\n\r\n"
	in := "\r\na1 NOOP\r\n\n" +
		fmt.Sprintf("a2 APPEND INBOX {%d+} \r\n%s\r\n\r\n", len(lit), lit) +
		"a3 SEARCH SUBJECT ~{2+}\r\n\r\n \r\n\r\n" +
		"a4 STARTTLS\r\n\r\n\x16\x03\r\n"
	want := "a1 NOOP\r\n" +
		fmt.Sprintf("a2 APPEND INBOX {%d+} \r\n%s\r\n", len(lit), lit) +
		"a3 SEARCH SUBJECT ~{2+}\r\n\r\n \r\n" +
		"a4 STARTTLS\r\n\r\n\x16\x03\r\n"
	for k := 1; k <= len(in); k++ {
		g := &guardConn{Conn: &fakeConn{in: []byte(in), k: k}}
		var out bytes.Buffer
		buf := make([]byte, 7)
		for {
			n, err := g.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if out.String() != want {
			t.Fatalf("segments of %d: got\n%q\nwant\n%q", k, out.String(), want)
		}
	}
}

// TestInvalidArguments: arguments that beta.8 checks only after parsing,
// with plain errors that it answers "NO [SERVERBUG] Internal server
// error" and logs at ERROR: set numbers 0 or over 32 bits, dates that do
// not exist, unknown SEARCH keys, mailbox names that are not modified
// UTF-7. The guard makes them BAD (NO for a bad mailbox name), logged
// at INFO with the connection; the connection goes on (badargs.go).
func TestInvalidArguments(t *testing.T) {
	tests := []struct{ cmd, want, command string }{
		{"FETCH 0 (FLAGS)", "BAD [CLIENTBUG] ", "FETCH"},
		{"UID FETCH 0 (FLAGS)", "BAD [CLIENTBUG] ", "UID FETCH"},
		{"FETCH 99999999999 (FLAGS)", "BAD [CLIENTBUG] ", "FETCH"},
		{"FETCH 1:0 (FLAGS)", "BAD [CLIENTBUG] ", "FETCH"},
		{`STORE 0 +FLAGS (\Seen)`, "BAD [CLIENTBUG] ", "STORE"},
		{"COPY 0 INBOX", "BAD [CLIENTBUG] ", "COPY"},
		{"SEARCH FROBNICATE", "BAD [CLIENTBUG] ", "SEARCH"},
		{"UID SEARCH UID 0", "BAD [CLIENTBUG] ", "UID SEARCH"},
		{"SEARCH SENTBEFORE 31-Feb-2020", "BAD [CLIENTBUG] ", "SEARCH"},
		{`CREATE "&Jjo"`, "NO [CANNOT] Invalid mailbox name", "CREATE"},
		{`SELECT "&Jjo-&"`, "NO [CANNOT] Invalid mailbox name", "SELECT"},
		{"CREATE \"a\tb\"", "NO [CANNOT] Invalid mailbox name", "CREATE"},
		{`RENAME "&Jjo" x`, "NO [CANNOT] Invalid mailbox name", "RENAME"},
	}
	for _, via := range transports {
		t.Run(via, func(t *testing.T) {
			h := startTLSHarness(t)
			h.deliver(testMsg("one", "first"))
			r := h.rawVia(via, true)
			r.cmd("SELECT INBOX")
			for _, tt := range tests {
				l := last(r.cmd(tt.cmd))
				if _, got, _ := strings.Cut(l, " "); !strings.HasPrefix(got,
					tt.want) {
					t.Errorf("%s: %s, want %s...", tt.cmd, l, tt.want)
				}
			}
			// An APPEND whose date does not exist: refused before the
			// literal is asked for.
			r.send("a1 APPEND INBOX \"31-Foo-2020 00:00:00 +0000\" {3}\r\n")
			if l := r.line(); !strings.HasPrefix(l, "a1 BAD [CLIENTBUG] ") {
				t.Errorf("APPEND with a bad date: %s", l)
			}
			if l := last(r.cmd("FETCH 1 (FLAGS)")); !strings.Contains(l,
				" OK ") {
				t.Errorf("FETCH 1 afterwards: %s", l)
			}
			logs := h.log.String()
			if strings.Contains(logs, "level=ERROR") {
				t.Errorf("ERROR lines:\n%s", logs)
			}
			refused := strings.Count(logs, `msg="imap command refused" conn=`)
			if refused != len(tests)+1 || !strings.Contains(logs,
				`user=alice@example.com command="UID FETCH" `+
					`reason="invalid arguments" reply=BAD`) {
				t.Errorf("%d lines for %d refusals:\n%s", refused,
					len(tests)+1, logs)
			}
		})
	}
}

// TestOversizedNonSyncLiteralNotRun: a non-synchronising literal over
// LITERAL-'s 4096 bytes (RFC 7888 §5) fails its command and the
// connection ends; the literal's bytes are never run as commands
// (beta.8 alone runs them: a body line "x1 CREATE Injected" created the
// folder). APPEND gets BAD; SEARCH, whose literal beta.8 does not check,
// fails as the stream ends inside it.
func TestOversizedNonSyncLiteralNotRun(t *testing.T) {
	inject := "x1 CREATE Injected\r\nx2 NOOP\r\n"
	pad := strings.Repeat("Subject: padding line\r\n", 200)
	tests := []struct{ name, marker, data string }{
		{"APPEND", fmt.Sprintf("a1 APPEND INBOX {%d+}\r\n", len(inject+pad)),
			inject + pad + "\r\n"},
		{"SEARCH", fmt.Sprintf("a1 SEARCH TEXT {%d+}\r\n", 4097),
			inject + strings.Repeat("y", 4097-len(inject)) + "\r\n"},
		{"SELECT", "a1 SELECT {5100+}\r\n",
			inject + strings.Repeat("y", 5100-len(inject)) + "\r\n"},
		{"size too large to parse", "a1 APPEND INBOX {99999999999999999999+}\r\n",
			inject},
		{"LITERAL+ size on a long line", "a1 APPEND INBOX " +
			strings.Repeat("(", 40) + "{12345678901234567890123456789+}\r\n", inject},
	}
	for _, tt := range tests {
		for _, via := range transports {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				h := startTLSHarness(t)
				r := h.rawVia(via, true)
				r.cmd("SELECT INBOX")
				r.send(tt.marker + tt.data)
				lines := r.readToClose()
				if len(lines) == 0 || !strings.HasPrefix(lines[0], "a1 ") ||
					strings.HasPrefix(lines[0], "a1 OK") ||
					strings.Contains(lines[0], "SERVERBUG") {
					t.Errorf("want a1 BAD or NO first, got %q", lines)
				}
				for _, l := range lines {
					if strings.HasPrefix(l, "x") {
						t.Errorf("literal bytes were run: %q", lines)
					}
				}
				if h.hasFolder("Injected") {
					t.Errorf("the literal's CREATE ran")
				}
			})
		}
	}
}

// TestNonSyncLiteralAtLimit: a non-synchronising literal of exactly
// 4096 bytes is accepted and the connection goes on.
func TestNonSyncLiteralAtLimit(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(true)
	hdr := "Subject: limit\r\n\r\n"
	msg := hdr + strings.Repeat("z", maxNonSync-len(hdr))
	r.send(fmt.Sprintf("a1 APPEND INBOX {%d+}\r\n%s\r\n", len(msg), msg))
	if l := last(r.upTo("a1 ")); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("APPEND of %d bytes: %s", len(msg), l)
	}
	r.n = 1
	if l := last(r.cmd("NOOP")); !strings.HasPrefix(l, "t2 OK") {
		t.Fatalf("NOOP: %s", l)
	}
}

// TestBigSyncLiteralRefused: a synchronising literal over 4096 bytes
// outside APPEND is refused at once, before and after login, and the
// connection goes on (beta.8 alone refuses it and then waits for a
// line end the client, waiting for "+", never sends).
func TestBigSyncLiteralRefused(t *testing.T) {
	for _, via := range transports {
		t.Run(via, func(t *testing.T) { testBigSyncLiteralRefused(t, via) })
	}
}

func testBigSyncLiteralRefused(t *testing.T, via string) {
	h := startTLSHarness(t)
	h.deliver(testMsg("one", "first"))
	r := h.rawVia(via, false)
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, tc := range []struct{ send, next string }{
		{"a1 LOGIN {5000}\r\n", "a2 NOOP"},
		{"a3 LOGIN alice@example.com {4097}\r\n", "a4 CAPABILITY"},
		// Refused before the literal is parsed: no line end to add.
		{"a7 LOGIN a b {5000}\r\n", "a8 NOOP"},
	} {
		r.send(tc.send)
		if l := r.line(); !strings.HasPrefix(l, tc.send[:3]+"BAD ") {
			t.Errorf("%q: %q", tc.send, l)
		}
		r.send(tc.next + "\r\n")
		if l := last(r.upTo(tc.next[:3])); !strings.Contains(l, " OK ") {
			t.Errorf("after %q: %q", tc.send, l)
		}
	}
	// A SASL response is a line, not a command with a literal.
	r.send("a9 AUTHENTICATE PLAIN\r\n")
	r.upTo("+")
	r.send("abc{5000}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a9 BAD ") &&
		!strings.HasPrefix(l, "a9 NO ") {
		t.Errorf("SASL response with a literal marker: %q", l)
	}
	r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW))
	r.cmd("SELECT INBOX")
	for _, cmd := range []string{"SORT (DATE) {5000}", "FOO {5000}"} {
		r.send("b0 " + cmd + "\r\n")
		if l := r.line(); !strings.HasPrefix(l, "b0 BAD ") {
			t.Errorf("%s: %q", cmd, l)
		}
		if l := last(r.cmd("NOOP")); !strings.Contains(l, " OK ") {
			t.Errorf("NOOP after %s: %q", cmd, l)
		}
	}
	r.send("b1 SEARCH TEXT {9000}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "b1 BAD ") {
		t.Errorf("SEARCH with a big literal: %q", l)
	}
	if l := last(r.cmd("SEARCH TEXT first")); !strings.Contains(l, " OK ") {
		t.Errorf("SEARCH afterwards: %q", l)
	}
}

// TestOrphanLiteralNotRun: a command refused for an argument before
// its non-synchronising literal (a date that does not exist, FETCH 0)
// leaves the literal unread by imapserver, which would then run its
// bytes as commands. The guard drops the literal and the rest of the
// command; the connection goes on with the next command.
func TestOrphanLiteralNotRun(t *testing.T) {
	inject := "x1 CREATE Injected\r\n"
	tests := []struct{ name, cmd string }{
		{"APPEND with a bad date", fmt.Sprintf(
			"a1 APPEND INBOX \"31-Feb-2024 00:00:00 +0000\" {%d+}\r\n%s\r\n",
			len(inject), inject)},
		{"FETCH 0 with a literal", fmt.Sprintf(
			"a1 FETCH 0 (BODY[HEADER.FIELDS ({%d+}\r\n%s)])\r\n",
			len(inject), inject)},
		{"two literals", fmt.Sprintf(
			"a1 FETCH 0 (BODY[HEADER.FIELDS ({%d+}\r\n%s {%d+}\r\n%s)])\r\n",
			len(inject), inject, len(inject), inject)},
		// The command goes on after a literal of no bytes: the CREATE
		// is the rest of the APPEND line.
		{"zero-length literal",
			"a1 APPEND INBOX \"31-Feb-2024 00:00:00 +0000\" {0+}\r\n" + inject},
		// imapserver fails on the literal itself and leaves the rest
		// of the line unread.
		{"bad mailbox name in a literal", "a1 SELECT {3+}\r\na&b\r\n"},
		{"bad mailbox name in a literal, more after it",
			"a1 RENAME {3+}\r\na&b {3+}\r\nxyz " + inject},
	}
	for _, tt := range tests {
		for _, via := range transports {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				h := startTLSHarness(t)
				r := h.rawVia(via, true)
				r.cmd("SELECT INBOX")
				r.send(tt.cmd + "a2 NOOP\r\n")
				lines := r.upTo("a2 ")
				if !strings.HasPrefix(lines[0], "a1 BAD ") &&
					!strings.HasPrefix(lines[0], "a1 NO ") ||
					!strings.HasPrefix(last(lines), "a2 OK") {
					t.Errorf("replies: %q", lines)
				}
				for _, l := range lines {
					if strings.HasPrefix(l, "x1 ") {
						t.Errorf("the literal ran: %q", lines)
					}
				}
				if h.hasFolder("Injected") {
					t.Errorf("the literal's CREATE ran")
				}
			})
		}
	}
}

// TestAppendTailChecked: beta.8 stores an APPEND's message and then,
// finding more than a line end after the literal, writes no reply at
// all, so replies no longer match commands (and a later literal's
// bytes ran as commands). The guard ends the connection there; a line
// end with beta.8's optional SP, or a lone LF, still gets its OK.
func TestAppendTailChecked(t *testing.T) {
	inject := "z1 CREATE Injected\r\n"
	tests := []struct {
		name, send string
		ok         bool
	}{
		{"junk after the literal",
			"b1 APPEND INBOX {5+}\r\nhello X\r\n" + fmt.Sprintf(
				"d1 NOOP {%d+}\r\n%s", len(inject), inject), false},
		{"MULTIAPPEND", fmt.Sprintf(
			"b1 APPEND INBOX {5+}\r\nhello {%d+}\r\n%s\r\n", len(inject),
			inject), false},
		{"SP before CRLF", "b1 APPEND INBOX {5+}\r\nhello \r\n", true},
		{"lone LF", "b1 APPEND INBOX {5+}\r\nhello\n", true},
	}
	for _, tt := range tests {
		for _, via := range transports {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				h := startTLSHarness(t)
				r := h.rawVia(via, true)
				r.send(tt.send)
				if tt.ok {
					if l := last(r.upTo("b1 ")); !strings.HasPrefix(l,
						"b1 OK") {
						t.Errorf("APPEND: %q", l)
					}
					return
				}
				lines := r.readToClose()
				for _, l := range lines {
					if strings.HasPrefix(l, "z1 ") {
						t.Errorf("a literal ran: %q", lines)
					}
				}
				if h.hasFolder("Injected") {
					t.Errorf("the literal's CREATE ran")
				}
			})
		}
	}
}

// TestBadCommandStartEnds: a tag with '+' (imapserver takes it; its
// tagged reply then looks like a continuation request) or over maxTag
// bytes would leave the guard unable to pair replies with commands, so
// the connection ends there, and what follows never runs.
func TestBadCommandStartEnds(t *testing.T) {
	inject := "z1 CREATE Injected\r\n"
	after := fmt.Sprintf("d1 NOOP {%d+}\r\n%s", len(inject), inject)
	for _, tag := range []string{"+", "a+b", strings.Repeat("t", maxTag+1)} {
		h := start(t, t.TempDir())
		r := h.raw(true)
		r.send(tag + " NOOP\r\n" + after)
		lines := r.readToClose()
		for _, l := range lines {
			if strings.HasPrefix(l, "z1 ") || strings.HasPrefix(l, "d1 ") {
				t.Errorf("tag %.10q: ran on: %q", tag, lines)
			}
		}
		if h.hasFolder("Injected") {
			t.Errorf("tag %.10q: the literal's CREATE ran", tag)
		}
	}
}

// TestQuotedLineFeedEnds: imapserver reads a quoted string on past a
// line feed, so "x\ny" is one command line to it and two to the guard,
// whose reply count would be off for good (a later literal ran). The
// connection ends at such a line feed, before and after login; a
// stray quote that imapserver refuses as syntax does not count.
func TestQuotedLineFeedEnds(t *testing.T) {
	inject := "z1 CREATE Injected\r\n"
	after := fmt.Sprintf("d1 NOOP {%d+}\r\n%s", len(inject), inject)
	for _, tc := range []struct {
		login bool
		line  string
	}{
		{true, "q1 LIST \"\" \"x\ny\"\r\n"},
		{false, "q1 LOGIN \"x\" \"p\nq\"\r\n"},
		{true, "q1 SELECT \"a\\\"\nb\"\r\n"},
		// An escaped LF: imapserver's Quoted reads on all the same.
		{true, "q1 LIST \"\" \"x\\\ny\"\r\n"},
		// A bare CR: after an error, imapserver's DiscardLine stops
		// there, and the next command starts behind it.
		{true, "q1 NOOP x\rz1 CREATE Injected\r\n"},
		{true, "\rz1 CREATE Injected\r\n"},
		// A quote imapserver does not read as a string hides no CR.
		{true, "q1 NOOP \"x\rz1 CREATE Injected\r\n"},
		{true, "q1 NOOP \"x\rz1 CREATE \"Q\"\r\n"},
	} {
		h := start(t, t.TempDir())
		r := h.raw(tc.login)
		login := ""
		if !tc.login {
			login = fmt.Sprintf("l1 LOGIN %s %q\r\n", alice, alicePW)
		}
		r.send(tc.line + login + after)
		r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, _ := io.ReadAll(r.br)
		if strings.Contains(string(rest), "z1 ") {
			t.Errorf("%q: the literal ran: %q", tc.line, rest)
		}
		if h.hasFolder("Injected") {
			t.Errorf("%q: the literal's CREATE ran", tc.line)
		}
	}
	h := start(t, t.TempDir())
	r := h.raw(true)
	if l := last(r.cmd(`SELECT INBOX"x`)); !strings.Contains(l, " BAD ") &&
		!strings.Contains(l, " NO ") {
		t.Errorf("a stray quote: %q", l)
	}
	if l := last(r.cmd("NOOP")); !strings.Contains(l, " OK ") {
		t.Errorf("after a stray quote: %q", l)
	}
}

// TestWaitLinesFollowAnswers: a line after AUTHENTICATE without an
// initial response, or after IDLE, is a SASL response or DONE only if
// imapserver took the command; refused at once (AUTHENTICATE after
// login), the next line is a command, and replies stay paired (an ID
// after it is answered as ID).
func TestWaitLinesFollowAnswers(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(true)
	r.send("b1 AUTHENTICATE PLAIN \r\nn0 NOOP\r\n")
	if l := last(r.upTo("n0 ")); !strings.HasPrefix(l, "n0 OK") {
		t.Errorf("NOOP after a refused AUTHENTICATE: %q", l)
	}
	if got := r.cmd("ID NIL"); len(got) != 2 || got[0] != idReply ||
		!strings.HasSuffix(got[1], "OK ID completed") {
		t.Errorf("ID after it: %q", got)
	}
	// IDLE ended by a line that is not DONE: BAD, and the next line is
	// a command, counted as one (the ID is answered as ID).
	r.cmd("SELECT INBOX")
	r.send("i0 IDLE\r\n")
	r.upTo("+ ")
	r.send("DONX\r\nn1 NOOP\r\n")
	if l := r.upTo("n1 "); !strings.HasPrefix(l[0], "i0 BAD") ||
		!strings.HasPrefix(last(l), "n1 OK") {
		t.Errorf("IDLE ended by DONX: %q", l)
	}
	if got := r.cmd("ID NIL"); len(got) != 2 || got[0] != idReply {
		t.Errorf("ID after it: %q", got)
	}
	// A line that is not a command, over imapserver's 4096-byte line
	// reader buffer, would be split by it: the connection ends.
	for _, first := range []string{"i0 IDLE", "s0 AUTHENTICATE PLAIN"} {
		r3 := h.raw(!strings.Contains(first, "AUTH"))
		if strings.Contains(first, "IDLE") {
			r3.cmd("SELECT INBOX")
		}
		r3.send(first + "\r\n")
		r3.upTo("+")
		r3.send(strings.Repeat("X", 4096) + "z1 CREATE Injected\r\n")
		r3.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, _ := io.ReadAll(r3.br)
		if strings.Contains(string(rest), "z1 ") {
			t.Errorf("%s, a long line: %q", first, rest)
		}
	}
	r2 := h.raw(false)
	r2.send("i1 IDLE\r\nDONE\r\n")
	lines := r2.upTo("i1 ")
	if !strings.Contains(last(lines), " BAD ") &&
		!strings.Contains(last(lines), " NO ") {
		t.Errorf("IDLE before login: %q", lines)
	}
}

// TestLongCommandEnds: imapserver's decoder gives up at 50 KiB of a
// command (literals aside) and then starts the next command in the
// middle of the line, so one line would be two commands to it and one
// to the guard. Past 48 KiB the connection ends; below, a long command
// is answered once and the replies stay paired.
func TestLongCommandEnds(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(true)
	if l := last(r.cmd(`LIST "" ` + strings.Repeat("x", 40<<10))); !strings.
		Contains(l, " OK ") && !strings.Contains(l, " NO ") {
		t.Errorf("a 40 KiB LIST: %.80q", l)
	}
	if got := r.cmd("ID NIL"); len(got) != 2 || got[0] != idReply {
		t.Errorf("ID after it: %q", got)
	}
	r.send(`a1 LIST "" ` + strings.Repeat("x", 51192) +
		" z1 CREATE Injected\r\nz2 CREATE Injected2\r\n")
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, _ := io.ReadAll(r.br)
	if strings.Contains(string(rest), "z1 ") ||
		strings.Contains(string(rest), "z2 ") {
		t.Errorf("ran on: %q", rest)
	}
}

// readToClose reads the server's lines until it closes the connection,
// or 10 seconds pass.
func (r *raw) readToClose() []string {
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := r.br.ReadString('\n')
		if err != nil {
			return lines
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
}

// hasFolder reports whether alice has the folder name.
func (h *harness) hasFolder(name string) bool {
	h.t.Helper()
	acct, err := h.st.Account(alice)
	if err != nil {
		h.t.Fatal(err)
	}
	_, err = acct.Folder(name)
	return err == nil
}
