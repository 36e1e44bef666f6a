package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/relayq"
)

// TestSubmissionEndToEnd sends as alice through the submission listener
// of a whole service, as Roundcube would (AUTH LOGIN on loopback), to a
// local user, an outside recipient and one the smarthost refuses: bob
// reads it over IMAP, the smarthost gets it, and alice reads the DSN.
func TestSubmissionEndToEnd(t *testing.T) {
	smarthost := freeAddr(t)
	sh := startPrimary(t, smarthost)
	sub := freeAddr(t)
	e := startEnv(t, t.TempDir(), freeAddr(t), fmt.Sprintf(`
[submission]
listen = [%q]
allow_insecure_auth = true

[outbound]
smarthost = %q
`, sub, smarthost))

	c, err := smtp.Dial(sub)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("roundcube.test"); err != nil {
		t.Fatal(err)
	}
	err = c.Auth(sasl.NewLoginClient("alice@example.test", testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"bob@example.test",
		"friend@elsewhere.test", "nobody@elsewhere.test"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: Alice <alice@example.test>\r\n"+
		"To: bob@example.test, friend@elsewhere.test\r\n"+
		"Subject: reply during the outage\r\n\r\nOn it.\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	waitFor(t, "the smarthost's copy", 10*time.Second, func() bool {
		return len(sh.received()) == 1
	})
	if got := sh.received()[0]; got.from != "alice@example.test" ||
		!slices.Equal(got.to, []string{"friend@elsewhere.test"}) {
		t.Errorf("smarthost got %q → %q", got.from, got.to)
	}
	if msgs := imapFetchAll(t, e.imap, "bob@example.test"); len(msgs) !=
		1 || !strings.Contains(string(msgs[0]), "reply during") {
		t.Errorf("bob's INBOX: %d messages", len(msgs))
	}
	var dsn []byte
	waitFor(t, "the DSN in alice's INBOX", 10*time.Second, func() bool {
		msgs := imapFetchAll(t, e.imap, "alice@example.test")
		if len(msgs) == 1 {
			dsn = msgs[0]
		}
		return dsn != nil
	})
	for _, want := range []string{"report-type=delivery-status",
		"Final-Recipient: rfc822; nobody@elsewhere.test",
		"Status: 5.1.1", "Subject: reply during the outage"} {
		if !strings.Contains(string(dsn), want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
}

func TestPrintQueueRoute(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b strings.Builder
	printQueue(&b, []relayq.Entry{
		{ID: "a", Domain: "example.test", Route: "relay",
			Sender: "s@x.test", Recipients: []string{"bob@example.test"},
			Arrived: now},
		{ID: "b", Domain: "elsewhere.test", Route: "outbound",
			Sender:     "alice@example.test",
			Recipients: []string{"friend@elsewhere.test"},
			Arrived:    now},
	}, now)
	lines := strings.Split(b.String(), "\n")
	for i, want := range [][]string{
		{"ID", "DOMAIN", "ROUTE", "SENDER"},
		{"a", "example.test", "relay", "s@x.test"},
		{"b", "elsewhere.test", "outbound", "alice@example.test"},
	} {
		if got := strings.Fields(lines[i]); !slices.Equal(got[:4], want) {
			t.Errorf("line %d: %q, want %q...", i, lines[i], want)
		}
	}
}
