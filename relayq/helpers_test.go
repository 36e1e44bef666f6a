package relayq

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/fakeclock"
	"github.com/stratamail/continuity/internal/testcert"
	"github.com/stratamail/continuity/store"
)

// fakeClock is the clock the tests move by hand.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock {
	return fakeclock.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
}

// env is a queue under test with its spool folder and configuration.
type env struct {
	t     *testing.T
	spool string
	qdir  string
	q     *Queue
	cfg   atomic.Pointer[conf.Config]
	clock Clock
	seq   int
	store *store.Store // where DSNs are written
}

// newEnv opens a queue whose domain example.test relays to relay.
func newEnv(t *testing.T, relay string, clock Clock) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, qdir: filepath.Join(dir, "queue"), clock: clock}
	var err error
	if e.store, err = store.Open(dir); err != nil {
		t.Fatal(err)
	}
	e.spool = e.store.SpoolDir()
	e.setRelay(relay, 5*time.Minute, 30*time.Second)
	e.q = e.open()
	return e
}

func (e *env) open() *Queue {
	e.t.Helper()
	q, err := Open(e.qdir, Options{
		Config: e.cfg.Load, Logger: testLogger(e.t), Clock: e.clock,
		DialTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second,
		DataTimeout: 5 * time.Second, Store: e.store,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

func (e *env) setRelay(relay string, retry, probe time.Duration) {
	cfg := &conf.Config{
		Server: conf.Server{Hostname: "mx.test.invalid",
			RetryInterval: retry, ProbeInterval: probe},
		Domains: []*conf.Domain{{Name: "example.test",
			Mode: conf.ModeBoth, Relay: relay, Monitor: true}},
	}
	e.cfg.Store(cfg)
}

// spoolFile writes a committed spool file with body and returns its path.
func (e *env) spoolFile(body string) string {
	e.t.Helper()
	e.seq++
	p := filepath.Join(e.spool, fmt.Sprintf("%d.spool", e.seq))
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// domain returns the config's entry for name, or an entry of that name
// with no relay host, as a test of odd names needs.
func (e *env) domain(name string) *conf.Domain {
	if d := lookupDomain(e.cfg.Load(), name); d != nil {
		return d
	}
	return &conf.Domain{Name: name}
}

// enqueue spools body and queues it, failing the test on error.
func (e *env) enqueue(body, from string, rcpts ...string) string {
	e.t.Helper()
	id, err := e.q.Enqueue(e.spoolFile(body), e.domain("example.test"), from,
		rcpts)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// run starts the queue's Run and stops it at the end of the test.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.q.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
}

// entry returns the entry id as the running queue knows it.
func (e *env) entry(id string) (Entry, bool) {
	es, _ := e.q.List("")
	for _, x := range es {
		if x.ID == id {
			return x, true
		}
	}
	return Entry{}, false
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t},
		&slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// freeAddr returns a loopback address where nothing listens.
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

// primary is a go-smtp server standing in for a customer's server.
type primary struct {
	addr string
	srv  *smtp.Server

	mu       sync.Mutex
	msgs     []gotMsg
	sessions int
	active   int                        // sessions open now
	most     int                        // the most sessions open at once
	refuse   map[string]*smtp.SMTPError // RCPT replies by address
}

// mostAtOnce returns the most sessions that were open at once.
func (p *primary) mostAtOnce() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.most
}

// gotMsg is one message the primary received.
type gotMsg struct {
	from, helo string
	to         []string
	data       []byte
	tls        bool
}

// startPrimary serves on addr ("127.0.0.1:0" for any port).
func startPrimary(t *testing.T, addr string, tlsCfg *tls.Config) *primary {
	t.Helper()
	p := &primary{refuse: map[string]*smtp.SMTPError{}}
	p.srv = smtp.NewServer(smtp.BackendFunc(p.newSession))
	p.srv.Domain = "primary.test"
	p.srv.TLSConfig = tlsCfg
	p.srv.ReadTimeout = 10 * time.Second
	p.srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	go p.srv.Serve(l)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *primary) setRefuse(addr string, se *smtp.SMTPError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if se == nil {
		delete(p.refuse, addr)
	} else {
		p.refuse[addr] = se
	}
}

func (p *primary) received() []gotMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]gotMsg(nil), p.msgs...)
}

func (p *primary) sessionCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions
}

func (p *primary) newSession(c *smtp.Conn) (smtp.Session, error) {
	p.mu.Lock()
	p.sessions++
	p.active++
	p.most = max(p.most, p.active)
	p.mu.Unlock()
	return &primarySession{p: p, c: c}, nil
}

type primarySession struct {
	p   *primary
	c   *smtp.Conn
	msg gotMsg
}

func (s *primarySession) Mail(from string, _ *smtp.MailOptions) error {
	_, isTLS := s.c.TLSConnectionState()
	s.msg = gotMsg{from: from, helo: s.c.Hostname(), tls: isTLS}
	return nil
}

func (s *primarySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.p.mu.Lock()
	se := s.p.refuse[to]
	s.p.mu.Unlock()
	if se != nil {
		return se
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *primarySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = b
	s.p.mu.Lock()
	s.p.msgs = append(s.p.msgs, s.msg)
	s.p.mu.Unlock()
	return nil
}

func (s *primarySession) Reset() { s.msg = gotMsg{} }
func (s *primarySession) Logout() error {
	s.p.mu.Lock()
	s.p.active--
	s.p.mu.Unlock()
	return nil
}

// selfSigned returns a TLS config with a throwaway certificate.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	cert, _, _ := testcert.New(t, "primary.test")
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}
