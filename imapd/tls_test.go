package imapd

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

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
