package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/monitor"
	"github.com/stratamail/continuity/relayq"
)

// The tests run the portal on a loopback socket in front of a real
// relay queue and a real monitor in a temp folder, and drive it with
// an HTTP client that keeps cookies, as a browser does.

const testPassword = "operator secret"

// testHash is testPassword's hash at bcrypt's least cost, to keep the
// tests quick under the race detector.
var testHash = sync.OnceValue(func() string {
	return minCostHash(testPassword)
})

func minCostHash(pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}

// testConfig is the portal's configuration: two relaying domains whose
// primary (relay) is down, and a local one.
const testConfig = `
[server]
hostname = "mx.test.invalid"
data_dir = %q
retry_interval = "5m"
probe_interval = "1h"

[portal]
listen = "127.0.0.1:0"
%s

[[operator]]
name = "admin"
password = %q

[[domain]]
name = "example.test"
mode = "both"
relay = %q
monitor = true

[[domain]]
name = "other.test"
mode = "relay"
relay = %[4]q

[[domain]]
name = "local.test"
mode = "local"
`

// env is a portal under test.
type env struct {
	t     testing.TB
	dir   string
	relay string // the primaries' address: nothing listens there
	cfg   atomic.Pointer[conf.Config]
	queue *relayq.Queue
	mon   *monitor.Monitor
	srv   *Server
	ts    *httptest.Server
	seq   int
}

// newEnv starts a portal; extra is TOML added to [portal]; history are
// monitoring events written before the monitor starts.
func newEnv(t testing.TB, extra string, history ...monitor.Event) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), relay: closedAddr(t)}
	e.setConfig(extra, testHash())
	var w io.Writer = testWriter{t}
	if _, fuzz := t.(*testing.F); fuzz {
		w = io.Discard // a fuzz target may not log through f
	}
	log := slog.New(slog.NewTextHandler(w, nil))
	var err error
	e.queue, err = relayq.Open(e.qdir(), relayq.Options{
		Config: e.cfg.Load, Logger: log, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.queue.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	mdir := filepath.Join(e.dir, "monitor")
	writeHistory(t, mdir, history)
	e.mon, err = monitor.New(monitor.Options{Config: e.cfg.Load,
		Dir: mdir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = New(Options{Config: e.cfg.Load, Queue: e.queue,
		QueueDir: e.qdir(), Monitor: e.mon, Logger: log,
		FailDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(e.ts.Close)
	return e
}

func (e *env) qdir() string { return filepath.Join(e.dir, "queue") }

// setConfig installs the configuration with extra in [portal] and hash
// as the operator's password hash.
func (e *env) setConfig(extra, hash string) {
	e.t.Helper()
	text := fmt.Sprintf(testConfig, e.dir, extra, hash, e.relay)
	c, err := conf.Parse("portal.toml", []byte(text))
	if err != nil {
		e.t.Fatal(err)
	}
	e.cfg.Store(c)
}

// renameOperator installs the configuration with the operator admin
// renamed to name.
func (e *env) renameOperator(name string) {
	e.t.Helper()
	text := fmt.Sprintf(testConfig, e.dir, "", testHash(), e.relay)
	text = strings.Replace(text, `name = "admin"`,
		fmt.Sprintf("name = %q", name), 1)
	c, err := conf.Parse("portal.toml", []byte(text))
	if err != nil {
		e.t.Fatal(err)
	}
	e.cfg.Store(c)
}

// otherHash returns a hash of another password.
func otherHash() string { return minCostHash("another password") }

// writeHistory writes events as the monitor's history file in dir.
func writeHistory(t testing.TB, dir string, events []monitor.Event) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, ev := range events {
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	err := os.WriteFile(filepath.Join(dir, monitor.HistoryFile),
		[]byte(b.String()), 0o600)
	if err != nil {
		t.Fatal(err)
	}
}

// enqueue queues a message for domain with subject and waits until it
// is deferred: after a failed attempt, or at once once the queue knows
// the primary is down.
func (e *env) enqueue(domain, subject string, rcpts ...string) string {
	e.t.Helper()
	e.seq++
	spool := filepath.Join(e.dir, fmt.Sprintf("msg%d", e.seq))
	msg := "From: <sender@elsewhere.test>\r\nTo: <" + rcpts[0] +
		">\r\nSubject: " + subject + "\r\n\r\nBody.\r\n"
	if err := os.WriteFile(spool, []byte(msg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	d := e.cfg.Load().Domain(domain)
	if d == nil {
		e.t.Fatalf("no domain %s in the test config", domain)
	}
	id, err := e.queue.Enqueue(spool, d, "sender@elsewhere.test", rcpts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitEntry(id, "a deferral", func(en relayq.Entry) bool {
		return en.NextAttempt.After(time.Now())
	})
	return id
}

// entry returns the queue entry id, if it is there.
func (e *env) entry(id string) (relayq.Entry, bool) {
	es, _ := e.queue.List("")
	for _, en := range es {
		if en.ID == id {
			return en, true
		}
	}
	return relayq.Entry{}, false
}

// waitEntry waits until the entry id satisfies cond.
func (e *env) waitEntry(id, what string, cond func(relayq.Entry) bool) {
	e.t.Helper()
	waitFor(e.t, what, func() bool {
		en, ok := e.entry(id)
		return ok && cond(en)
	})
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// client is a browser stand-in: it keeps cookies and does not follow
// redirects, so tests see them.
type client struct {
	t    testing.TB
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{t: e.t, e: e, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
}

// get fetches path and returns the status, Location and body.
func (c *client) get(path string) (int, string, string) {
	c.t.Helper()
	resp, err := c.http.Get(c.e.ts.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.finish(resp)
}

// post sends form to path and returns the status, Location and body.
func (c *client) post(path string, form url.Values) (int, string,
	string) {
	c.t.Helper()
	resp, err := c.http.PostForm(c.e.ts.URL+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.finish(resp)
}

func (c *client) finish(resp *http.Response) (int, string, string) {
	c.t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in as admin and keeps the page's CSRF token.
func (c *client) login() {
	c.t.Helper()
	code, loc, _ := c.post("/login", url.Values{"name": {"admin"},
		"password": {testPassword}})
	if code != http.StatusSeeOther || loc != "/" {
		c.t.Fatalf("login: %d to %q", code, loc)
	}
	code, _, body := c.get("/")
	m := csrfRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		c.t.Fatalf("after login: %d, no CSRF token in\n%s", code, body)
	}
	c.csrf = m[1]
}

// action posts a Queue Manager form for domain.
func (c *client) action(domain string, form url.Values) (int, string,
	string) {
	c.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	return c.post("/queue/"+domain, form)
}

// testWriter sends a log to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
