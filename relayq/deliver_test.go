package relayq

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
)

// queueEmpty reports whether the queue folder holds no entry.
func (e *env) queueEmpty() bool {
	es, err := ReadDir(e.qdir, "")
	return err == nil && len(es) == 0
}

func TestDeliverBytesAndEnvelope(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	e := newEnv(t, p.addr, newFakeClock())
	bodies := []string{
		testBody,
		"Subject: dots\r\n\r\n.\r\n..\r\n. x\r\nend\r\n",
		"Subject: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n" +
			strings.Repeat("long line ", 99) + "\r\n",
	}
	clock := e.clock.(*fakeClock)
	e.enqueue(bodies[0], "s@elsewhere.test", "a@example.test",
		"SALES@Example.TEST")
	clock.Advance(time.Second)
	e.enqueue(bodies[1], "", "a@example.test")
	clock.Advance(time.Second)
	e.enqueue(bodies[2], "odd local@elsewhere.test", "b@example.test")
	e.run()
	waitFor(t, "an empty queue", e.queueEmpty)

	want := []gotMsg{
		{from: "s@elsewhere.test", to: []string{"a@example.test",
			"SALES@Example.TEST"}, data: []byte(bodies[0])},
		{from: "", to: []string{"a@example.test"},
			data: []byte(bodies[1])},
		{from: "odd local@elsewhere.test", to: []string{"b@example.test"},
			data: []byte(bodies[2])},
	}
	got := p.received()
	if len(got) != len(want) {
		t.Fatalf("primary got %d messages, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.from != w.from || !slices.Equal(g.to, w.to) {
			t.Errorf("msg %d: envelope %q → %q, want %q → %q", i,
				g.from, g.to, w.from, w.to)
		}
		if !bytes.Equal(g.data, w.data) {
			t.Errorf("msg %d: bytes differ:\n got %q\nwant %q", i,
				g.data, w.data)
		}
		if g.helo != "mx.test.invalid" {
			t.Errorf("msg %d: EHLO %q, want our hostname", i, g.helo)
		}
	}
	if n := p.sessionCount(); n != 1 {
		t.Errorf("%d connections for one domain's batch, want 1", n)
	}
	// The record goes first, then the message.
	waitFor(t, "both files gone", func() bool {
		return len(queueFiles(t, e.qdir)) == 0
	})
}

func TestPerRecipientReplies(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	clock := newFakeClock()
	e := newEnv(t, p.addr, clock)
	p.setRefuse("later@example.test", &smtp.SMTPError{Code: 451,
		EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"})
	p.setRefuse("bad@example.test", &smtp.SMTPError{Code: 550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	// The outbound route defers: a smarthost where nothing listens.
	cfg := *e.cfg.Load()
	cfg.Outbound.Smarthost = freeAddr(t)
	e.cfg.Store(&cfg)
	id := e.enqueue(testBody, "s@x.test", "ok@example.test",
		"later@example.test", "bad@example.test")
	e.run()

	// First attempt: ok done, later deferred, bad failed; retried.
	waitFor(t, "the first attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	x, _ := e.entry(id)
	if x.Held || x.LastError != "451 4.2.0 mailbox busy" ||
		!slices.Equal(x.Recipients, []string{"later@example.test",
			"bad@example.test"}) ||
		!slices.Equal(x.Failed, []string{"bad@example.test"}) ||
		!x.NextAttempt.Equal(clock.Now().Add(5*time.Minute)) {
		t.Errorf("after attempt 1: %+v", x)
	}
	env, err := readEnvelope(envPath(e.qdir, id))
	if err != nil {
		t.Fatal(err)
	}
	states := []string{env.Rcpts[0].State, env.Rcpts[1].State,
		env.Rcpts[2].State}
	if !slices.Equal(states, []string{stateDone, statePending,
		stateFailed}) || env.Rcpts[2].Reply != "550 5.1.1 no such user" {
		t.Errorf("recipients on disk: %+v", env.Rcpts)
	}

	// The retry delivers to "later"; "bad" is bounced: the entry
	// leaves, and a DSN from the null sender goes to s@x.test on the
	// outbound route.
	p.setRefuse("later@example.test", nil)
	clock.Advance(5 * time.Minute)
	waitFor(t, "the bounce", func() bool {
		_, ok := e.entry(id)
		return !ok
	})
	got := p.received()
	if len(got) != 2 || !slices.Equal(got[0].to,
		[]string{"ok@example.test"}) || !slices.Equal(got[1].to,
		[]string{"later@example.test"}) {
		t.Errorf("primary received %+v", got)
	}
	entries, _ := e.q.List("")
	if len(entries) != 1 || entries[0].Sender != "" ||
		!slices.Equal(entries[0].Recipients, []string{"s@x.test"}) ||
		entries[0].Route != "outbound" {
		t.Fatalf("after the bounce the queue holds %+v", entries)
	}
	_, hdr, err := ReadEntry(e.qdir, entries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(msgPath(e.qdir, entries[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"multipart/report",
		"Final-Recipient: rfc822; bad@example.test", "Status: 5.1.1",
		"Action: failed"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the DSN lacks %q:\n%s", want, data)
		}
	}
	if !strings.Contains(string(hdr), "s@x.test") {
		t.Errorf("DSN header:\n%s", hdr)
	}
}

// TestBounceToNullSender drops a refused message from the null sender
// without a DSN: a bounce is never answered with a bounce.
func TestBounceToNullSender(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	e := newEnv(t, p.addr, newFakeClock())
	p.setRefuse("bad@example.test", &smtp.SMTPError{Code: 550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	e.enqueue(testBody, "", "bad@example.test")
	e.run()
	waitFor(t, "an empty queue", e.queueEmpty)
}

func TestRetryThenWatcherFlushes(t *testing.T) {
	clock := newFakeClock()
	addr := freeAddr(t) // a closed port: the primary is down
	e := newEnv(t, addr, clock)
	id := e.enqueue(testBody, "s@x.test", "a@example.test")
	e.run()

	// Down: each retry counts an attempt and records the error.
	for n := 1; n <= 3; n++ {
		waitFor(t, "an attempt", func() bool {
			x, _ := e.entry(id)
			return x.Attempts == n
		})
		x, _ := e.entry(id)
		if !strings.Contains(x.LastError, "refused") {
			t.Errorf("attempt %d: last error %q", n, x.LastError)
		}
		env, _ := readEnvelope(envPath(e.qdir, id))
		if env == nil || env.Attempts != n {
			t.Errorf("attempt %d not on disk: %+v", n, env)
		}
		if n < 3 {
			clock.Advance(5 * time.Minute)
		}
	}

	// While the primary is down, new mail waits for the watcher.
	id2 := e.enqueue(testBody, "s@x.test", "b@example.test")
	time.Sleep(20 * time.Millisecond)
	if x, _ := e.entry(id2); x.Attempts != 0 ||
		!x.NextAttempt.After(clock.Now()) {
		t.Errorf("new entry while down: %+v", x)
	}

	// The primary returns: the watcher's probe flushes the queue well
	// before the next retry.
	p := startPrimary(t, addr, nil)
	var waited time.Duration
	waitFor(t, "the watcher to flush", func() bool {
		if !e.queueEmpty() {
			clock.Advance(10 * time.Second)
			waited += 10 * time.Second
			time.Sleep(10 * time.Millisecond)
			return false
		}
		return true
	})
	if waited >= 5*time.Minute {
		t.Errorf("delivered after %v: the retry did it, not a probe",
			waited)
	}
	if got := p.received(); len(got) != 2 ||
		!bytes.Equal(got[0].data, []byte(testBody)) {
		t.Errorf("primary received %+v", got)
	}
}

func TestWatcherRealTime(t *testing.T) {
	addr := freeAddr(t)
	e := newEnv(t, addr, nil)
	e.setRelay(addr, time.Hour, 30*time.Millisecond)
	id := e.enqueue(testBody, "s@x.test", "a@example.test")
	e.run()
	waitFor(t, "a failed attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	start := time.Now()
	startPrimary(t, addr, nil)
	waitFor(t, "delivery", e.queueEmpty)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("delivered after %v", d)
	}
}

func TestOtherDomainNotDelayed(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	e := newEnv(t, p.addr, newFakeClock())
	cfg := *e.cfg.Load()
	cfg.Domains = append(cfg.Domains, &conf.Domain{Name: "stall.test",
		Mode: conf.ModeRelay, Relay: stallingListener(t)})
	e.cfg.Store(&cfg)
	if _, err := e.q.Enqueue(e.spoolFile(testBody), e.domain("stall.test"), "",
		[]string{"x@stall.test"}); err != nil {
		t.Fatal(err)
	}
	e.enqueue(testBody, "", "a@example.test")
	e.run()
	waitFor(t, "example.test delivered", func() bool {
		es, _ := ReadDir(e.qdir, "example.test")
		return len(es) == 0
	})
	if es, _ := ReadDir(e.qdir, "stall.test"); len(es) != 1 {
		t.Errorf("stall.test queue: %v", es)
	}
}

// stallingListener returns the address of a relay host that accepts
// connections but never greets.
func stallingListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return l.Addr().String()
}

func TestRemovedDomainUsesRecordedRelay(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	e := newEnv(t, p.addr, newFakeClock())
	e.enqueue(testBody, "", "a@example.test")
	cfg := *e.cfg.Load()
	cfg.Domains = nil
	e.cfg.Store(&cfg)
	e.run()
	waitFor(t, "delivery", e.queueEmpty)
	if n := len(p.received()); n != 1 {
		t.Errorf("primary received %d messages", n)
	}
}

// TestEnqueueAfterReload is a message accepted under a snapshot that
// had its domain, queued after a reload removed it: the relay host comes
// from the snapshot the intake used, not from the current one.
func TestEnqueueAfterReload(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	e := newEnv(t, p.addr, newFakeClock())
	accepted := e.domain("example.test")
	cfg := *e.cfg.Load()
	cfg.Domains = nil
	e.cfg.Store(&cfg)
	_, err := e.q.Enqueue(e.spoolFile(testBody), accepted, "",
		[]string{"a@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	e.run()
	waitFor(t, "delivery", e.queueEmpty)
	if n := len(p.received()); n != 1 {
		t.Errorf("primary received %d messages", n)
	}
}

func TestFlushRetriesNow(t *testing.T) {
	addr := freeAddr(t)
	clock := newFakeClock()
	e := newEnv(t, addr, clock)
	id := e.enqueue(testBody, "", "a@example.test")
	e.run()
	waitFor(t, "a failed attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	startPrimary(t, addr, nil)
	e.q.Flush("EXAMPLE.TEST") // no clock movement at all
	waitFor(t, "delivery", e.queueEmpty)
}

func TestSTARTTLS(t *testing.T) {
	broken := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (
		*tls.Certificate, error) {
		return nil, errors.New("no certificate today")
	}}
	tests := []struct {
		name    string
		cfg     *tls.Config
		wantTLS bool
	}{
		{"no STARTTLS offered", nil, false},
		{"STARTTLS", selfSigned(t), true},
		{"handshake fails: plain text", broken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPrimary(t, "127.0.0.1:0", tt.cfg)
			e := newEnv(t, p.addr, newFakeClock())
			e.enqueue(testBody, "s@x.test", "a@example.test")
			e.run()
			waitFor(t, "delivery", e.queueEmpty)
			got := p.received()
			if len(got) != 1 || got[0].tls != tt.wantTLS ||
				!bytes.Equal(got[0].data, []byte(testBody)) ||
				got[0].helo != "mx.test.invalid" {
				t.Errorf("received %+v, want tls=%v", got, tt.wantTLS)
			}
		})
	}
}

func TestQuoteAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a@example.test", "a@example.test"},
		{"first.last+tag@example.test", "first.last+tag@example.test"},
		{"odd local@example.test", `"odd local"@example.test`},
		{`a"b\c@example.test`, `"a\"b\\c"@example.test`},
		{".lead@example.test", `".lead"@example.test`},
		{"a..b@example.test", `"a..b"@example.test`},
		{`"already quoted"@example.test`, `"already quoted"@example.test`},
		{"postmaster", "postmaster"},
		{"jörg@example.test", "jörg@example.test"},
	}
	for _, tt := range tests {
		if got := quoteAddr(tt.in); got != tt.want {
			t.Errorf("quoteAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPanicInDeliveryIsContained(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	clock := newFakeClock()
	e := newEnv(t, p.addr, clock)
	var once atomic.Bool
	testHookAttempt = func(*envelope) {
		if once.CompareAndSwap(false, true) {
			panic("boom")
		}
	}
	t.Cleanup(func() { testHookAttempt = nil })
	id := e.enqueue(testBody, "", "a@example.test")
	e.run()
	waitFor(t, "the failed attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	if x, _ := e.entry(id); !strings.Contains(x.LastError, "boom") {
		t.Errorf("last error %q", x.LastError)
	}
	clock.Advance(5 * time.Minute)
	waitFor(t, "delivery after the panic", e.queueEmpty)
}

func TestRestartProbesDeferredDomain(t *testing.T) {
	clock := newFakeClock()
	addr := freeAddr(t)
	e := newEnv(t, addr, clock)
	id := e.enqueue(testBody, "", "a@example.test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.q.Run(ctx) }()
	waitFor(t, "a failed attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	cancel()
	<-done

	// A new process: the primary is back, the retry is 5 min away,
	// a probe finds it within one probe interval.
	startPrimary(t, addr, nil)
	e.q = e.open()
	e.run()
	waitFor(t, "the probe to flush", func() bool {
		clock.Advance(10 * time.Second)
		time.Sleep(10 * time.Millisecond)
		return e.queueEmpty()
	})
	if d := clock.Now().Sub(newFakeClock().Now()); d >= 5*time.Minute {
		t.Errorf("delivered after %v: no probe", d)
	}
}

func TestReleaseHeld(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	clock := newFakeClock()
	e := newEnv(t, p.addr, clock)
	p.setRefuse("a@example.test", &smtp.SMTPError{Code: 451,
		EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "busy"})
	id := e.enqueue(testBody, "", "a@example.test")
	e.run()
	waitFor(t, "the first attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	if err := e.q.Hold(id); err != nil {
		t.Fatal(err)
	}
	// Held entries are not retried, not even by Flush.
	e.q.Flush("")
	clock.Advance(time.Hour)
	time.Sleep(50 * time.Millisecond)
	if x, _ := e.entry(id); x.Attempts != 1 || !x.Held {
		t.Errorf("held entry tried again: %+v", x)
	}
	if es, _ := ReadDir(e.qdir, ""); len(es) != 1 || !es[0].Held {
		t.Errorf("held flag not on disk: %+v", es)
	}
	p.setRefuse("a@example.test", nil)
	if err := e.q.Release(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", e.queueEmpty)
	if err := e.q.Release(id); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Release of a gone entry: %v", err)
	}
}

// TestFlushRampsConnections fills the queue and lets a healthy primary
// take it: the worker adds connections as batches go through whole, up
// to server.relay_connections; a primary that defers everything keeps
// a single connection.
func TestFlushRampsConnections(t *testing.T) {
	tests := []struct {
		name        string
		defer451    bool
		limit       int
		least, most int
	}{
		{"healthy primary", false, 3, 2, 3},
		{"one connection allowed", false, 1, 1, 1},
		{"deferring primary", true, 3, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPrimary(t, "127.0.0.1:0", nil)
			if tt.defer451 {
				p.setRefuse("a@example.test", &smtp.SMTPError{Code: 451,
					EnhancedCode: smtp.EnhancedCode{4, 3, 0},
					Message:      "try later"})
			}
			e := newEnv(t, p.addr, newFakeClock())
			cfg := *e.cfg.Load()
			cfg.Server.RelayConnections = tt.limit
			e.cfg.Store(&cfg)
			const n = 6 * maxBatch
			for range n {
				e.enqueue(testBody, "", "a@example.test")
			}
			e.run()
			if tt.defer451 {
				waitFor(t, "every entry tried", func() bool {
					return e.attempted() == n
				})
			} else {
				waitFor(t, "delivery", e.queueEmpty)
				if got := len(p.received()); got != n {
					t.Errorf("primary received %d of %d", got, n)
				}
			}
			if m := p.mostAtOnce(); m < tt.least || m > tt.most {
				t.Errorf("at most %d connections at once, want %d to %d",
					m, tt.least, tt.most)
			}
		})
	}
}

// attempted counts the entries that have been tried at least once.
func (e *env) attempted() int {
	entries, err := e.q.List("")
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, en := range entries {
		if en.Attempts > 0 {
			n++
		}
	}
	return n
}

// TestRelayLifetime gives up on a primary after the domain's
// queue_lifetime: the entry leaves and its sender gets a DSN.
func TestRelayLifetime(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, freeAddr(t), clock) // the primary never answers
	cfg := *e.cfg.Load()
	d := *cfg.Domains[0]
	d.QueueLifetime = time.Hour
	cfg.Domains = []*conf.Domain{&d}
	cfg.Outbound.Smarthost = freeAddr(t) // the DSN waits there
	e.cfg.Store(&cfg)
	id := e.enqueue(testBody, "s@x.test", "a@example.test")
	e.run()
	waitFor(t, "the first attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	for range 12 { // retries every 5 minutes for an hour
		clock.Advance(5 * time.Minute)
	}
	waitFor(t, "the entry to expire", func() bool {
		_, ok := e.entry(id)
		return !ok
	})
	entries, _ := e.q.List("")
	if len(entries) != 1 || entries[0].Sender != "" ||
		entries[0].Recipients[0] != "s@x.test" {
		t.Fatalf("queue after expiry: %+v", entries)
	}
	data, err := os.ReadFile(msgPath(e.qdir, entries[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "Status: 4.4.7") {
		t.Errorf("the DSN does not say 4.4.7:\n%s", data)
	}
}
