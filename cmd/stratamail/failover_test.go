package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testMessage returns a CRLF message with a unique subject.
func testMessage(subject string) string {
	return "From: Sender <sender@elsewhere.test>\r\n" +
		"To: alice@example.test\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@elsewhere.test>\r\n" +
		"\r\n" +
		"Body of " + subject + ".\r\n" +
		"..a line that starts with a dot\r\n"
}

// TestFailover follows the main job: mail arrives while the primary is
// down, lands in the shadow Maildirs and the relay queue (one inode),
// reads back over IMAP, and reaches the primary byte for byte once it
// returns, after which the queue is empty.
func TestFailover(t *testing.T) {
	dir := t.TempDir()
	primaryAddr := freeAddr(t)
	e := startEnv(t, dir, primaryAddr)
	data := filepath.Join(dir, "data")

	// Three messages: two local recipients (one via an alias), a
	// relay-only domain, a local-only domain.
	sends := []struct {
		to   []string
		body string
	}{
		{[]string{"alice@example.test", "bob@example.test"},
			testMessage("to alice and bob")},
		{[]string{"SALES@Example.TEST"}, testMessage("to sales")},
		{[]string{"anyone@relay.test"}, testMessage("to relay")},
		{[]string{"carol@local.test"}, testMessage("to carol")},
	}
	for _, s := range sends {
		err := sendMail(t, e.smtp, "sender@elsewhere.test", s.to, s.body)
		if err != nil {
			t.Fatalf("send to %v: %v", s.to, err)
		}
	}

	// Shadow mailboxes: alice has two, bob one, carol one, over IMAP.
	want := map[string][]string{
		"alice@example.test": {sends[0].body, sends[1].body},
		"bob@example.test":   {sends[0].body},
		"carol@local.test":   {sends[3].body},
	}
	for user, bodies := range want {
		got := imapFetchAll(t, e.imap, user)
		if len(got) != len(bodies) {
			t.Fatalf("%s has %d messages over IMAP, want %d", user,
				len(got), len(bodies))
		}
		for i := range got {
			if b := stripReceived(t, got[i]); string(b) != bodies[i] {
				t.Errorf("%s message %d differs:\n%q\nwant\n%q", user,
					i+1, b, bodies[i])
			}
		}
	}

	// One inode: alice's copy, bob's copy and the queue entry.
	alice := maildirFiles(t, filepath.Join(data, "mail/example.test/alice"))
	bob := maildirFiles(t, filepath.Join(data, "mail/example.test/bob"))
	if len(alice) != 2 || len(bob) != 1 {
		t.Fatalf("files: alice %d, bob %d", len(alice), len(bob))
	}
	for _, p := range append(alice, bob...) {
		if !linkedInQueue(t, filepath.Join(data, "queue"), p) {
			t.Errorf("%s has no hard link in the queue", p)
		}
	}
	carol := maildirFiles(t, filepath.Join(data, "mail/local.test/carol"))
	if len(carol) != 1 || linkedInQueue(t, filepath.Join(data, "queue"),
		carol[0]) {
		t.Errorf("local mode: want 1 unqueued file, got %v", carol)
	}
	if n := queueLen(t, data, "example.test"); n != 2 {
		t.Errorf("example.test queue has %d entries, want 2", n)
	}
	if n := queueLen(t, data, "relay.test"); n != 1 {
		t.Errorf("relay.test queue has %d entries, want 1", n)
	}

	// The primary returns; the watcher flushes both domains' queues.
	p := startPrimary(t, primaryAddr)
	waitFor(t, "the queue to drain", 20*time.Second, func() bool {
		return queueLen(t, data, "") == 0
	})
	checkDelivered(t, p.received(), []primaryMsg{
		{"sender@elsewhere.test", []string{"alice@example.test",
			"bob@example.test"}, []byte(sends[0].body)},
		{"sender@elsewhere.test", []string{"SALES@Example.TEST"},
			[]byte(sends[1].body)},
		{"sender@elsewhere.test", []string{"anyone@relay.test"},
			[]byte(sends[2].body)},
	})
}

// checkDelivered compares what the primary received (in any order) with
// want, ignoring our Received header.
func checkDelivered(t *testing.T, got, want []primaryMsg) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("primary received %d messages, want %d", len(got),
			len(want))
	}
	for _, w := range want {
		i := slices.IndexFunc(got, func(g primaryMsg) bool {
			return bytes.Equal(stripReceived(t, g.data), w.data)
		})
		if i < 0 {
			t.Errorf("primary never received %.50q", w.data)
			continue
		}
		g := got[i]
		if g.from != w.from || !slices.Equal(g.to, w.to) {
			t.Errorf("envelope %s → %v, want %s → %v", g.from, g.to,
				w.from, w.to)
		}
	}
}

// TestReplyCodes pins every refusal of the intake to its reply code.
func TestReplyCodes(t *testing.T) {
	e := startEnv(t, t.TempDir(), freeAddr(t))
	line := strings.Repeat("x", 76) + "\r\n"
	big := testMessage("big") + strings.Repeat(line, 1000)
	tests := []struct {
		name string
		to   []string
		body string
		code int
	}{
		{"foreign domain", []string{"x@elsewhere.test"}, "", 554},
		{"unknown user", []string{"nobody@example.test"}, "", 550},
		{"unknown local-mode user", []string{"x@local.test"}, "", 550},
		{"too big", []string{"alice@example.test"}, big, 552},
		{"too many recipients", []string{"alice@example.test",
			"bob@example.test", "a@relay.test", "b@relay.test"}, "", 452},
		{"accepted", []string{"alice@example.test"},
			testMessage("ok"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == "" {
				body = testMessage(tt.name)
			}
			err := sendMail(t, e.smtp, "s@elsewhere.test", tt.to, body)
			if got := replyCode(err); got != tt.code {
				t.Errorf("reply %d (%v), want %d", got, err, tt.code)
			}
		})
	}
}

// TestVerificationWalkthrough is the product's verification walkthrough,
// with no restart: relay host set to the unreachable 127.0.0.2:25, a
// message sent and seen with "queue list", the relay host restored in
// the config file, the message delivered.
func TestVerificationWalkthrough(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, dir, "127.0.0.2:25")
	msg := testMessage("walkthrough")
	err := sendMail(t, e.smtp, "s@elsewhere.test",
		[]string{"alice@example.test"}, msg)
	if err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, 0, "queue", "list", "-config", e.cfgPath,
		"-domain", "example.test")
	if !strings.Contains(out, "s@elsewhere.test") ||
		!strings.Contains(out, "1 message(s)") {
		t.Fatalf("queue list does not show the message:\n%s", out)
	}

	// Restore the relay host by editing the file, and watch it arrive.
	primaryAddr := freeAddr(t)
	p := startPrimary(t, primaryAddr)
	e.writeConfig(t, primaryAddr, "")
	out = runCLI(t, 0, "queue", "flush", "-config", e.cfgPath,
		"-domain", "example.test", "-wait")
	if !strings.Contains(out, "example.test: flushed in") {
		t.Errorf("queue flush -wait:\n%s", out)
	}
	waitFor(t, "delivery", 20*time.Second, func() bool {
		return len(p.received()) == 1
	})
	checkDelivered(t, p.received(), []primaryMsg{{"s@elsewhere.test",
		[]string{"alice@example.test"}, []byte(msg)}})
	waitFor(t, "an empty queue", 5*time.Second, func() bool {
		return strings.Contains(runCLI(t, 0, "queue", "list", "-config",
			e.cfgPath), "0 message(s)")
	})
}

// runCLI runs a stratamail command in-process and returns its output,
// failing the test unless it exits with status want.
func runCLI(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if got := run(args, &out, &errb); got != want {
		t.Fatalf("stratamail %s: exit %d, want %d\n%s%s",
			strings.Join(args, " "), got, want, out.String(),
			errb.String())
	}
	return out.String() + errb.String()
}

func TestHelpAndUnknownCommand(t *testing.T) {
	out := runCLI(t, 0, "help")
	for _, c := range commands {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not mention %s", c.name)
		}
	}
	runCLI(t, 2, "frobnicate")
	runCLI(t, 0, "version")
}
