package relayq

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratamail/continuity/conf"
)

// faultPrimary is a primary on loopback that follows a script, for the
// ways a real one fails. Each connection gets banner (none if empty,
// then silence); commands get replies from reply, and a nil reply
// closes the connection; DATA takes the message and answers dataReply,
// unless cutData closes the connection halfway through the body.
type faultPrimary struct {
	banner    string
	reply     func(cmd string, conn int) *string
	dataReply string
	cutData   bool

	mu        sync.Mutex
	conns     int
	delivered int
}

func (f *faultPrimary) start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			n := f.conns
			f.mu.Unlock()
			go f.serve(c, n)
		}
	}()
	return l.Addr().String()
}

func (f *faultPrimary) serve(c net.Conn, n int) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if f.banner == "" {
		r.ReadString('\n') // silence until the client gives up
		return
	}
	c.Write([]byte(f.banner))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		if cmd == "DATA" {
			c.Write([]byte("354 go on\r\n"))
			if !f.readData(r) {
				return
			}
			c.Write([]byte(f.dataReply))
			continue
		}
		reply := f.reply(cmd, n)
		if reply == nil {
			return
		}
		c.Write([]byte(*reply))
	}
}

// readData reads a message body to its end, or half of it when cutData
// is set; false means the connection should close.
func (f *faultPrimary) readData(r *bufio.Reader) bool {
	for i := 0; ; i++ {
		line, err := r.ReadString('\n')
		if err != nil || f.cutData && i == 1 {
			return false
		}
		if line == ".\r\n" {
			if strings.HasPrefix(f.dataReply, "2") {
				f.mu.Lock()
				f.delivered++
				f.mu.Unlock()
			}
			return true
		}
	}
}

// got returns the number of messages the primary took.
func (f *faultPrimary) got() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delivered
}

// plain answers a session without extensions: EHLO, MAIL, RCPT, RSET,
// NOOP and QUIT all succeed.
func plain(ehlo string) func(string, int) *string {
	return func(cmd string, _ int) *string {
		var s string
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			s = ehlo
		case strings.HasPrefix(cmd, "QUIT"):
			s = "221 bye\r\n"
		default:
			s = "250 ok\r\n"
		}
		return &s
	}
}

// TestPrimaryFaults runs one message against each way a primary can
// fail, with short timeouts, and checks what became of the entry.
func TestPrimaryFaults(t *testing.T) {
	const (
		deferred  = "deferred"  // kept for a retry, not held
		bounced   = "bounced"   // gone, a DSN queued for the sender
		delivered = "delivered" // gone, the primary has it
	)
	starttlsFails := func(cmd string, conn int) *string {
		if strings.HasPrefix(cmd, "STARTTLS") {
			s := "220 go ahead\r\n"
			return &s // then plain text where TLS should start
		}
		return plain("250-primary.test\r\n250 STARTTLS\r\n")(cmd, conn)
	}
	tests := []struct {
		name    string
		primary *faultPrimary // nil: nothing listens
		want    string
		errHas  string
	}{
		{"connection refused", nil, deferred, "refused"},
		{"no banner", &faultPrimary{}, deferred, "timeout"},
		{"421 at banner", &faultPrimary{banner: "421 too busy\r\n",
			reply: plain("250 primary.test\r\n")}, deferred, "421"},
		{"greets as this server: a loop", &faultPrimary{
			banner: "220 MX.test.invalid ESMTP\r\n",
			reply:  plain("250 mx.test.invalid\r\n")}, deferred,
			"mail loop"},
		{"5xx at DATA", &faultPrimary{banner: "220 primary.test\r\n",
			reply:     plain("250 primary.test\r\n"),
			dataReply: "554 5.6.0 content refused\r\n"}, bounced, ""},
		{"4xx at DATA", &faultPrimary{banner: "220 primary.test\r\n",
			reply:     plain("250 primary.test\r\n"),
			dataReply: "452 4.3.1 disk full\r\n"}, deferred, "452"},
		{"disconnect mid-DATA", &faultPrimary{
			banner: "220 primary.test\r\n",
			reply:  plain("250 primary.test\r\n"), cutData: true},
			deferred, ""},
		{"STARTTLS offered, handshake fails", &faultPrimary{
			banner: "220 primary.test\r\n", reply: starttlsFails,
			dataReply: "250 2.0.0 queued\r\n"}, delivered, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			if tt.primary != nil {
				addr = tt.primary.start(t)
			}
			clock := newFakeClock()
			e := newEnv(t, addr, clock)
			e.q, _ = Open(e.qdir, Options{Config: e.cfg.Load,
				Logger: testLogger(t), Clock: clock,
				DialTimeout: time.Second, CommandTimeout: 300 *
					time.Millisecond, DataTimeout: 300 * time.Millisecond,
				Store: e.store})
			cfg := *e.cfg.Load()
			cfg.Outbound.Smarthost = freeAddr(t) // DSNs wait there
			e.cfg.Store(&cfg)
			id := e.enqueue(testBody, "s@x.test", "a@example.test")
			e.run()
			waitFor(t, "the attempt", func() bool {
				x, ok := e.entry(id)
				return !ok || x.Attempts > 0
			})
			x, kept := e.entry(id)
			entries, _ := e.q.List("")
			switch tt.want {
			case deferred:
				if !kept || x.Held || !strings.Contains(x.LastError,
					tt.errHas) {
					t.Errorf("entry %+v (kept %v), want deferred with "+
						"%q", x, kept, tt.errHas)
				}
			case bounced:
				if kept || len(entries) != 1 || entries[0].Sender != "" {
					t.Errorf("after the bounce: %+v", entries)
				}
			case delivered:
				if n := tt.primary.got(); kept || len(entries) != 0 ||
					n != 1 {
					t.Errorf("not delivered: %+v, %d at the primary",
						entries, n)
				}
			}
		})
	}
}

// TestDomainRetryInterval retries a domain at its own retry_interval.
func TestDomainRetryInterval(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, freeAddr(t), clock)
	cfg := *e.cfg.Load()
	d := *cfg.Domains[0]
	d.RetryInterval = 90 * time.Second
	cfg.Domains = []*conf.Domain{&d}
	e.cfg.Store(&cfg)
	id := e.enqueue(testBody, "", "a@example.test")
	e.run()
	waitFor(t, "the first attempt", func() bool {
		x, _ := e.entry(id)
		return x.Attempts == 1
	})
	if x, _ := e.entry(id); !x.NextAttempt.Equal(clock.Now().Add(
		90 * time.Second)) {
		t.Errorf("next attempt %v, want now + 90s", x.NextAttempt)
	}
}

// TestDelayWarning tells the sender once, after server.delay_warning,
// that the message is still being tried.
func TestDelayWarning(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, freeAddr(t), clock) // the primary never answers
	cfg := *e.cfg.Load()
	cfg.Server.DelayWarning = 30 * time.Minute
	cfg.Outbound.Smarthost = freeAddr(t) // the warning waits there
	e.cfg.Store(&cfg)
	id := e.enqueue(testBody, "s@x.test", "a@example.test")
	e.run()
	dsns := func() []Entry {
		var out []Entry
		entries, _ := e.q.List("")
		for _, en := range entries {
			if en.ID != id {
				out = append(out, en)
			}
		}
		return out
	}
	for i := 1; i <= 9; i++ { // attempts at 0, 5, ..., 40 minutes
		waitFor(t, fmt.Sprintf("attempt %d", i), func() bool {
			x, _ := e.entry(id)
			return x.Attempts == i
		})
		if n := len(dsns()); i <= 6 && n != 0 || i > 7 && n != 1 {
			t.Fatalf("after attempt %d (%v in): %d warnings", i,
				time.Duration(i-1)*5*time.Minute, n)
		}
		clock.Advance(5 * time.Minute)
	}
	w := dsns()[0]
	if w.Sender != "" || w.Recipients[0] != "s@x.test" {
		t.Errorf("warning envelope %+v", w)
	}
	data, err := os.ReadFile(msgPath(e.qdir, w.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Action: delayed", "Status: 4.4.1",
		"Will-Retry-Until:", "Subject: Delayed Mail"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the warning lacks %q:\n%s", want, data)
		}
	}
}
