package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/relayq"
)

// The end-to-end tests run the whole service as "stratamail serve" does,
// on ephemeral loopback ports, and drive it with real SMTP and IMAP
// clients over sockets.

// testPassword is the password of every test user; its hash is made once.
const testPassword = "correct horse"

var testHash = sync.OnceValue(func() string {
	h, err := conf.HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// freeAddr returns a loopback address where nothing listens (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// testEnv is a running service plus what the tests need to reach it.
type testEnv struct {
	dir, cfgPath, smtp, imap, primary string
	cancel                            context.CancelFunc
	done                              chan error
}

const e2eConfig = `
[server]
hostname = "mx.test.invalid"
data_dir = %q
retry_interval = "5m"
probe_interval = "100ms"
max_message_size = "64KiB"
max_recipients = 3

[smtp]
listen = [%q]

[imap]
listen = [%q]
allow_insecure_auth = true

[[domain]]
name = "example.test"
mode = "both"
relay = %q
monitor = true

[[domain]]
name = "relay.test"
mode = "relay"
relay = %[4]q

[[domain]]
name = "local.test"
mode = "local"

[[user]]
address = "alice@example.test"
password = %[5]q
aliases = ["sales@example.test"]

[[user]]
address = "bob@example.test"
password = %[5]q

[[user]]
address = "carol@local.test"
password = %[5]q
%[6]s`

// startEnv writes a config with the primary at primary, and the TOML
// tables of extra, and starts the service from it, as "stratamail serve
// -config" would.
func startEnv(t *testing.T, dir, primary string, extra ...string) *testEnv {
	t.Helper()
	e := &testEnv{dir: dir, primary: primary,
		smtp: freeAddr(t), imap: freeAddr(t)}
	e.cfgPath = filepath.Join(dir, "stratamail.toml")
	e.writeConfig(t, primary, strings.Join(extra, "\n"))
	cfg, err := conf.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	svc, err := startService(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- svc.run(ctx) }()
	t.Cleanup(e.stop)
	return e
}

// writeConfig writes the config file with the primary at primary and
// extra TOML at its end, as editors save: a new file renamed over the
// old one.
func (e *testEnv) writeConfig(t *testing.T, primary, extra string) {
	t.Helper()
	text := fmt.Sprintf(e2eConfig, filepath.Join(e.dir, "data"), e.smtp,
		e.imap, primary, testHash(), extra)
	tmp := e.cfgPath + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.cfgPath); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	<-e.done
	e.cancel = nil
}

// testWriter sends the service's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// sendMail sends one message and returns the server's error, if any.
func sendMail(t *testing.T, addr, from string, to []string,
	body string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// replyCode returns the SMTP reply code of err, or 0.
func replyCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// stripReceived removes our Received: header (the first field, possibly
// folded) from a stored message.
func stripReceived(t *testing.T, msg []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(msg, []byte("Received:")) {
		t.Fatalf("message does not start with Received: %.60q", msg)
	}
	i := bytes.Index(msg, []byte("\r\n"))
	for i >= 0 && i+2 < len(msg) && (msg[i+2] == ' ' || msg[i+2] == '\t') {
		j := bytes.Index(msg[i+2:], []byte("\r\n"))
		i += 2 + j
	}
	return msg[i+2:]
}

// imapFetchAll logs in as user and returns the full text of every INBOX
// message, in UID order.
func imapFetchAll(t *testing.T, addr, user string) [][]byte {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, testPassword).Wait(); err != nil {
		t.Fatalf("IMAP login %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	body := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1, sel.NumMessages),
		&imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		out = append(out, m.FindBodySection(body))
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
	return out
}

// primary is a go-smtp server standing in for the customer's server: it
// records every message it accepts.
type primary struct {
	mu   sync.Mutex
	msgs []primaryMsg
	srv  *smtp.Server
}

type primaryMsg struct {
	from string
	to   []string
	data []byte
}

func startPrimary(t *testing.T, addr string) *primary {
	t.Helper()
	p := &primary{}
	p.srv = smtp.NewServer(smtp.BackendFunc(
		func(*smtp.Conn) (smtp.Session, error) {
			return &primarySession{p: p}, nil
		}))
	p.srv.Domain = "primary.test"
	p.srv.MaxLineLength = 1 << 16
	var l net.Listener
	var err error
	for range 50 { // the port was just free; retry briefly if not
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go p.srv.Serve(l)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *primary) received() []primaryMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]primaryMsg(nil), p.msgs...)
}

type primarySession struct {
	p    *primary
	from string
	to   []string
}

func (s *primarySession) Mail(f string, _ *smtp.MailOptions) error {
	s.from = f
	return nil
}

// Rcpt refuses nobody@ in any domain with 550 5.1.1, so that tests can
// have a permanent refusal.
func (s *primarySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550,
			EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message:      "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *primarySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.p.mu.Lock()
	s.p.msgs = append(s.p.msgs, primaryMsg{s.from, s.to, b})
	s.p.mu.Unlock()
	return nil
}

func (s *primarySession) Reset()        { s.from, s.to = "", nil }
func (s *primarySession) Logout() error { return nil }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func queueLen(t *testing.T, dataDir, domain string) int {
	t.Helper()
	entries, err := relayq.ReadDir(filepath.Join(dataDir, "queue"), domain)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// maildirFiles returns the message files in a Maildir's new/ and cur/.
func maildirFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(root, sub))
		for _, e := range ents {
			out = append(out, filepath.Join(root, sub, e.Name()))
		}
	}
	return out
}

// linkedInQueue reports whether a file in the queue folder is the same
// inode as path.
func linkedInQueue(t *testing.T, queueDir, path string) bool {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	filepath.WalkDir(queueDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if qi, err := os.Stat(p); err == nil && os.SameFile(fi, qi) {
			found = true
		}
		return nil
	})
	return found
}
