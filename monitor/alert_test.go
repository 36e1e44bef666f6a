package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratamail/continuity/conf"
)

// hookServer is a webhook receiver on loopback that answers each POST
// with the next status of its script (the last one repeats).
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []Alert
	types    []string
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	h := &hookServer{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var a Alert
	err := json.Unmarshal(body, &a)
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Method != http.MethodPost || err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.got = append(h.got, a)
	h.types = append(h.types, r.Header.Get("Content-Type"))
	status := h.statuses[min(len(h.got), len(h.statuses))-1]
	w.WriteHeader(status)
}

func (h *hookServer) alerts() []Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Alert(nil), h.got...)
}

// newTestMonitor returns a monitor in a temp folder with a fake clock
// and its log.
func newTestMonitor(t *testing.T, cfg *conf.Config,
	opts Options) (*Monitor, *fakeClock, *logBuffer) {
	t.Helper()
	clock := newFakeClock()
	log, logs := newLog(t)
	opts.Config = func() *conf.Config { return cfg }
	opts.Dir, opts.Clock, opts.Logger = t.TempDir(), clock, log
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, clock, logs
}

var testAlert = Alert{Event: EventOutage, Domain: "a.test",
	Relay: "p.a.test:25", Since: t0, DurationSeconds: 90,
	Reason: "3 probe(s) failed in a row; last: refused",
	Server: "mx.test"}

// TestWebhookRetries posts to a receiver that fails twice, then takes
// the alert; the retries wait 30s, then 60s, on the clock.
func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		attempts int    // posts made
		waits    []int  // the retry delays, in seconds
		log      string // the last word
	}{
		{"fails twice then takes it", []int{503, 500, 204}, 3,
			[]int{30, 60}, `msg="monitor: alert sent"`},
		{"takes it at once", []int{200}, 1, nil,
			`msg="monitor: alert sent"`},
		{"gives up after 4", []int{502}, 4, []int{30, 60, 120},
			`msg="monitor: alert not sent; giving up"`},
		{"3xx is a failure", []int{302, 202}, 2, []int{30},
			`msg="monitor: alert sent"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHookServer(t, tt.statuses...)
			m, clock, logs := newTestMonitor(t, testConfig(t, ""),
				Options{AlertAttempts: 4})
			hook := h.URL + "/sms?token=s3cret"
			m.alert(context.Background(), testAlert,
				conf.Alerts{Webhook: hook})
			for _, w := range tt.waits {
				if d := clock.wait(t); d != time.Duration(w)*time.Second {
					t.Errorf("retry after %v, want %ds", d, w)
				}
				clock.Advance(time.Duration(w) * time.Second)
			}
			m.alerts.Wait()
			got := h.alerts()
			if len(got) != tt.attempts {
				t.Fatalf("%d posts, want %d", len(got), tt.attempts)
			}
			for i, a := range got {
				if a != testAlert || h.types[i] != "application/json" {
					t.Errorf("post %d: %+v (%s), want %+v", i, a,
						h.types[i], testAlert)
				}
			}
			out := logs.String()
			if !strings.Contains(out, tt.log) {
				t.Errorf("log lacks %s", tt.log)
			}
			if strings.Contains(out, "s3cret") {
				t.Errorf("the webhook's token is in the log")
			}
		})
	}
}

// TestWebhookUnreachable checks the error of a receiver that is not
// there, and that shutting down ends the retries.
func TestWebhookUnreachable(t *testing.T) {
	h := newHookServer(t, 200)
	url := h.URL + "/x?token=s3cret"
	h.Close()
	m, clock, logs := newTestMonitor(t, testConfig(t, ""), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	m.alert(ctx, testAlert, conf.Alerts{Webhook: url})
	clock.wait(t)
	cancel()
	m.alerts.Wait()
	out := logs.String()
	for _, want := range []string{"connection refused",
		`msg="monitor: alert not sent; shutting down"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the webhook's token is in the log")
	}
}

// mailbox records the alert emails handed to SendMail, failing the
// first fails calls.
type mailbox struct {
	mu    sync.Mutex
	fails int
	calls int
	from  string
	to    []string
	msgs  [][]byte
}

func (b *mailbox) send(from string, to []string, msg []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.calls <= b.fails {
		return errors.New("no outbound route yet")
	}
	b.from, b.to = from, to
	b.msgs = append(b.msgs, msg)
	return nil
}

func TestEmailAlert(t *testing.T) {
	recovery := testAlert
	recovery.Event, recovery.DurationSeconds = EventRecovery, 3725
	tests := []struct {
		name    string
		alert   Alert
		subject string
		body    []string
	}{
		{"outage", testAlert,
			"[StrataMail] outage: the primary of a.test is down",
			[]string{"The primary mail server of a.test is down.",
				"Relay host:  p.a.test:25",
				"Down since:  2026-12-01 12:00:00 UTC",
				"Down for:    1m30s", "Reason:      " + testAlert.Reason,
				"Server:      mx.test"}},
		{"recovery", recovery,
			"[StrataMail] recovery: the primary of a.test is back up",
			[]string{"The primary mail server of a.test is back up.",
				"Up since:       2026-12-01 12:00:00 UTC",
				"Outage lasted:  1h2m5s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := &mailbox{fails: 1}
			m, clock, _ := newTestMonitor(t, testConfig(t, ""),
				Options{SendMail: box.send})
			alerts := conf.Alerts{From: "sm@mx.test",
				Email: []string{"ops@example.net", "pager@example.net"}}
			m.alert(context.Background(), tt.alert, alerts)
			clock.Advance(clock.wait(t))
			m.alerts.Wait()
			if box.calls != 2 || len(box.msgs) != 1 ||
				box.from != "sm@mx.test" || len(box.to) != 2 {
				t.Fatalf("sent %d of %d calls, from %s to %v",
					len(box.msgs), box.calls, box.from, box.to)
			}
			checkAlertMail(t, box.msgs[0], tt.subject, tt.body)
		})
	}
}

// checkAlertMail parses msg as RFC 5322 and checks its headers and text.
func checkAlertMail(t *testing.T, msg []byte, subject string,
	body []string) {
	t.Helper()
	if strings.Contains(strings.ReplaceAll(string(msg), "\r\n", ""),
		"\n") {
		t.Errorf("a bare LF in the message")
	}
	mm, err := mail.ReadMessage(strings.NewReader(string(msg)))
	if err != nil {
		t.Fatal(err)
	}
	h := mm.Header
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Address != "sm@mx.test" {
		t.Errorf("From %q: %v", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Address != "pager@example.net" {
		t.Errorf("To %q: %v", h.Get("To"), err)
	}
	id := h.Get("Message-Id")
	if !strings.HasPrefix(id, "<alert.") || !strings.HasSuffix(id,
		"@mx.test>") {
		t.Errorf("Message-ID %q", id)
	}
	if h.Get("Subject") != subject {
		t.Errorf("Subject %q, want %q", h.Get("Subject"), subject)
	}
	text, _ := io.ReadAll(mm.Body)
	for _, line := range body {
		if !strings.Contains(string(text), line+"\r\n") {
			t.Errorf("body lacks %q:\n%s", line, text)
		}
	}
}

func TestNewAlert(t *testing.T) {
	down := Event{Time: t0, Domain: "a.test", Relay: "p:25",
		State: StateDown, Reason: "r"}
	up := Event{Time: t0.Add(time.Hour), Domain: "a.test",
		Relay: "p:25", State: StateUp}
	now := t0.Add(90 * time.Minute)
	tests := []struct {
		name  string
		c     change
		event string
		secs  int64
	}{
		{"outage", change{ev: down, prev: StateUp}, EventOutage, 5400},
		{"outage from unknown", change{ev: down, prev: StateUnknown},
			EventOutage, 5400},
		{"recovery", change{ev: up, prev: StateDown,
			prevSince: t0.Add(-time.Hour)}, EventRecovery, 7200},
		{"first known up", change{ev: up, prev: StateUnknown}, "", 0},
	}
	for _, tt := range tests {
		a, ok := newAlert(tt.c, "mx.test", now)
		if ok != (tt.event != "") || a.Event != tt.event ||
			a.DurationSeconds != tt.secs {
			t.Errorf("%s: %+v %v", tt.name, a, ok)
		}
	}
}

// TestWebhookTimeout checks that a receiver that never answers fails
// the attempt at the client's timeout, and that the probes go on
// meanwhile: alert returns before the post ends.
func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
	defer hs.Close()
	defer close(release)
	client := &http.Client{Timeout: 100 * time.Millisecond}
	m, clock, logs := newTestMonitor(t, testConfig(t, ""),
		Options{HTTPClient: client, AlertAttempts: 2})
	m.alert(context.Background(), testAlert,
		conf.Alerts{Webhook: hs.URL})
	clock.Advance(clock.wait(t))
	m.alerts.Wait()
	out := logs.String()
	for _, want := range []string{"Client.Timeout exceeded",
		`msg="monitor: alert not sent; giving up"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
