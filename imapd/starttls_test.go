package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/internal/testcert"
)

// transports are the ways a client reaches the guard: clear text, and
// STARTTLS, whose TLS the guard does itself (starttls.go).
var transports = []string{"plain", "STARTTLS"}

// startTLSHarness starts a server that offers STARTTLS; tune, when
// given, adjusts its options.
func startTLSHarness(t *testing.T, tune ...func(*Options)) *harness {
	t.Helper()
	cert, _, _ := testcert.New(t, "mx.test")
	return startWith(t, t.TempDir(), func(o *Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		for _, f := range tune {
			f(o)
		}
	})
}

// rawVia opens a raw dialogue over transport, logged in as alice if
// login is set.
func (h *harness) rawVia(transport string, login bool) *raw {
	h.t.Helper()
	if transport == "plain" {
		return h.raw(login)
	}
	r := h.raw(false).startTLS()
	if login {
		r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW))
	}
	return r
}

// startTLS sends STARTTLS, does the handshake and returns the dialogue
// in TLS.
func (r *raw) startTLS() *raw {
	r.t.Helper()
	if l := last(r.cmd("STARTTLS")); !strings.Contains(l, " OK ") {
		r.t.Fatalf("STARTTLS: %q", l)
	}
	return r.handshake()
}

// handshake does the client's TLS handshake on r's connection and
// returns the dialogue in TLS.
func (r *raw) handshake() *raw {
	r.t.Helper()
	tc := tls.Client(r.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		r.t.Fatal(err)
	}
	return &raw{t: r.t, c: tc, br: bufio.NewReader(tc), n: r.n}
}

// TestSTARTTLSByGuard checks the guard's own STARTTLS: commands
// pipelined behind it in clear text never run; no greeting follows it;
// the session in TLS allows LOGIN, offers SORT and no STARTTLS, and is
// guarded (an empty line dropped, SORT answered as SORT).
func TestSTARTTLSByGuard(t *testing.T) {
	h := startTLSHarness(t)
	h.deliver(testMsg("b", "second"))
	h.deliver(testMsg("a", "first"))
	r := h.raw(false)
	r.send("s1 STARTTLS\r\ns2 LOGIN " + alice + " " + alicePW +
		"\r\ns3 CREATE Injected\r\n")
	if l := r.line(); !strings.HasPrefix(l, "s1 OK ") {
		t.Fatalf("STARTTLS: %q", l)
	}
	r = r.handshake()
	caps := r.cmd("CAPABILITY")
	if !strings.HasPrefix(caps[0], "* CAPABILITY ") {
		t.Fatalf("first line in TLS: %q (a greeting?)", caps)
	}
	for _, want := range []string{" SORT", " AUTH=PLAIN"} {
		if !strings.Contains(caps[0], want) {
			t.Errorf("no%s in TLS: %q", want, caps[0])
		}
	}
	for _, not := range []string{"STARTTLS", "LOGINDISABLED"} {
		if strings.Contains(caps[0], not) {
			t.Errorf("%s offered in TLS: %q", not, caps[0])
		}
	}
	if l := last(r.cmd("SELECT INBOX")); !strings.Contains(l, "NO") &&
		!strings.Contains(l, "BAD") {
		t.Errorf("the pipelined LOGIN ran: SELECT got %q", l)
	}
	r.send("\r\n") // iOS Mail's empty line: dropped by the guard
	r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW))
	r.cmd("SELECT INBOX")
	got := r.cmd("UID SORT (SUBJECT) UTF-8 ALL")
	if got[0] != "* SORT 2 1" || !strings.Contains(last(got), " OK ") {
		t.Errorf("UID SORT in TLS: %q", got)
	}
	if l := last(r.cmd("STARTTLS")); !strings.Contains(l, " BAD ") &&
		!strings.Contains(l, " NO ") {
		t.Errorf("second STARTTLS: %q", l)
	}
	if h.hasFolder("Injected") {
		t.Errorf("the pipelined CREATE ran")
	}
}

// TestSTARTTLSRefusedGoesOn: a STARTTLS imapserver refuses (after a
// login, allowed in clear text on loopback) leaves the connection as it
// was, and what the client sent behind it is read as usual.
func TestSTARTTLSRefusedGoesOn(t *testing.T) {
	h := startTLSHarness(t)
	r := h.raw(true)
	r.send("s1 STARTTLS\r\ns2 NOOP\r\n\r\ns3 SELECT INBOX\r\n")
	lines := r.upTo("s3 ")
	if !strings.HasPrefix(lines[0], "s1 BAD ") {
		t.Errorf("STARTTLS after login: %q", lines)
	}
	if l := last(lines); !strings.HasPrefix(l, "s3 OK ") {
		t.Errorf("after the refused STARTTLS: %q", lines)
	}
}

// TestSTARTTLSHandshakeFails: clear text where the handshake should be
// ends the connection, and its place in the per-address count is
// given back.
func TestSTARTTLSHandshakeFails(t *testing.T) {
	h := startTLSHarness(t, func(o *Options) { o.CountLoopback = true })
	for i := range maxConnsPerAddr + 2 {
		r := h.raw(false)
		r.send("s1 STARTTLS\r\n")
		if l := r.line(); !strings.HasPrefix(l, "s1 OK ") {
			t.Fatalf("STARTTLS %d: %q", i, l)
		}
		r.send("s2 LOGIN " + alice + " " + alicePW + "\r\n")
		r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(r.br)
		if err != nil || len(b) > 0 && b[0] != 0x15 { // a TLS alert
			t.Fatalf("after a failed handshake: %q, %v", b, err)
		}
		r.c.Close()
	}
}

// TestSTARTTLSUnicodeName: imapserver upper-cases command names with
// strings.ToUpper, so "ſtarttls" (U+017F) is STARTTLS to it; the guard
// must read it so too and do the TLS itself, guarded above it.
func TestSTARTTLSUnicodeName(t *testing.T) {
	h := startTLSHarness(t)
	r := h.raw(false)
	r.send("s1 \u017ftarttls\r\n")
	if l := r.line(); !strings.HasPrefix(l, "s1 OK ") {
		t.Fatalf("STARTTLS: %q", l)
	}
	r = r.handshake()
	if caps := r.cmd("CAPABILITY"); !strings.Contains(caps[0], " SORT") {
		t.Errorf("in TLS: %q", caps)
	}
}
