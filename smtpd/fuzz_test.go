package smtpd

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds whole SMTP sessions, bytes in, to a running server.
// Whatever arrives, no session may panic, nothing may be stored or
// queued for a domain that is not configured (or a user that does not
// exist), and no spool file may outlive its session.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@example.test>\r\n" +
			"DATA\r\nSubject: a\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@relay.test>\r\n" +
			"RCPT TO:<y@elsewhere.test>\r\nDATA\r\nhi\r\n.\r\n",
		"EHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<carol@local.test>\r\n" +
			"BDAT 4\r\nhi\r\nBDAT 0 LAST\r\n",
		"EHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<bob@example.test>\r\n" +
			"DATA\r\nhi\n.\nMAIL FROM:<e@x>\nRCPT TO:<x@evil.test>\n" +
			"DATA\n.\r\n",
		"EHLO c\r\nMAIL FROM:<\"a b\"@x> SMTPUTF8\r\n" +
			"RCPT TO:<\"ü\\\"\"@relay.test>\r\nDATA\r\n.\r\n",
		"EHLO c\r\nMAIL FROM:<s@x> SIZE=99999999\r\nRSET\r\n" +
			"MAIL FROM:<s@x> AUTH=<>\r\nRCPT TO:<postmaster>\r\n",
		"EHLO c\x00\r\nSTARTTLS\r\nEHLO [1.2.3.4]\r\nNOOP\r\n",
		"EHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<bob@example.test>\r\n" +
			"BDAT 100\r\ntruncated",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		runSession(t, e.addr, in)
		e.srv.busy.Wait()
		checkOnlyConfigured(t, e)
		checkNoPanic(t, e.logs.take())
	})
}

// checkNoPanic fails on a panic in the log: ours, or go-smtp's apart
// from one known fault of go-smtp v0.26.0. slog quotes the client's
// text, so a client cannot forge these messages.
func checkNoPanic(t *testing.T, logs string) {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `msg="panic in smtp session"`) {
			t.Fatalf("a session panicked:\n%s", l)
		}
		if strings.Contains(l, `msg="smtp: panic`) &&
			!knownBDATPanic(l) {
			t.Fatalf("go-smtp recovered a panic:\n%s", l)
		}
	}
}

// knownBDATPanic reports whether a recovered panic is go-smtp's own:
// when a client sends BDAT and closes the connection before the chunk
// ends, go-smtp's BDAT goroutine may call Data on the session that
// Close has just set to nil. go-smtp recovers it and logs it; no code
// of ours is on the stack.
func knownBDATPanic(l string) bool {
	return strings.Contains(l, "nil pointer dereference") &&
		strings.Contains(l, "handleBdat.func1()") &&
		!strings.Contains(l, "continuity/smtpd.")
}

// runSession sends in on a new connection, reads every reply, and
// returns when the server has closed the connection.
func runSession(t *testing.T, addr string, in []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		c.Write(in)
		c.(*net.TCPConn).CloseWrite()
	}()
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("session did not end: %v", err)
	}
}

// checkOnlyConfigured fails if a mailbox, queue entry or spool file
// exists that the configuration does not allow.
func checkOnlyConfigured(t *testing.T, e *env) {
	users := map[string]bool{"example.test/alice": true,
		"example.test/bob": true, "local.test/carol": true}
	mail := filepath.Join(e.data, "mail")
	doms, _ := os.ReadDir(mail)
	for _, d := range doms {
		boxes, _ := os.ReadDir(filepath.Join(mail, d.Name()))
		for _, b := range boxes {
			if !users[d.Name()+"/"+b.Name()] {
				t.Fatalf("mailbox for %s/%s", d.Name(), b.Name())
			}
		}
	}
	e.queue.mu.Lock()
	for id, q := range e.queue.entries {
		if q.domain != "example.test" && q.domain != "relay.test" {
			t.Errorf("queue entry %s for %s", id, q.domain)
		}
		for _, r := range q.rcpts {
			if !strings.HasSuffix(strings.ToLower(r), "@"+q.domain) {
				t.Errorf("queue entry %s has rcpt %q", id, r)
			}
		}
	}
	e.queue.mu.Unlock()
	if ents, _ := os.ReadDir(e.store.SpoolDir()); len(ents) != 0 {
		t.Fatalf("spool files left: %v", ents)
	}
}
