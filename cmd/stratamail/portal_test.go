package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/relayq"
)

// portalClient is a browser stand-in for the portal of a testEnv.
type portalClient struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// portalLogin logs in to the portal at addr as admin.
func portalLogin(t *testing.T, addr string) *portalClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &portalClient{t: t, base: "http://" + addr,
		http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	body := c.do("POST", "/login", url.Values{"name": {"admin"},
		"password": {testPassword}})
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token after login:\n%s", body)
	}
	c.csrf = m[1]
	return c
}

// do sends a request, following redirects, and returns the body of a
// 200 answer.
func (c *portalClient) do(method, path string, form url.Values) string {
	c.t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		if form.Get("csrf") == "" && c.csrf != "" {
			form.Set("csrf", c.csrf)
		}
		resp, err = c.http.PostForm(c.base+path, form)
	} else {
		resp, err = c.http.Get(c.base + path)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: %d %v\n%s", method, path, resp.StatusCode,
			err, b)
	}
	return string(b)
}

// scrape reads /metrics without a login, as a local Prometheus does,
// and returns its samples.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestPortalEndToEnd runs the service with the portal, sends mail
// through SMTP while the primary is down, reads the counters on
// /metrics, and drives the queue from the portal once it is back.
func TestPortalEndToEnd(t *testing.T) {
	portalAddr := freeAddr(t)
	primaryAddr := freeAddr(t)
	e := startEnv(t, t.TempDir(), primaryAddr, fmt.Sprintf(`
[portal]
listen = %q

[[operator]]
name = "admin"
password = %q
`, portalAddr, testHash()))
	data := filepath.Join(e.dir, "data")
	for i := range 2 {
		err := sendMail(t, e.smtp, "s@elsewhere.test",
			[]string{"x@relay.test"}, testMessage(fmt.Sprint("m", i)))
		if err != nil {
			t.Fatal(err)
		}
	}
	err := sendMail(t, e.smtp, "s@elsewhere.test",
		[]string{"x@nowhere.test"}, testMessage("refused"))
	if replyCode(err) != 554 {
		t.Fatalf("foreign recipient: %v", err)
	}
	imapLogin(t, e.imap)

	m := scrape(t, portalAddr)
	for k, want := range map[string]float64{
		`stratamail_smtp_messages_total{result="accepted"}`:    2,
		`stratamail_smtp_refused_total{reason="relay_denied"}`: 1,
		`stratamail_queue_messages{domain="relay.test"}`:       2,
		`stratamail_imap_logins_total{result="ok"}`:            1,
		`stratamail_deliveries_total{result="delivered"}`:      0,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}

	// Hold one entry, then bring the primary back: the other drains,
	// the held one waits for the operator.
	c := portalLogin(t, portalAddr)
	page := c.do("GET", "/queue/relay.test", nil)
	entries, _ := relayq.ReadDir(filepath.Join(data, "queue"), "")
	if len(entries) != 2 || !strings.Contains(page, entries[0].ID) {
		t.Fatalf("queue page does not list %+v:\n%s", entries, page)
	}
	held := entries[0].ID
	c.do("POST", "/queue/relay.test", url.Values{"op": {"hold"},
		"id": {held}})
	p := startPrimary(t, primaryAddr)
	c.do("POST", "/queue/relay.test", url.Values{"op": {"flush-all"}})
	waitFor(t, "the entry not held delivered", 10*time.Second,
		func() bool { return len(p.received()) == 1 })
	if n := queueLen(t, data, "relay.test"); n != 1 {
		t.Fatalf("queue has %d entries, want the held one", n)
	}
	c.do("POST", "/queue/relay.test", url.Values{"op": {"release"},
		"id": {held}})
	waitFor(t, "the released entry delivered", 10*time.Second,
		func() bool { return queueLen(t, data, "relay.test") == 0 })
	// The files go first, then the entry in memory that /metrics
	// reads.
	waitFor(t, "metrics of an empty queue", 10*time.Second, func() bool {
		got := scrape(t, portalAddr)
		return got[`stratamail_queue_messages{domain="relay.test"}`] == 0
	})
	got := scrape(t, portalAddr)
	delivered := `stratamail_deliveries_total{result="delivered"}`
	if got[delivered] != 2 {
		t.Errorf("after delivery: %s %v, want 2", delivered,
			got[delivered])
	}
}

// imapLogin logs in to IMAP as alice and out again.
func imapLogin(t *testing.T, addr string) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Login("alice@example.test", testPassword).Wait()
	if err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
}

// TestRestartKeysPortal checks that a reload which moves the portal,
// or turns it on or off, is logged as needing a restart.
func TestRestartKeysPortal(t *testing.T) {
	base := "[server]\nhostname = \"mx.test\"\ndata_dir = \"/srv\"\n" +
		"[[operator]]\nname = \"admin\"\npassword = \"" + testHash() +
		"\"\n"
	parse := func(extra string) *conf.Config {
		c, err := conf.Parse("t.toml", []byte(base+extra))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	off := parse("")
	on := parse("[portal]\n")
	moved := parse("[portal]\nlisten = \"127.0.0.1:9025\"\n")
	public := parse("[portal]\nmetrics_public = true\n")
	for _, tc := range []struct {
		name     string
		old, cfg *conf.Config
		want     bool
	}{
		{"on", off, on, true},
		{"off", on, off, true},
		{"moved", on, moved, true},
		{"metrics_public", on, public, false},
	} {
		got := slices.Contains(restartKeys(tc.old, tc.cfg),
			"portal.listen")
		if got != tc.want {
			t.Errorf("%s: portal.listen in restart keys = %v", tc.name,
				got)
		}
	}
}
