package imapd

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/testcert"
	"github.com/stratamail/continuity/store"
)

// TestLoginOnlyOverTLS runs a server without allow_insecure_auth: before
// STARTTLS it advertises LOGINDISABLED and refuses LOGIN; after it, the
// same login works.
func TestLoginOnlyOverTLS(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir)
	cert, _, _ := testcert.New(t, "mx.test")
	srv := New(Options{Store: st,
		Config:    func() *conf.Config { return cfg },
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	h := &harness{t: t, addr: l.Addr().String()}

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

	c, err := imapclient.DialStartTLS(h.addr, &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(alice, alicePW).Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
}
