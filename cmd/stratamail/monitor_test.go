package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/monitor"
)

const monitorConfig = `
[server]
hostname = "mx.test.invalid"
data_dir = %q
probe_interval = "100ms"

[smtp]
listen = [%q]

[imap]
listen = []

[monitor]
down_after = 2
up_after = 1

[alerts]
email = ["ops@example.net"]
webhook = %q

[outbound]
smarthost = %[5]q

[[domain]]
name = "example.test"
mode = "relay"
relay = %[4]q
monitor = true

[[domain]]
name = "quiet.test"
mode = "relay"
relay = %[4]q
`

// webhookReceiver records the alerts posted to it on loopback.
type webhookReceiver struct {
	mu     sync.Mutex
	alerts []monitor.Alert
}

func (h *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a monitor.Alert
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.alerts = append(h.alerts, a)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *webhookReceiver) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range h.alerts {
		out = append(out, a.Event+" "+a.Domain)
	}
	return out
}

// syncLog collects the service's log for the test to search.
type syncLog struct {
	mu  sync.Mutex
	buf strings.Builder
	t   *testing.T
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestMonitorOutageAndRecovery runs the real server with a monitored
// domain whose primary, a loopback SMTP server, stops and starts again,
// and checks that "stratamail status" and a webhook receiver see the
// outage and the recovery, and that mail queued meanwhile is delivered.
func TestMonitorOutageAndRecovery(t *testing.T) {
	dir := t.TempDir()
	hooks := &webhookReceiver{}
	hs := httptest.NewServer(hooks)
	defer hs.Close()
	primaryAddr, smtpAddr := freeAddr(t), freeAddr(t)
	p := startPrimary(t, primaryAddr)
	smarthostAddr := freeAddr(t)
	smarthost := startPrimary(t, smarthostAddr) // takes the alert mail
	cfgPath := filepath.Join(dir, "stratamail.toml")
	text := fmt.Sprintf(monitorConfig, filepath.Join(dir, "data"),
		smtpAddr, hs.URL+"/sms?token=s3cret", primaryAddr, smarthostAddr)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := startLogged(t, cfgPath)

	status := func() domainStatus {
		var rows []domainStatus
		out := runCLI(t, 0, "status", "-config", cfgPath, "-json")
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("status -json: %v\n%s", err, out)
		}
		// A third row, the outbound route, shows while an alert mail
		// waits for the smarthost.
		if len(rows) < 2 || rows[1].Monitored || len(rows) > 3 ||
			len(rows) == 3 && rows[2].Domain != outboundRow {
			t.Fatalf("status rows: %+v", rows)
		}
		return rows[0]
	}
	waitFor(t, "the primary to be seen up", 10*time.Second, func() bool {
		return status().Primary == monitor.StateUp
	})

	// The primary stops: an outage, a webhook alert, a queued message.
	p.srv.Close()
	waitFor(t, "the outage", 10*time.Second, func() bool {
		s := status()
		return s.Primary == monitor.StateDown && len(s.Outages) == 1 &&
			s.Outages[0].End == nil
	})
	waitFor(t, "the outage alert", 10*time.Second, func() bool {
		return strings.Join(hooks.events(), ",") == "outage example.test"
	})
	err := sendMail(t, smtpAddr, "s@elsewhere.test",
		[]string{"x@example.test"}, testMessage("during the outage"))
	if err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, 0, "status", "-config", cfgPath)
	for _, want := range []string{"PRIMARY", "example.test", " down ",
		"quiet.test", "not monitored", "Outages in the last 30 days:",
		"ongoing", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if s := status(); s.Queue != 1 || s.Oldest == nil {
		t.Errorf("status queue %d, oldest %v; want 1", s.Queue, s.Oldest)
	}

	// It returns: recovery, a second alert, the queue drained.
	p = startPrimary(t, primaryAddr)
	waitFor(t, "the recovery", 10*time.Second, func() bool {
		s := status()
		return s.Primary == monitor.StateUp && s.Queue == 0 &&
			len(s.Outages) == 1 && s.Outages[0].End != nil
	})
	waitFor(t, "the recovery alert", 10*time.Second, func() bool {
		return strings.Join(hooks.events(), ",") ==
			"outage example.test,recovery example.test"
	})
	if n := len(p.received()); n != 1 {
		t.Errorf("the primary got %d messages, want 1", n)
	}
	// The alert emails went out on the outbound route.
	waitFor(t, "two alert emails at the smarthost", 10*time.Second,
		func() bool { return len(smarthost.received()) == 2 })
	for i, m := range smarthost.received() {
		want := []string{"outage", "recovery"}[i]
		if m.from != "stratamail@mx.test.invalid" ||
			strings.Join(m.to, ",") != "ops@example.net" ||
			!strings.Contains(strings.ToLower(string(m.data)), want) ||
			!strings.Contains(string(m.data), "example.test") {
			t.Errorf("alert mail %d: from %s to %v:\n%s", i, m.from,
				m.to, m.data)
		}
	}
	log := logs.String()
	for _, want := range []string{`msg="monitor: primary down" ` +
		`domain=example.test relay=` + primaryAddr, `msg="monitor: ` +
		`primary up" domain=example.test`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(log, "s3cret") {
		t.Error("the webhook's token is in the log")
	}
}

// startLogged starts the service from the config file at path and
// returns its log.
func startLogged(t *testing.T, path string) *syncLog {
	t.Helper()
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{t: t}
	svc, err := startService(cfg, slog.New(slog.NewTextHandler(logs,
		nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return logs
}
