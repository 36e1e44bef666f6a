package smtpd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestEHLO(t *testing.T) {
	e := newEnv(t)
	d := e.dial()
	got := d.cmd("EHLO client.test", "250 ")
	for _, want := range []string{"SIZE 65536", "8BITMIME",
		"PIPELINING", "ENHANCEDSTATUSCODES", "SMTPUTF8"} {
		if !strings.Contains(got, "250-"+want+"\n") &&
			!strings.HasSuffix(got, "250 "+want) {
			t.Errorf("EHLO reply lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "STARTTLS") || strings.Contains(got, "AUTH") {
		t.Errorf("EHLO offers STARTTLS or AUTH without TLS:\n%s", got)
	}
	d.cmd("QUIT", "221 ")
}

// step is one line of a scripted dialogue and the reply expected; an
// empty want expects no reply (a DATA body line).
type step struct{ send, want string }

// TestReplyCodes pins every reply code of the intake to a dialogue.
func TestReplyCodes(t *testing.T) {
	mail := step{"MAIL FROM:<s@elsewhere.test>", "250 "}
	tests := []struct {
		name  string
		steps []step
	}{
		{"foreign domain", []step{mail,
			{"RCPT TO:<x@elsewhere.test>", "554 5.7.1 "}}},
		{"our hostname is not a domain of ours", []step{mail,
			{"RCPT TO:<x@mx.test.invalid>", "554 5.7.1 "}}},
		// Relay tricks through a domain of ours (routedLocalPart).
		{"percent hack", []step{mail,
			{"RCPT TO:<victim%elsewhere.test@example.test>", "554 5.7.1 "}}},
		{"percent hack, relay mode", []step{mail,
			{"RCPT TO:<victim%elsewhere.test@relay.test>", "554 5.7.1 "}}},
		{"bang path", []step{mail,
			{"RCPT TO:<elsewhere.test!victim@relay.test>", "554 5.7.1 "}}},
		{"quoted local part hiding @", []step{mail,
			{`RCPT TO:<"victim@elsewhere.test"@relay.test>`, "554 5.7.1 "}}},
		{"source route", []step{mail,
			{"RCPT TO:<@relay.test:victim@elsewhere.test>", "554 5.7.1 "}}},
		{"foreign domain, trailing dot", []step{mail,
			{"RCPT TO:<victim@elsewhere.test.>", "554 5.7.1 "}}},
		{"our domain as a subdomain", []step{mail,
			{"RCPT TO:<victim@relay.test.elsewhere.test>", "554 5.7.1 "}}},
		{"our domain in upper case", []step{mail,
			{"RCPT TO:<ALICE@EXAMPLE.TEST>", "250 "}}},
		{"unknown user in mode both", []step{mail,
			{"RCPT TO:<nobody@example.test>", "550 5.1.1 "}}},
		{"unknown user in mode local", []step{mail,
			{"RCPT TO:<nobody@local.test>", "550 5.1.1 "}}},
		{"relay domain takes any local part", []step{mail,
			{"RCPT TO:<whoever@relay.test>", "250 "}}},
		{"case-insensitive user", []step{mail,
			{"RCPT TO:<ALICE@Example.TEST>", "250 "}}},
		{"case-insensitive alias", []step{mail,
			{"RCPT TO:<Sales@EXAMPLE.test>", "250 "}}},
		{"too many recipients", []step{mail,
			{"RCPT TO:<alice@example.test>", "250 "},
			{"RCPT TO:<bob@example.test>", "250 "},
			{"RCPT TO:<a@relay.test>", "250 "},
			{"RCPT TO:<b@relay.test>", "452 4.5.3 "}}},
		{"SIZE over the limit", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=65537", "552 5.3.4 "}}},
		{"SIZE at the limit", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=65536", "250 "}}},
		{"SIZE at go-smtp's largest", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=4294967295",
				"552 5.3.4 "}}},
		// go-smtp parses 32 bits and answers 501 past them; we make
		// that the 552 of any size over the limit (fixSizeReply).
		{"SIZE too large for go-smtp", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=4294967296",
				"552 5.3.4 "}}},
		{"SIZE of 23 digits", []step{
			{"MAIL FROM:<s@elsewhere.test> " +
				"SIZE=99999999999999999999999", "552 5.3.4 "}}},
		{"SIZE of 23 digits, lower case", []step{
			{"mail from:<s@elsewhere.test> " +
				"size=99999999999999999999999", "552 5.3.4 "}}},
		{"SIZE not a number", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=12a", "501 5.5.4 "}}},
		{"SIZE negative", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=-1", "501 5.5.4 "}}},
		{"a huge SIZE in a body, then a bad one", []step{mail,
			{"RCPT TO:<alice@example.test>", "250 "},
			{"DATA", "354 "},
			{"MAIL FROM:<x@y.test> SIZE=99999999999999999999\r\n.",
				"250 "},
			{"MAIL FROM:<s@elsewhere.test> SIZE=x", "501 5.5.4 "}}},
		{"NUL in sender", []step{
			{"MAIL FROM:<s\x00x@elsewhere.test>", "501 5.1.7 "}}},
		{"CR in sender", []step{
			{"MAIL FROM:<s@else\rwhere.test>", "501 5.1.7 "}}},
		{"CR in recipient", []step{mail,
			{"RCPT TO:<alice@example.test\r>", "501 5.1.3 "}}},
		{"NUL in recipient", []step{mail,
			{"RCPT TO:<al\x00ice@example.test>", "501 5.1.3 "}}},
		{"NUL in AUTH parameter", []step{
			{"MAIL FROM:<s@elsewhere.test> AUTH=a+00b@x.test",
				"501 5.5.4 "}}},
		{"NUL in SIZE parameter", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=1\x00", "501 "}}},
		{"UTF-8 recipient without SMTPUTF8", []step{mail,
			{"RCPT TO:<jürgen@relay.test>", "553 5.6.7 "}}},
		{"UTF-8 sender without SMTPUTF8", []step{
			{"MAIL FROM:<jürgen@elsewhere.test>", "553 5.6.7 "}}},
		{"UTF-8 recipient with SMTPUTF8", []step{
			{"MAIL FROM:<jürgen@elsewhere.test> SMTPUTF8", "250 "},
			{"RCPT TO:<jürgen@relay.test>", "250 "}}},
		{"invalid UTF-8 with SMTPUTF8", []step{
			{"MAIL FROM:<s@elsewhere.test> SMTPUTF8", "250 "},
			{"RCPT TO:<j\xffrgen@relay.test>", "501 5.1.3 "}}},
		{"nested MAIL", []step{mail,
			{"MAIL FROM:<t@elsewhere.test>", "503 5.5.1 "}}},
		{"RCPT before MAIL", []step{
			{"RCPT TO:<alice@example.test>", "502 "}}},
		{"message too big", []step{mail,
			{"RCPT TO:<alice@example.test>", "250 "},
			{"DATA", "354 "},
			{strings.Repeat(strings.Repeat("x", 998)+"\r\n", 70) +
				".", "552 5.3.4 "}}},
		{"bare LF", []step{mail,
			{"RCPT TO:<alice@example.test>", "250 "},
			{"DATA", "354 "},
			{"Subject: x\r\n\r\nline\nline\r\n.", "550 5.6.0 "}}},
		{"accepted", []step{mail,
			{"RCPT TO:<alice@example.test>", "250 "},
			{"DATA", "354 "},
			{"Subject: x\r\n\r\nline\r\n.", "250 2.0.0 OK: id "}}},
		{"accepted, local only", []step{mail,
			{"RCPT TO:<carol@local.test>", "250 "},
			{"DATA", "354 "},
			{"Subject: x\r\n\r\nline\r\n.", "250 2.0.0 OK: id "}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.dial()
			d.cmd("EHLO client.test", "250 ")
			for _, s := range tt.steps {
				d.cmd(s.send, s.want)
			}
			// The dialogue is still in step afterwards.
			d.cmd("RSET", "250 ")
			d.cmd("QUIT", "221 ")
		})
	}
}

func TestBadHELO(t *testing.T) {
	for _, helo := range []string{"a\x00b", "a\rb", "a\x1bb",
		strings.Repeat("a", maxHelo+1)} {
		e := newEnv(t)
		d := e.dial()
		d.cmd("EHLO "+helo, "501 5.5.2 ")
		d.cmd("MAIL FROM:<s@elsewhere.test>", "502 ")
		d.cmd("EHLO client.test", "250 ")
		// A second EHLO keeps the session: Mail checks it.
		d.cmd("EHLO "+helo, "250 ")
		d.cmd("MAIL FROM:<s@elsewhere.test>", "501 5.5.2 ")
	}
}

// readMessage returns the one message file of address and its content.
func (e *env) readMessage(address string) (string, []byte) {
	e.t.Helper()
	files := e.newFiles(address)
	if len(files) != 1 {
		e.t.Fatalf("%s has %d messages in new/, want 1", address,
			len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		e.t.Fatal(err)
	}
	return files[0], b
}

// splitReceived splits a stored message into our Received header (the
// first field, with its folded lines) and the rest.
func splitReceived(t testing.TB, msg []byte) (string, []byte) {
	t.Helper()
	if !bytes.HasPrefix(msg, []byte("Received: ")) {
		t.Fatalf("message does not start with Received: %.60q", msg)
	}
	i := 0
	for {
		j := bytes.Index(msg[i:], []byte("\r\n"))
		if j < 0 {
			t.Fatalf("unterminated header: %q", msg)
		}
		i += j + 2
		if i >= len(msg) || (msg[i] != ' ' && msg[i] != '\t') {
			return string(msg[:i]), msg[i:]
		}
	}
}

func TestAccepted(t *testing.T) {
	e := newEnv(t)
	msg := testMessage("hello")
	if err := e.send("s@elsewhere.test", []string{"alice@example.test"},
		msg); err != nil {
		t.Fatal(err)
	}
	path, b := e.readMessage("alice@example.test")
	hdr, rest := splitReceived(t, b)
	if string(rest) != msg {
		t.Errorf("stored message differs:\n%q\nwant\n%q", rest, msg)
	}
	for _, want := range []string{
		"Received: from client.test ([127.0.0.1])\r\n",
		"\tby mx.test.invalid with ESMTP id ",
		"\tfor <alice@example.test>;\r\n",
	} {
		if !strings.Contains(hdr, want) {
			t.Errorf("Received header lacks %q:\n%s", want, hdr)
		}
	}
	// The header's date parses.
	date := hdr[strings.LastIndex(hdr, ";\r\n\t")+4 : len(hdr)-2]
	if _, err := time.Parse(time.RFC1123Z, date); err != nil {
		t.Errorf("date %q: %v", date, err)
	}
	q := e.queue.byDomain("example.test")
	if len(q) != 1 || q[0].from != "s@elsewhere.test" ||
		!slices.Equal(q[0].rcpts, []string{"alice@example.test"}) {
		t.Fatalf("queue: %+v", q)
	}
	checkSameFile(t, path, q[0].path)
	e.checkSpoolEmpty()
	if os.Getenv("SMTPD_SHOW") != "" {
		t.Logf("%s", b)
	}
}

func checkSameFile(t testing.TB, a, b string) {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fa, fb) {
		t.Errorf("%s and %s are not one inode", a, b)
	}
}

// TestTwoLocalRecipients: alice (twice, once through her alias) and bob
// share one inode with the queue entry.
func TestTwoLocalRecipients(t *testing.T) {
	e := newEnv(t)
	msg := testMessage("to two")
	to := []string{"alice@example.test", "bob@example.test",
		"SALES@Example.TEST"}
	if err := e.send("s@elsewhere.test", to, msg); err != nil {
		t.Fatal(err)
	}
	a, ab := e.readMessage("alice@example.test")
	b, _ := e.readMessage("bob@example.test")
	checkSameFile(t, a, b)
	q := e.queue.byDomain("example.test")
	if len(q) != 1 || !slices.Equal(q[0].rcpts, to) {
		t.Fatalf("queue: %+v", q)
	}
	checkSameFile(t, a, q[0].path)
	if hdr, _ := splitReceived(t, ab); strings.Contains(hdr, "for <") {
		t.Errorf("Received names one of several recipients:\n%s", hdr)
	}
	e.checkSpoolEmpty()
}

func TestDomainModes(t *testing.T) {
	tests := []struct {
		name   string
		to     []string
		stored []string            // users with the message
		queued map[string][]string // domain → recipients
	}{
		{"relay only", []string{"Anyone@relay.test"}, nil,
			map[string][]string{"relay.test": {"Anyone@relay.test"}}},
		{"local only", []string{"carol@local.test"},
			[]string{"carol@local.test"}, nil},
		{"all three", []string{"x@relay.test", "carol@local.test",
			"bob@example.test"},
			[]string{"carol@local.test", "bob@example.test"},
			map[string][]string{
				"relay.test":   {"x@relay.test"},
				"example.test": {"bob@example.test"}}},
		{"grouped by domain", []string{"x@relay.test",
			"bob@example.test", "y@relay.test"},
			[]string{"bob@example.test"},
			map[string][]string{
				"relay.test":   {"x@relay.test", "y@relay.test"},
				"example.test": {"bob@example.test"}}},
		{"duplicate recipient", []string{"a@relay.test",
			"A@RELAY.TEST"}, nil,
			map[string][]string{"relay.test": {"a@relay.test"}}},
		{"quoted local part", []string{`"john doe"@relay.test`,
			`"a\"b"@relay.test`}, nil,
			map[string][]string{"relay.test": {
				`"john doe"@relay.test`, `"a\"b"@relay.test`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			err := e.send("s@elsewhere.test", tt.to,
				testMessage(tt.name))
			if err != nil {
				t.Fatal(err)
			}
			checkPlacement(e, tt.stored, tt.queued)
		})
	}
}

// checkPlacement checks that exactly the users in stored have the
// message, that the queue holds exactly the entries in queued, and that
// all of them are one inode.
func checkPlacement(e *env, stored []string,
	queued map[string][]string) {
	t := e.t
	t.Helper()
	var paths []string
	for _, u := range stored {
		p, _ := e.readMessage(u)
		paths = append(paths, p)
	}
	mailDomains, _ := os.ReadDir(filepath.Join(e.data, "mail"))
	for _, d := range mailDomains {
		if !slices.ContainsFunc(stored, func(u string) bool {
			return strings.HasSuffix(u, "@"+d.Name())
		}) {
			t.Errorf("unexpected mail folder %s", d.Name())
		}
	}
	if n := e.queue.len(); n != len(queued) {
		t.Errorf("%d queue entries, want %d", n, len(queued))
	}
	for dom, rcpts := range queued {
		q := e.queue.byDomain(dom)
		if len(q) != 1 || !slices.Equal(q[0].rcpts, rcpts) {
			t.Errorf("queue for %s: %+v, want %q", dom, q, rcpts)
			continue
		}
		paths = append(paths, q[0].path)
	}
	for _, p := range paths[1:] {
		checkSameFile(t, paths[0], p)
	}
	e.checkSpoolEmpty()
}

// TestFailureInjection breaks each step of the intake in turn: the
// client gets a 4xx and nothing is left anywhere.
func TestFailureInjection(t *testing.T) {
	full := &os.PathError{Op: "link", Path: "x", Err: syscall.ENOSPC}
	tests := []struct {
		name  string
		to    []string
		setup func(e *env)
		code  int
	}{
		{"queue fails", []string{"alice@example.test", "bob@example.test"},
			func(e *env) { e.queue.setFail(1, errors.New("boom")) }, 451},
		{"second queue entry fails", []string{"alice@example.test",
			"x@relay.test"},
			func(e *env) { e.queue.setFail(2, errors.New("boom")) }, 451},
		{"queue disk full", []string{"x@relay.test"},
			func(e *env) { e.queue.setFail(1, full) }, 452},
		{"second Maildir unusable", []string{"alice@example.test",
			"bob@example.test"}, breakMaildir("bob@example.test"), 451},
		{"spool unusable", []string{"alice@example.test"},
			func(e *env) { replaceWithFile(e.t, e.store.SpoolDir()) },
			451},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			err := e.send("s@elsewhere.test", tt.to,
				testMessage(tt.name))
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("send: %v, want %d", err, tt.code)
			}
			for _, u := range tt.to {
				if f := e.newFiles(u); len(f) != 0 {
					t.Errorf("%s has %v", u, f)
				}
			}
			if n := e.queue.len(); n != 0 {
				t.Errorf("%d queue entries left", n)
			}
			if !strings.Contains(tt.name, "spool") {
				e.checkSpoolEmpty()
			}
			if len(e.logs.lines("mail refused", "err=")) != 1 {
				t.Errorf("no log line with the detail:\n%s",
					e.logs.String())
			}
		})
	}
}

// breakMaildir makes address's new/ a plain file, so linking into it
// fails (chmod would not stop root).
func breakMaildir(address string) func(*env) {
	return func(e *env) {
		root := e.maildir(address)
		if err := os.MkdirAll(root, 0o700); err != nil {
			e.t.Fatal(err)
		}
		replaceWithFile(e.t, filepath.Join(root, "new"))
	}
}

func replaceWithFile(t testing.TB, path string) {
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPanicInQueue(t *testing.T) {
	e := newEnv(t)
	e.queue.panicky = true
	err := e.send("s@elsewhere.test", []string{"alice@example.test"},
		testMessage("panic"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("send: %v, want 451", err)
	}
	e.checkNothingStored()
	e.queue.mu.Lock()
	e.queue.panicky = false
	e.queue.mu.Unlock()
	// The server still serves.
	err = e.send("s@elsewhere.test", []string{"alice@example.test"},
		testMessage("after"))
	if err != nil {
		t.Fatal(err)
	}
}

// TestPostmaster takes the bare <postmaster> (RFC 5321 §4.5.1) for the
// configured address, and refuses it without one.
func TestPostmaster(t *testing.T) {
	for _, tt := range []struct{ extra, want string }{
		{"", "554 5.7.1 "},
		{"postmaster = \"sales@example.test\"", "250 "},
	} {
		e := newEnv(t)
		cfg := strings.Replace(testConfig, "max_recipients = 3",
			"max_recipients = 3\n"+tt.extra, 1)
		e.cfg.Store(parseConfig(t, cfg, e.data))
		d := e.dial()
		d.cmd("EHLO client.test", "250 ")
		d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
		d.cmd("RCPT TO:<Postmaster>", tt.want)
		if tt.want == "250 " {
			d.cmd("DATA", "354 ")
			d.cmd("Subject: to the postmaster\r\n\r\nhi\r\n.", "250 ")
			if n := len(e.newFiles("alice@example.test")); n != 1 {
				t.Errorf("alice (sales@) has %d messages, want 1", n)
			}
		}
	}
}
