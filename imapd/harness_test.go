package imapd

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/crypto/bcrypt"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

const (
	alice    = "alice@example.com"
	alicePW  = "correct horse battery"
	aliasBob = "al@example.com"
)

const bob = "bob@example.com" // password alicePW, hashed by conf

var (
	hashOnce sync.Once
	pwHash   string // cheap bcrypt, so that -race runs stay fast
	bobHash  string // conf.HashPassword's, as an operator makes it
)

// testConfig builds a configuration through conf.Parse, as the server
// gets it, with two users whose password is alicePW.
func testConfig(t testing.TB, dataDir string) *conf.Config {
	t.Helper()
	hashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(alicePW),
			bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		pwHash = string(h)
		if bobHash, err = conf.HashPassword(alicePW); err != nil {
			panic(err)
		}
	})
	doc := fmt.Sprintf(`
[server]
hostname = "mx.test"
data_dir = %q

[smtp]
listen = ["127.0.0.1:2525"]

[imap]
listen = ["127.0.0.1:1143"]
allow_insecure_auth = true

[[domain]]
name = "example.com"
mode = "local"

[[user]]
address = %q
password = %q
aliases = [%q]

[[user]]
address = %q
password = %q
`, dataDir, alice, pwHash, aliasBob, bob, bobHash)
	cfg, err := conf.Parse("test.toml", []byte(doc))
	if err != nil {
		t.Fatalf("conf.Parse: %v", err)
	}
	return cfg
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a running server over a real Store on 127.0.0.1.
type harness struct {
	t    testing.TB
	dir  string
	st   *store.Store
	srv  *Server
	addr string
	log  *syncBuffer
	naps *naps // the login limits' delays, taken without sleeping
}

// naps records the delays the server would sleep.
type naps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (n *naps) sleep(d time.Duration) {
	n.mu.Lock()
	n.d = append(n.d, d)
	n.mu.Unlock()
}

func (n *naps) take() []time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.d
	n.d = nil
	return d
}

// start runs a server on dir (reused across restarts).
func start(t testing.TB, dir string) *harness {
	t.Helper()
	return startWith(t, dir, nil)
}

// startWith is start with tune, when not nil, adjusting the server's
// options first.
func startWith(t testing.TB, dir string, tune func(*Options)) *harness {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir)
	logs := &syncBuffer{}
	slept := &naps{}
	opts := Options{
		Sleep:        slept.sleep,
		Store:        st,
		Config:       func() *conf.Config { return cfg },
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		InsecureAuth: true,
		IdlePoll:     50 * time.Millisecond,
	}
	if tune != nil {
		tune(&opts)
	}
	srv := New(opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	h := &harness{t: t, dir: dir, st: st, srv: srv,
		addr: l.Addr().String(), log: logs, naps: slept}
	t.Cleanup(func() { srv.Close() })
	return h
}

// dial connects a go-imap client and logs in as alice.
func (h *harness) dial(opts *imapclient.Options) *imapclient.Client {
	h.t.Helper()
	c, err := imapclient.DialInsecure(h.addr, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.Login(alice, alicePW).Wait(); err != nil {
		h.t.Fatalf("login: %v", err)
	}
	return c
}

// deliver stores a message in alice's INBOX as SMTP intake does.
func (h *harness) deliver(msg string) {
	h.t.Helper()
	sp, err := h.st.NewSpool()
	if err != nil {
		h.t.Fatal(err)
	}
	sp.Write([]byte(msg))
	if err := sp.Commit(); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.st.DeliverNew(sp, []string{alice}); err != nil {
		h.t.Fatal(err)
	}
	sp.Discard()
}

// testMsg returns a small CRLF message.
func testMsg(subject, body string) string {
	return "From: Bob <bob@example.net>\r\n" +
		"To: alice@example.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"Message-Id: <" + strings.ReplaceAll(subject, " ", "") +
		"@example.net>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" + body + "\r\n"
}

// raw is a line-level IMAP dialogue for what imapclient will not send.
type raw struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
	n  int
}

func (h *harness) raw(login bool) *raw {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := &raw{t: h.t, c: c, br: bufio.NewReader(c)}
	r.line() // greeting
	if login {
		r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW))
	}
	return r
}

// line reads one response line.
func (r *raw) line() string {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a tagged command and returns all lines up to and with the
// tagged reply.
func (r *raw) cmd(text string) []string {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("t%d", r.n)
	fmt.Fprintf(r.c, "%s %s\r\n", tag, text)
	var lines []string
	for {
		l := r.line()
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			return lines
		}
	}
}

// last returns the tagged reply of lines.
func last(lines []string) string { return lines[len(lines)-1] }

// appendTo sends APPEND with msg as a synchronising literal and returns
// the tagged reply, whether it comes before or after the literal.
func (r *raw) appendTo(mailbox, msg string) string {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("t%d", r.n)
	fmt.Fprintf(r.c, "%s APPEND %s {%d}\r\n", tag, mailbox, len(msg))
	for {
		l := r.line()
		if strings.HasPrefix(l, "+") {
			fmt.Fprintf(r.c, "%s\r\n", msg)
			continue
		}
		if strings.HasPrefix(l, tag+" ") {
			return l
		}
	}
}
