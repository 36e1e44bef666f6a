package monitor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/fakeclock"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the shared fake clock with each After call announced,
// so that a test can wait for the monitor to set its next timer.
type fakeClock struct {
	*fakeclock.Clock
	waits <-chan time.Duration
}

func newFakeClock() *fakeClock {
	c := fakeclock.New(t0)
	return &fakeClock{Clock: c, waits: c.Announce()}
}

// wait returns the duration of the next After call, blocking until a
// goroutine makes one.
func (c *fakeClock) wait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waits:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("nothing waited on the clock in 10s")
		return 0
	}
}

// logBuffer collects log lines for the test to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	t   *testing.T
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Log(strings.TrimRight(string(p), "\n"))
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLog(t *testing.T) (*slog.Logger, *logBuffer) {
	b := &logBuffer{t: t}
	h := slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), b
}

// testConfig returns a config whose domains are given as name=relay
// (monitored) or name=relay! (not monitored).
func testConfig(t *testing.T, extra string, domains ...string) *conf.Config {
	t.Helper()
	text := "[server]\nhostname = \"mx.test\"\ndata_dir = \"/srv\"\n" +
		"probe_interval = \"30s\"\n" + extra
	for _, d := range domains {
		name, relay, _ := strings.Cut(d, "=")
		relay, off := strings.CutSuffix(relay, "!")
		text += "[[domain]]\nname = \"" + name + "\"\nmode = \"relay\"\n" +
			"relay = \"" + relay + "\"\nmonitor = " +
			map[bool]string{true: "false", false: "true"}[off] + "\n"
	}
	c, err := conf.Parse("t.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// probeScript is a probe whose answer per relay host the test sets.
type probeScript struct {
	mu    sync.Mutex
	down  map[string]bool
	calls []string
}

func (p *probeScript) set(relay string, down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down == nil {
		p.down = map[string]bool{}
	}
	p.down[relay] = down
}

func (p *probeScript) probe(_ context.Context, relay string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, relay)
	if p.down[relay] {
		return errors.New("dial tcp " + relay + ": connection refused")
	}
	return nil
}

func (p *probeScript) takeCalls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}
