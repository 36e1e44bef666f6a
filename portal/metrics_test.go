package portal

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/monitor"
)

// Lines of the text exposition format 0.0.4, as this package writes
// them: HELP and TYPE comments, and samples with at most one label.
var (
	helpRE   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$`)
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)` +
		`(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"\})? ` +
		`(-?[0-9]+(?:\.[0-9]+)?)$`)
)

// parseMetrics checks every line of text and returns the samples by
// name and labels ("name{label=\"v\"}"). Each sample must follow its
// family's HELP and TYPE, and a counter's name must end in _total.
func parseMetrics(t *testing.T, text string) map[string]string {
	t.Helper()
	got := map[string]string{}
	typed := map[string]string{}
	helped := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := helpRE.FindStringSubmatch(line); m != nil {
			helped[m[1]] = true
			continue
		}
		if m := typeRE.FindStringSubmatch(line); m != nil {
			if !helped[m[1]] || typed[m[1]] != "" {
				t.Errorf("line %d: TYPE without HELP, or twice: %q", n,
					line)
			}
			typed[m[1]] = m[2]
			if m[2] == "counter" && !strings.HasSuffix(m[1], "_total") {
				t.Errorf("line %d: counter not named _total", n)
			}
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d does not parse: %q", n, line)
			continue
		}
		if typed[m[1]] == "" {
			t.Errorf("line %d: sample before its TYPE: %q", n, line)
		}
		key := m[1] + m[2]
		if _, dup := got[key]; dup {
			t.Errorf("line %d: sample repeated: %q", n, line)
		}
		got[key] = m[3]
	}
	if !strings.HasSuffix(text, "\n") {
		t.Error("the last line does not end in a newline")
	}
	return got
}

// TestMetrics checks the format and the values of /metrics over a
// loopback socket, without a login.
func TestMetrics(t *testing.T) {
	e := newEnv(t, "", monitor.Event{Time: time.Now().Add(-time.Hour),
		Domain: "example.test", Relay: "p:25", State: monitor.StateDown})
	e.srv.opts.Counters = func() Counters {
		return Counters{
			SMTPMessages: map[string]uint64{"accepted": 7, "refused": 1},
			SMTPRefused: map[string]uint64{"relay_denied": 2,
				"no_such_user": 0},
			IMAPSessions: 3,
			IMAPLogins:   map[string]uint64{"ok": 5, "failed": 1},
		}
	}
	e.enqueue("example.test", "one", "alice@example.test")
	e.enqueue("example.test", "two", "bob@example.test")
	resp, err := http.Get(e.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") !=
		"text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	got := parseMetrics(t, b.String())
	want := map[string]string{
		`stratamail_smtp_messages_total{result="accepted"}`:        "7",
		`stratamail_smtp_refused_total{reason="relay_denied"}`:     "2",
		`stratamail_smtp_refused_total{reason="no_such_user"}`:     "0",
		`stratamail_imap_sessions`:                                 "3",
		`stratamail_imap_logins_total{result="failed"}`:            "1",
		`stratamail_queue_messages{domain="example.test"}`:         "2",
		`stratamail_queue_messages{domain="other.test"}`:           "0",
		`stratamail_queue_held_messages{domain="example.test"}`:    "0",
		`stratamail_queue_oldest_age_seconds{domain="other.test"}`: "0",
		`stratamail_deliveries_total{result="deferred"}`:           "1",
		`stratamail_primary_up{domain="example.test"}`:             "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got[`stratamail_queue_messages{domain="local.test"}`]; ok {
		t.Error("a local domain has a queue")
	}
	if _, ok := got[`stratamail_queue_oldest_age_seconds{domain="example.test"}`]; !ok {
		t.Error("no oldest age for example.test")
	}
}

// TestMetricsAccess checks who may read /metrics: loopback clients,
// anyone with metrics_public, and others only when logged in.
func TestMetricsAccess(t *testing.T) {
	for _, tc := range []struct {
		name, extra, remote string
		login               bool
		want                int
	}{
		{"loopback", "", "127.0.0.1:5000", false, 200},
		{"loopback v6", "", "[::1]:5000", false, 200},
		{"remote", "", "192.0.2.7:5000", false, 401},
		{"remote logged in", "", "192.0.2.7:5000", true, 200},
		{"remote, public", "metrics_public = true", "192.0.2.7:5000",
			false, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.extra)
			req := httptest.NewRequest("GET", "/metrics", nil)
			req.Host = "127.0.0.1:8025"
			req.RemoteAddr = tc.remote
			if tc.login {
				token := e.srv.startSession("admin")
				req.AddCookie(&http.Cookie{Name: cookieName,
					Value: token})
			}
			w := httptest.NewRecorder()
			e.srv.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Errorf("%d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestEscapeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"example.test": "example.test",
		`a"b`:          `a\"b`,
		`a\b`:          `a\\b`,
		"a\nb":         `a\nb`,
	} {
		if got := escapeLabel(in); got != want {
			t.Errorf("escapeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
