package monitor

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
)

// TestMonitorTransitions drives rounds by hand through an outage and a
// recovery of one primary, with alerts, then a restart and a change of
// the configuration.
func TestMonitorTransitions(t *testing.T) {
	h := newHookServer(t, 204)
	var cfg atomic.Pointer[conf.Config]
	cfg.Store(testConfig(t, "[monitor]\ndown_after = 2\nup_after = 1\n"+
		"[alerts]\nwebhook = \""+h.URL+"\"\n",
		"a.test=p1:25", "b.test=p2:25", "c.test=p3:25!"))
	ps := &probeScript{}
	ps.set("p2:25", true)
	var mu sync.Mutex
	var recovered []string
	clock := newFakeClock()
	log, logs := newLog(t)
	dir := t.TempDir()
	opts := Options{Config: cfg.Load, Dir: dir, Clock: clock,
		Logger: log, Probe: ps.probe, OnRecovery: func(d string) {
			mu.Lock()
			recovered = append(recovered, d)
			mu.Unlock()
		}}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	step := func() {
		m.round(ctx)
		m.alerts.Wait()
		clock.Advance(30 * time.Second)
	}

	// a is up at once; b's outage needs two failed probes.
	step()
	checkCalls(t, ps, "p1:25", "p2:25")
	checkStates(t, m, t0.Add(time.Minute), map[string]State{
		"a.test": StateUp, "b.test": StateUnknown, "c.test": StateUnknown})
	step()
	checkStates(t, m, clock.Now(), map[string]State{"b.test": StateDown})
	if !strings.Contains(logs.String(), `level=WARN msg="monitor: `+
		`primary down" domain=b.test relay=p2:25 state=down `+
		`since=2026-12-01T12:00:00.000Z reason="2 probe(s) failed`) {
		t.Errorf("no outage log line")
	}

	// b returns: recovery, alert, flush.
	ps.set("p2:25", false)
	step()
	r := m.Report("b.test", clock.Now())
	if r.State != StateUp || !r.Since.Equal(t0.Add(time.Minute)) ||
		len(r.Outages) != 1 || r.Outages[0].Duration(clock.Now()) !=
		time.Minute {
		t.Errorf("report %+v", r)
	}
	if !slices.Equal(recovered, []string{"b.test"}) {
		t.Errorf("OnRecovery for %v, want b.test", recovered)
	}
	events := alertEvents(h)
	if !slices.Equal(events, []string{"outage b.test 30",
		"recovery b.test 60"}) {
		t.Errorf("alerts %v", events)
	}

	// A restart keeps the states: no new event when nothing changed.
	m, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	step()
	history, _ := ReadHistory(dir)
	if len(history) != 3 {
		t.Errorf("history after restart: %+v", history)
	}

	// b is removed, a's relay host changes, d is added.
	cfg.Store(testConfig(t, "", "a.test=p9:25", "d.test=p4:25"))
	step()
	checkCalls(t, ps, "p1:25", "p2:25", "p1:25", "p2:25", "p1:25",
		"p2:25", "p4:25", "p9:25")
	checkStates(t, m, clock.Now(), map[string]State{
		"a.test": StateUp, "b.test": StateUnknown, "d.test": StateUnknown})
	for _, want := range []string{`msg="monitor: relay host changed; ` +
		`probing the new one" domain=a.test old_relay=p1:25 relay=p9:25`,
		`msg="monitor: domain no longer monitored" domain=b.test`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	history, _ = ReadHistory(dir)
	if last := history[len(history)-1]; last.Domain != "b.test" ||
		last.State != StateUnknown {
		t.Errorf("last event %+v", last)
	}
}

func checkCalls(t *testing.T, ps *probeScript, want ...string) {
	t.Helper()
	got := ps.takeCalls()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("probed %v, want %v", got, want)
	}
}

func checkStates(t *testing.T, m *Monitor, now time.Time,
	want map[string]State) {
	t.Helper()
	for d, s := range want {
		if got := m.Report(d, now).State; got != s {
			t.Errorf("%s is %s, want %s", d, got, s)
		}
	}
}

func alertEvents(h *hookServer) []string {
	var out []string
	for _, a := range h.alerts() {
		out = append(out, strings.Join([]string{a.Event, a.Domain,
			strconv.FormatInt(a.DurationSeconds, 10)}, " "))
	}
	return out
}

// TestMonitorRealProbe probes a real SMTP server on loopback that stops
// and starts again, with the default probe.
func TestMonitorRealProbe(t *testing.T) {
	addr := startSMTP(t, "")
	cfg := testConfig(t, "[monitor]\ndown_after = 1\nup_after = 1\n",
		"a.test="+addr)
	m, clock, _ := newTestMonitor(t, cfg, Options{})
	ctx := context.Background()
	steps := []struct {
		stop, start bool
		want        State
		reason      string
	}{
		{want: StateUp, reason: "answered 1 probe(s)"},
		{stop: true, want: StateDown, reason: "connection refused"},
		{start: true, want: StateUp, reason: "answered 1 probe(s)"},
	}
	var stop func()
	for i, s := range steps {
		if s.stop {
			stop()
		}
		if s.start {
			startSMTP(t, addr)
		}
		m.round(ctx)
		clock.Advance(time.Minute)
		r := m.Report("a.test", clock.Now())
		history, _ := ReadHistory(filepath.Dir(m.path))
		if r.State != s.want || len(history) != i+1 ||
			!strings.Contains(history[i].Reason, s.reason) {
			t.Fatalf("step %d: %s, history %+v", i, r.State, history)
		}
		stop = stopper(t, addr)
	}
}

// servers are the SMTP servers startSMTP started, by address.
var servers sync.Map

// startSMTP starts a go-smtp server on addr (a free loopback port when
// empty) and returns its address.
func startSMTP(t *testing.T, addr string) string {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	for range 50 { // the port was just closed; retry briefly
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session,
		error) {
		return nullSession{}, nil
	}))
	s.Domain = "primary.test"
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	servers.Store(l.Addr().String(), s)
	return l.Addr().String()
}

// stopper returns a func that stops the server on addr.
func stopper(t *testing.T, addr string) func() {
	return func() {
		if s, ok := servers.Load(addr); ok {
			s.(*smtp.Server).Close()
		}
	}
}

type nullSession struct{}

func (nullSession) Mail(string, *smtp.MailOptions) error { return nil }
func (nullSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (nullSession) Data(io.Reader) error                 { return nil }
func (nullSession) Reset()                               {}
func (nullSession) Logout() error                        { return nil }

// TestRun runs the monitor on the fake clock: a round at once, then one
// each probe interval, until the context ends.
func TestRun(t *testing.T) {
	ps := &probeScript{}
	cfg := testConfig(t, "", "a.test=p1:25")
	m, clock, _ := newTestMonitor(t, cfg, Options{Probe: ps.probe})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for round := 1; round <= 3; round++ {
		if d := clock.wait(t); d != 30*time.Second {
			t.Fatalf("waits %v between rounds, want 30s", d)
		}
		if n := len(ps.takeCalls()); n != 1 {
			t.Fatalf("round %d made %d probes", round, n)
		}
		clock.Advance(30 * time.Second)
	}
	clock.wait(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := m.Report("a.test", clock.Now()); r.State != StateUp {
		t.Errorf("state %s after rounds of good probes", r.State)
	}
}

func TestNewErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	cfg := func() *conf.Config { return nil }
	for _, o := range []Options{{Dir: t.TempDir()}, {Config: cfg},
		{Config: cfg, Dir: filepath.Join(file, "sub")}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) works", o)
		}
	}
}
