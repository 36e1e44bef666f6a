package smtpd

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/internal/authlimit"
	"github.com/stratamail/continuity/internal/testcert"
)

// subConfig is testConfig's domains and users behind a submission
// listener with insecure AUTH (loopback) and a cap of 3 messages an
// hour.
const subConfig = `
[server]
hostname = "mx.test.invalid"
data_dir = %q
max_message_size = "64KiB"
max_recipients = 10

[smtp]
listen = ["127.0.0.1:0"]

[imap]
listen = []

[submission]
listen = ["127.0.0.1:0"]
allow_insecure_auth = true
max_messages_per_hour = 3

` + testAccounts

// testClock is the abuse limits' clock, moved by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// subEnv is a submission server on loopback.
type subEnv struct {
	*env
	clock  *testClock
	mu     sync.Mutex
	delays []time.Duration // the delays after failed logins
}

// newSubEnv starts a submission server with the config text (a
// subConfig-like template) and, when tlsCfg is set, STARTTLS.
func newSubEnv(t testing.TB, text string, tlsCfg *tls.Config) *subEnv {
	t.Helper()
	se := &subEnv{clock: &testClock{now: time.Date(2026, 1, 2, 3, 4,
		5, 0, time.UTC)}}
	se.env = newEnv(t, func(s *Server) {
		s.opts.Submission = true
		s.opts.Now = se.clock.Now
		s.opts.TLSConfig = tlsCfg
		s.tune.sleep = func(d time.Duration) {
			se.mu.Lock()
			se.delays = append(se.delays, d)
			se.mu.Unlock()
		}
	})
	se.cfg.Store(parseConfig(t, text, se.data))
	return se
}

func (se *subEnv) takeDelays() []time.Duration {
	se.mu.Lock()
	defer se.mu.Unlock()
	d := se.delays
	se.delays = nil
	return d
}

func b64(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// step is one line of a dialogue and the reply it must get.
type authStep struct{ send, want string }

func TestSubmissionAuth(t *testing.T) {
	const user, pass = "alice@example.test", "secret"
	plain := b64("\x00" + user + "\x00" + pass)
	tests := []struct {
		name  string
		steps []authStep
		ok    bool
	}{
		{"PLAIN with initial response", []authStep{
			{"AUTH PLAIN " + plain, "235 2.0.0"}}, true},
		{"PLAIN after an empty challenge", []authStep{
			{"AUTH PLAIN", "334 "}, {plain, "235 2.0.0"}}, true},
		{"PLAIN with the user as authzid", []authStep{{"AUTH PLAIN " +
			b64(user+"\x00"+user+"\x00"+pass), "235 2.0.0"}}, true},
		{"PLAIN login name in another case", []authStep{{"AUTH PLAIN " +
			b64("\x00ALICE@Example.TEST\x00"+pass), "235 2.0.0"}}, true},
		{"LOGIN as Roundcube sends it", []authStep{
			{"AUTH LOGIN", "334 VXNlcm5hbWU6"},
			{b64(user), "334 UGFzc3dvcmQ6"},
			{b64(pass), "235 2.0.0"}}, true},
		{"LOGIN with initial response", []authStep{
			{"AUTH LOGIN " + b64(user), "334 UGFzc3dvcmQ6"},
			{b64(pass), "235 2.0.0"}}, true},
		{"PLAIN wrong password", []authStep{{"AUTH PLAIN " +
			b64("\x00"+user+"\x00nope"), "535 5.7.8"}}, false},
		{"PLAIN unknown user", []authStep{{"AUTH PLAIN " +
			b64("\x00eve@example.test\x00"+pass), "535 5.7.8"}}, false},
		{"PLAIN as another user", []authStep{{"AUTH PLAIN " +
			b64("bob@example.test\x00"+user+"\x00"+pass),
			"535 5.7.8"}}, false},
		{"LOGIN wrong password", []authStep{
			{"AUTH LOGIN", "334 VXNlcm5hbWU6"},
			{b64(user), "334 UGFzc3dvcmQ6"},
			{b64("nope"), "535 5.7.8"}}, false},
		{"LOGIN cancelled", []authStep{
			{"AUTH LOGIN", "334 VXNlcm5hbWU6"}, {"*", "501 5.0.0"}},
			false},
		{"alias is no login name", []authStep{{"AUTH PLAIN " +
			b64("\x00sales@example.test\x00"+pass), "535 5.7.8"}},
			false},
		{"mechanism not offered", []authStep{
			{"AUTH CRAM-MD5", "504 5.7.4"}}, false},
	}
	se := newSubEnv(t, subConfig, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := se.dial()
			ehlo := d.cmd("EHLO client.test", "250 ")
			if !strings.Contains(ehlo, "250-AUTH PLAIN LOGIN") {
				t.Fatalf("EHLO offers no AUTH PLAIN LOGIN:\n%s", ehlo)
			}
			for _, s := range tc.steps {
				d.cmd(s.send, s.want)
			}
			if tc.ok {
				d.cmd("MAIL FROM:<"+user+">", "250 ")
			} else {
				d.cmd("MAIL FROM:<"+user+">", "530 5.7.0")
			}
		})
	}
	logs := se.logs.String()
	if strings.Contains(logs, pass) || strings.Contains(logs, b64(pass)) {
		t.Errorf("a password is in the log:\n%s", logs)
	}
}

func TestPort25HasNoAuth(t *testing.T) {
	e := newEnv(t)
	d := e.dial()
	if ehlo := d.cmd("EHLO client.test", "250 "); strings.Contains(ehlo,
		"AUTH") {
		t.Errorf("port 25 offers AUTH:\n%s", ehlo)
	}
	d.cmd("AUTH PLAIN "+b64("\x00alice@example.test\x00secret"), "5")
}

// authed returns a go-smtp client logged in as user on se.
func (se *subEnv) authed(t *testing.T, user string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(se.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewLoginClient(user, "secret")); err != nil {
		t.Fatal(err)
	}
	return c
}

// code returns the reply code of err: basic and enhanced, or "250"
// for nil (go-smtp's client does not return the codes of a success).
func code(err error) string {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return "250"
	case errors.As(err, &se):
		e := se.EnhancedCode
		return fmt.Sprintf("%d %d.%d.%d", se.Code, e[0], e[1], e[2])
	}
	return err.Error()
}

// submit sends one message as an authenticated user and returns the
// reply to MAIL, or to the end of DATA.
func submit(t *testing.T, c *smtp.Client, from, msg string) string {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		return code(err)
	}
	if err := c.Rcpt("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	return code(w.Close())
}

func fromMsg(from string) string {
	return "From: " + from + "\r\nTo: <bob@example.test>\r\n" +
		"Subject: hi\r\n\r\nHello.\r\n"
}

func TestSubmissionSenderChecks(t *testing.T) {
	tests := []struct {
		name, from, msg, want string
	}{
		{"own address", "alice@example.test",
			fromMsg("Alice <alice@example.test>"), "250"},
		{"alias, encoded name", "sales@example.test",
			fromMsg("=?iso-8859-1?q?Al=E9?= <Sales@Example.test>"),
			"250"},
		{"spoofed MAIL FROM", "bob@example.test",
			fromMsg("<alice@example.test>"), "553 5.7.1"},
		{"foreign MAIL FROM", "ceo@elsewhere.test",
			fromMsg("<alice@example.test>"), "553 5.7.1"},
		{"null sender", "", fromMsg("<alice@example.test>"),
			"553 5.7.1"},
		{"spoofed From:", "alice@example.test",
			fromMsg("Bob <bob@example.test>"), "553 5.7.1"},
		{"second author in From:", "alice@example.test",
			fromMsg("<alice@example.test>, <bob@example.test>"),
			"553 5.7.1"},
		{"spoofed Sender:", "alice@example.test",
			"Sender: <bob@example.test>\r\n" +
				fromMsg("<alice@example.test>"), "553 5.7.1"},
		{"two From: fields", "alice@example.test",
			"From: <alice@example.test>\r\n" +
				fromMsg("<bob@example.test>"), "550 5.6.0"},
		{"From: an empty group", "alice@example.test",
			fromMsg("undisclosed:;"), "550 5.6.0"},
		{"no From:", "alice@example.test",
			"Subject: x\r\n\r\nbody\r\n", "550 5.6.0"},
		{"From: that does not parse", "alice@example.test",
			fromMsg("alice@"), "550 5.6.0"},
	}
	se := newSubEnv(t, strings.Replace(subConfig,
		"max_messages_per_hour = 3", "max_messages_per_hour = 100", 1),
		nil)
	stored := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := se.authed(t, "alice@example.test")
			if got := submit(t, c, tc.from, tc.msg); got != tc.want {
				t.Errorf("reply %s, want %s", got, tc.want)
			}
			if tc.want == "250" {
				stored++
			}
			if n := len(se.newFiles("bob@example.test")); n != stored {
				t.Errorf("%d messages stored, want %d", n, stored)
			}
		})
	}
	se.checkSpoolEmpty()
}

func TestSubmissionNeedsAuth(t *testing.T) {
	se := newSubEnv(t, subConfig, nil)
	d := se.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0")
	d.cmd("RCPT TO:<bob@example.test>", "502 5.5.1")
	se.checkNothingStored()
}

func TestSubmissionMixedRecipients(t *testing.T) {
	se := newSubEnv(t, subConfig, nil)
	c := se.authed(t, "alice@example.test")
	if err := c.Mail("alice@example.test", nil); err != nil {
		t.Fatal(err)
	}
	rcpts := []struct{ addr, want string }{
		{"bob@example.test", "250"},      // both: INBOX and primary
		{"carol@local.test", "250"},      // local: INBOX only
		{"x@relay.test", "250"},          // relay: primary only
		{"friend@elsewhere.test", "250"}, // outbound
		{"nobody@example.test", "550 5.1.1"},
		{"Pal@Elsewhere.test", "250"}, // outbound, same domain
		{"other@else.test", "250"},    // outbound, own entry
	}
	for _, r := range rcpts {
		if got := code(c.Rcpt(r.addr, nil)); got != r.want {
			t.Errorf("RCPT %s: %s, want %s", r.addr, got, r.want)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, fromMsg("<alice@example.test>"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob@example.test", "carol@local.test"} {
		files := se.newFiles(u)
		if len(files) != 1 {
			t.Fatalf("%s has %d messages", u, len(files))
		}
		b, _ := os.ReadFile(files[0])
		if !strings.Contains(string(b), " with ESMTPA id ") {
			t.Errorf("Received header without ESMTPA:\n%s", b)
		}
	}
	want := map[string][]string{
		"example.test":            {"bob@example.test"},
		"relay.test":              {"x@relay.test"},
		"outbound:elsewhere.test": {"friend@elsewhere.test", "Pal@Elsewhere.test"},
		"outbound:else.test":      {"other@else.test"},
	}
	if n := se.queue.len(); n != len(want) {
		t.Errorf("%d queue entries, want %d", n, len(want))
	}
	for dom, rc := range want {
		got := se.queue.byDomain(dom)
		if len(got) != 1 || !slices.Equal(got[0].rcpts, rc) ||
			got[0].from != "alice@example.test" {
			t.Errorf("queue for %s: %+v, want %q", dom, got, rc)
		}
	}
	if !strings.Contains(se.logs.String(), `user=alice@example.test`) {
		t.Errorf("the transaction's log line has no user")
	}
}

// newTLSSubEnv starts a submission server that offers AUTH only
// under TLS.
func newTLSSubEnv(t *testing.T) *subEnv {
	dir := t.TempDir()
	cert, key := testcert.WritePair(t, dir, "mx", "mx.test.invalid")
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}}
	text := strings.Replace(subConfig, "allow_insecure_auth = true",
		"allow_insecure_auth = false", 1)
	text = strings.Replace(text, "[[domain]]", fmt.Sprintf(
		"[tls]\ncert = %q\nkey = %q\n\n[[domain]]", cert, key), 1)
	return newSubEnv(t, text, cfg)
}

var clientTLS = &tls.Config{InsecureSkipVerify: true,
	ServerName: "mx.test.invalid"}

func TestSubmissionAuthNeedsTLS(t *testing.T) {
	se := newTLSSubEnv(t)
	d := se.dial()
	ehlo := d.cmd("EHLO client.test", "250 ")
	if strings.Contains(ehlo, "AUTH") ||
		!strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO before TLS:\n%s", ehlo)
	}
	// go-smtp's own reply (RFC 4954 §4 lets a server refuse a
	// mechanism it does not offer in this state).
	d.cmd("AUTH PLAIN "+b64("\x00alice@example.test\x00secret"),
		"523 5.7.10")
	d.cmd("MAIL FROM:<alice@example.test>", "530 5.7.0")

	// After STARTTLS, both mechanisms work.
	for _, mech := range []sasl.Client{
		sasl.NewPlainClient("", "alice@example.test", "secret"),
		sasl.NewLoginClient("alice@example.test", "secret"),
	} {
		c, err := smtp.DialStartTLS(se.addr, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Auth(mech); err != nil {
			t.Fatal(err)
		}
		if got := submit(t, c, "alice@example.test",
			fromMsg("<alice@example.test>")); got != "250" {
			t.Errorf("after STARTTLS and AUTH: %s", got)
		}
		c.Close()
	}
	b, _ := os.ReadFile(se.newFiles("bob@example.test")[0])
	if !strings.Contains(string(b), " with ESMTPSA id ") {
		t.Errorf("Received header without ESMTPSA:\n%s", b)
	}
}

func TestSubmissionImplicitTLS(t *testing.T) {
	se := newTLSSubEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go se.srv.ServeTLS(l)
	c, err := smtp.DialTLS(l.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Fatalf("AUTH %v %q under implicit TLS", ok, mechs)
	}
	err = c.Auth(sasl.NewPlainClient("", "alice@example.test", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	if got := submit(t, c, "alice@example.test",
		fromMsg("<alice@example.test>")); got != "250" {
		t.Errorf("submission over implicit TLS: %s", got)
	}
}

func TestFailedLoginThrottle(t *testing.T) {
	se := newSubEnv(t, subConfig, nil)
	bad := "AUTH PLAIN " + b64("\x00alice@example.test\x00wrong")
	good := "AUTH PLAIN " + b64("\x00alice@example.test\x00secret")
	d := se.dial()
	d.cmd("EHLO client.test", "250 ")
	for i := 1; i < authlimit.PerUser.Limit; i++ {
		d.cmd(bad, "535 5.7.8")
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second,
		8 * time.Second, 15 * time.Second, 15 * time.Second,
		15 * time.Second}
	if got := se.takeDelays(); !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	d.cmd(bad, "421 4.7.0")
	if _, err := d.r.ReadByte(); err != io.EOF {
		t.Errorf("connection open after the 421: %v", err)
	}

	// Locked out, even with the right password, until the lockout
	// ends.
	d = se.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd(good, "421 4.7.0")
	se.clock.advance(authlimit.PerUser.Lockout)
	d = se.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd(good, "235 2.0.0")
	logs := se.logs.String()
	for _, want := range []string{`msg="login failed"`,
		`msg="login locked out"`, `msg="login refused: locked out"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s in the log", want)
		}
	}
}

func TestHourlyCap(t *testing.T) {
	se := newSubEnv(t, subConfig, nil) // 3 an hour
	c := se.authed(t, "alice@example.test")
	msg := fromMsg("<alice@example.test>")
	for i := range 3 {
		if got := submit(t, c, "alice@example.test", msg); got !=
			"250" {
			t.Fatalf("message %d: %s", i+1, got)
		}
		se.clock.advance(time.Minute)
	}
	if got := submit(t, c, "alice@example.test", msg); got !=
		"450 4.7.0" {
		t.Errorf("over the cap: %s", got)
	}
	// Another user has a cap of their own.
	bob := se.authed(t, "bob@example.test")
	if got := submit(t, bob, "bob@example.test",
		fromMsg("<bob@example.test>")); got != "250" {
		t.Errorf("bob: %s", got)
	}
	se.clock.advance(time.Hour - 3*time.Minute)
	c.Reset()
	if got := submit(t, c, "alice@example.test", msg); got !=
		"250" {
		t.Errorf("an hour after the first: %s", got)
	}
	if !strings.Contains(se.logs.String(),
		`reason="over max_messages_per_hour"`) {
		t.Errorf("the refusal is not logged")
	}
}

// FuzzSubmissionSession feeds whole sessions to the submission service.
// No session may panic or leave a spool file, and whatever is queued or
// stored was sent by a logged-in user as one of their own addresses.
func FuzzSubmissionSession(f *testing.F) {
	auth := "AUTH PLAIN " + b64("\x00alice@example.test\x00secret")
	for _, s := range []string{
		"EHLO c\r\n" + auth + "\r\nMAIL FROM:<alice@example.test>\r\n" +
			"RCPT TO:<bob@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\n" +
			"DATA\r\nFrom: <alice@example.test>\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO c\r\nAUTH LOGIN\r\n" + b64("alice@example.test") + "\r\n" +
			b64("secret") + "\r\nMAIL FROM:<sales@example.test>\r\n" +
			"RCPT TO:<y@else.test>\r\nBDAT 27\r\n" +
			"From: sales@example.test\r\n\r\nBDAT 0 LAST\r\n",
		"EHLO c\r\nMAIL FROM:<bob@example.test>\r\nRCPT TO:<x@y.test>\r\n",
		"EHLO c\r\n" + auth + "\r\nMAIL FROM:<bob@example.test>\r\n",
		"EHLO c\r\nAUTH LOGIN " + b64("a") + "\r\n*\r\nAUTH X\r\n",
	} {
		f.Add([]byte(s))
	}
	se := newSubEnv(f, strings.Replace(subConfig,
		"max_messages_per_hour = 3", "max_messages_per_hour = 1000000",
		1), nil)
	se.srv.tune.sleep = func(time.Duration) {} // failures are many
	f.Fuzz(func(t *testing.T, in []byte) {
		se.clock.advance(authlimit.PerUser.Lockout) // no lockout between inputs
		runSession(t, se.addr, in)
		se.srv.busy.Wait()
		checkNoPanic(t, se.logs.take())
		if ents, _ := os.ReadDir(se.store.SpoolDir()); len(ents) != 0 {
			t.Fatalf("spool files left: %v", ents)
		}
		cfg := se.cfg.Load()
		se.queue.mu.Lock()
		defer se.queue.mu.Unlock()
		for id, q := range se.queue.entries {
			if u := cfg.User(q.from); u == nil && q.from !=
				"sales@example.test" {
				t.Errorf("entry %s queued from %q", id, q.from)
			}
		}
	})
}
