package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/internal/testcert"
)

// TestLoginOnlyOverTLS runs a server without allow_insecure_auth: before
// STARTTLS it advertises LOGINDISABLED and refuses LOGIN; after it, the
// same login works.
func TestLoginOnlyOverTLS(t *testing.T) {
	cert, _, _ := testcert.New(t, "mx.test")
	h := startWith(t, t.TempDir(), func(o *Options) {
		o.InsecureAuth = false
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})

	r := h.raw(false)
	caps := strings.Join(r.cmd("CAPABILITY"), "\n")
	for _, want := range []string{"LOGINDISABLED", "STARTTLS"} {
		if !strings.Contains(caps, want) {
			t.Errorf("no %s before TLS: %s", want, caps)
		}
	}
	if strings.Contains(caps, "AUTH=PLAIN") {
		t.Errorf("AUTH=PLAIN offered in clear text: %s", caps)
	}
	if got := last(r.cmd("LOGIN " + alice + " " + alicePW)); !strings.
		Contains(got, "NO") && !strings.Contains(got, "BAD") {
		t.Errorf("LOGIN in clear text: %q", got)
	}

	h.dialSTARTTLS()
}

// TestImplicitTLS serves IMAP with implicit TLS (ServeTLS): LOGIN is
// offered and works, STARTTLS and LOGINDISABLED are not offered, and
// SORT is, since the guard reads above TLS.
func TestImplicitTLS(t *testing.T) {
	cert, _, _ := testcert.New(t, "mx.test")
	h := startWith(t, t.TempDir(), func(o *Options) {
		o.InsecureAuth = false
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	h.deliver(testMsg("one", "first"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.srv.ServeTLS(l)
	c, err := tls.Dial("tcp", l.Addr().String(),
		&tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := &raw{t: t, c: c, br: bufio.NewReader(c)}
	r.line() // greeting
	caps := strings.Fields(r.cmd("CAPABILITY")[0])
	for cap, want := range map[string]bool{"SORT": true, "AUTH=PLAIN": true,
		"STARTTLS": false, "LOGINDISABLED": false} {
		if slices.Contains(caps, cap) != want {
			t.Errorf("%s offered: %v (%v)", cap, !want, caps)
		}
	}
	if l := last(r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW))); !strings.
		Contains(l, " OK ") {
		t.Fatalf("LOGIN: %q", l)
	}
	r.cmd("SELECT INBOX")
	if l := r.cmd("UID SORT (DATE) UTF-8 ALL"); len(l) != 2 || l[0] != "* SORT 1" {
		t.Errorf("SORT over implicit TLS: %q", l)
	}
}
