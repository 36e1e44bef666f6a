package smtpd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

// testConfig is the configuration of most tests: a domain of each mode.
const testConfig = `
[server]
hostname = "mx.test.invalid"
data_dir = %q
max_message_size = "64KiB"
max_recipients = 3

[smtp]
listen = ["127.0.0.1:0"]

[imap]
listen = ["127.0.0.1:0"]
allow_insecure_auth = true

` + testAccounts

// testAccounts are the domains and users of the test configurations;
// user passwords are the template's second argument.
const testAccounts = `[[domain]]
name = "example.test"
mode = "both"
relay = "127.0.0.1:1"

[[domain]]
name = "relay.test"
mode = "relay"
relay = "127.0.0.1:1"

[[domain]]
name = "local.test"
mode = "local"

[[user]]
address = "alice@example.test"
password = %[2]q
aliases = ["sales@example.test"]

[[user]]
address = "bob@example.test"
password = %[2]q

[[user]]
address = "carol@local.test"
password = %[2]q
`

const maxSize = 64 << 10

var testHash = sync.OnceValue(func() string {
	h, err := conf.HashPassword("secret")
	if err != nil {
		panic(err)
	}
	return h
})

// parseConfig parses text, a testConfig-like template, for dataDir.
func parseConfig(t testing.TB, text, dataDir string) *conf.Config {
	t.Helper()
	cfg, err := conf.Parse("test.toml",
		[]byte(fmt.Sprintf(text, dataDir, testHash())))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// env is a running smtpd on loopback with a real store and a test
// queue, all under one temp dir.
type env struct {
	t       testing.TB
	data    string
	store   *store.Store
	queue   *linkQueue
	srv     *Server
	addr    string
	cfg     atomic.Pointer[conf.Config]
	logs    *syncBuffer
	stopped chan error
}

// newEnv starts a server; tune, when given, adjusts it before Serve.
func newEnv(t testing.TB, tune ...func(*Server)) *env {
	t.Helper()
	e := &env{t: t, data: t.TempDir(), logs: &syncBuffer{}}
	var err error
	if e.store, err = store.Open(e.data); err != nil {
		t.Fatal(err)
	}
	e.queue = newLinkQueue(t, filepath.Join(e.data, "queue"))
	e.cfg.Store(parseConfig(t, testConfig, e.data))
	log := slog.New(slog.NewTextHandler(e.logs,
		&slog.HandlerOptions{Level: slog.LevelDebug}))
	e.srv = New(Options{Store: e.store, Queue: e.queue,
		Config: e.cfg.Load, Logger: log})
	for _, f := range tune {
		f(e.srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	e.stopped = make(chan error, 1)
	go func() { e.stopped <- e.srv.Serve(l) }()
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.srv.Close() != ErrServerClosed {
		if err := <-e.stopped; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
	}
	if e.t.Failed() {
		e.t.Logf("server log:\n%s", e.logs.String())
	}
}

// maildir returns the root of address's shadow mailbox.
func (e *env) maildir(address string) string {
	local, domain, _ := strings.Cut(address, "@")
	return filepath.Join(e.data, "mail", domain, local)
}

// newFiles returns the files in address's new/.
func (e *env) newFiles(address string) []string {
	ents, _ := os.ReadDir(filepath.Join(e.maildir(address), "new"))
	var out []string
	for _, d := range ents {
		out = append(out, filepath.Join(e.maildir(address), "new",
			d.Name()))
	}
	return out
}

// checkNothingStored fails unless no Maildir, queue entry or spool
// file holds a message.
func (e *env) checkNothingStored() {
	e.t.Helper()
	filepath.WalkDir(filepath.Join(e.data, "mail"),
		func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() &&
				isMessageDir(filepath.Base(filepath.Dir(p))) {
				e.t.Errorf("message left in a Maildir: %s", p)
			}
			return nil
		})
	if n := e.queue.len(); n != 0 {
		e.t.Errorf("%d queue entries left", n)
	}
	e.checkSpoolEmpty()
}

func isMessageDir(name string) bool {
	return name == "new" || name == "cur" || name == "tmp"
}

func (e *env) checkSpoolEmpty() {
	e.t.Helper()
	ents, err := os.ReadDir(e.store.SpoolDir())
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ents) != 0 {
		e.t.Errorf("spool not empty: %v", ents)
	}
}

// send sends one message with go-smtp's client.
func (e *env) send(from string, to []string, body string) error {
	c, err := smtp.Dial(e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.SendMail(from, to, strings.NewReader(body)); err != nil {
		return err
	}
	return c.Quit()
}

// linkQueue is a stand-in for relayq: each entry a hard link to the
// message and its envelope in memory.
type linkQueue struct {
	dir string

	mu      sync.Mutex
	seq     int
	entries map[string]queueEntry
	// failAt makes the failAt-th Enqueue (1-based) fail with failErr.
	failAt  int
	failErr error
	calls   int
	panicky bool
}

type queueEntry struct {
	path, domain, from string
	rcpts              []string
}

func newLinkQueue(t testing.TB, dir string) *linkQueue {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return &linkQueue{dir: dir, entries: map[string]queueEntry{}}
}

func (q *linkQueue) Enqueue(msgPath string, d *conf.Domain, from string,
	rcpts []string) (string, error) {
	return q.add(msgPath, d.Name, from, rcpts)
}

// add records an entry under the name domain.
func (q *linkQueue) add(msgPath, domain, from string,
	rcpts []string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.panicky {
		panic("queue panics")
	}
	if q.failAt > 0 && q.calls >= q.failAt {
		return "", q.failErr
	}
	q.seq++
	id := fmt.Sprintf("Q%d", q.seq)
	p := filepath.Join(q.dir, id)
	if err := os.Link(msgPath, p); err != nil {
		return "", err
	}
	q.entries[id] = queueEntry{p, domain, from, slices.Clone(rcpts)}
	return id, nil
}

// EnqueueOutbound records an outbound entry under the domain
// "outbound:" and domain.
func (q *linkQueue) EnqueueOutbound(msgPath, domain, from string,
	rcpts []string) (string, error) {
	return q.add(msgPath, "outbound:"+domain, from, rcpts)
}

func (q *linkQueue) Cancel(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.entries[id]
	if !ok {
		return fmt.Errorf("no entry %s", id)
	}
	delete(q.entries, id)
	return os.Remove(e.path)
}

func (q *linkQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	ents, _ := os.ReadDir(q.dir)
	if len(ents) != len(q.entries) {
		return -1
	}
	return len(q.entries)
}

// byDomain returns the entries for domain.
func (q *linkQueue) byDomain(domain string) []queueEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []queueEntry
	for _, e := range q.entries {
		if e.domain == domain {
			out = append(out, e)
		}
	}
	return out
}

func (q *linkQueue) setFail(at int, err error) {
	q.mu.Lock()
	q.failAt, q.failErr, q.calls = at, err, 0
	q.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// take returns the text written so far and empties the buffer.
func (b *syncBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	b.b.Reset()
	return s
}

// lines returns the log lines containing every one of subs.
func (b *syncBuffer) lines(subs ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		ok := l != ""
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// dialogue is a raw, scripted SMTP conversation.
type dialogue struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// dial connects and checks the banner.
func (e *env) dial() *dialogue {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	d := &dialogue{t: e.t, c: c, r: bufio.NewReader(c)}
	d.expect("220 mx.test.invalid ESMTP")
	return d
}

// reply reads one reply, all its lines, and returns them joined by
// newlines.
func (d *dialogue) reply() string {
	d.t.Helper()
	d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := d.r.ReadString('\n')
		if err != nil {
			d.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// expect reads a reply and fails unless its last line starts with want.
func (d *dialogue) expect(want string) string {
	d.t.Helper()
	got := d.reply()
	last := got[strings.LastIndexByte(got, '\n')+1:]
	if !strings.HasPrefix(last, want) {
		d.t.Fatalf("reply %q, want %q...", got, want)
	}
	return got
}

// write sends raw bytes.
func (d *dialogue) write(s string) {
	d.t.Helper()
	if _, err := io.WriteString(d.c, s); err != nil {
		d.t.Fatal(err)
	}
}

// cmd sends one command line and expects a reply starting with want.
func (d *dialogue) cmd(line, want string) string {
	d.t.Helper()
	d.write(line + "\r\n")
	return d.expect(want)
}

// testMessage returns a CRLF message with a subject.
func testMessage(subject string) string {
	return "From: <sender@elsewhere.test>\r\n" +
		"To: <alice@example.test>\r\n" +
		"Subject: " + subject + "\r\n" +
		"\r\n" +
		"Body of " + subject + ".\r\n" +
		"..a line that starts with a dot\r\n"
}

// wireMessage is testMessage dot-stuffed and terminated for DATA.
func wireMessage(subject string) string {
	return strings.ReplaceAll(testMessage(subject), "\r\n.", "\r\n..") +
		".\r\n"
}
