package conf

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testHash is a bcrypt hash of "change-me", as in the sample config.
const testHash = "$2a$10$uE3yfuc5lzp8GUepz9XUTeNB6VH1TPlVTOlFivvyBaDI8KA.S.Z4y"

// okServer is a valid [server] table of three lines; the lines of the
// error cases that follow it start at 4.
const okServer = `[server]
hostname = "mx.test"
data_dir = "/srv/sm"
`

// okDomains follows okServer: two domains on lines 4 to 11, so users
// start at line 12.
const okDomains = okServer + `[[domain]]
name = "example.com"
mode = "both"
relay = "mail.example.com:25"
[[domain]]
name = "relay.test"
mode = "relay"
relay = "192.0.2.1:25"
`

// parse parses text as t.toml, with HASH standing for testHash.
func parse(text string) (*Config, error) {
	return Parse("t.toml", []byte(strings.ReplaceAll(text, "HASH",
		testHash)))
}

func TestParseFull(t *testing.T) {
	c, err := parse(okDomains + `[smtp]
listen = ["127.0.0.1:2525", "[::1]:2525"]
[imap]
listen = ["127.0.0.1:1143", "localhost:1144"]
allow_insecure_auth = true
[[domain]]
name = "Local.TEST"
mode = "local"
monitor = false
[[user]]
address = "Alice@Example.COM"
password = "HASH"
aliases = ["Sales@example.com", "alice@local.test"]
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Server{Hostname: "mx.test", DataDir: "/srv/sm",
		RetryInterval: 5 * time.Minute, ProbeInterval: 60 * time.Second,
		MaxMessageSize: 25 << 20, MaxRecipients: 100,
		RelayConnections: 4}
	if c.Path != "t.toml" || c.Server != want {
		t.Errorf("got %q %+v, want t.toml %+v", c.Path, c.Server, want)
	}
	if got := c.SMTP.Listen; !reflect.DeepEqual(got,
		[]string{"127.0.0.1:2525", "[::1]:2525"}) {
		t.Errorf("smtp.listen = %q", got)
	}
	if !c.IMAP.AllowInsecureAuth || len(c.IMAP.Listen) != 2 {
		t.Errorf("imap = %+v", c.IMAP)
	}
	var names []string
	for _, d := range c.Domains {
		names = append(names, d.Name+" "+string(d.Mode)+" "+d.Relay)
	}
	wantNames := []string{"example.com both mail.example.com:25",
		"relay.test relay 192.0.2.1:25", "local.test local "}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("domains = %q, want %q", names, wantNames)
	}
	u := c.Users[0]
	if u.Address != "alice@example.com" || u.Domain != c.Domains[0] ||
		!reflect.DeepEqual(u.Aliases, []string{"sales@example.com",
			"alice@local.test"}) || !u.CheckPassword("change-me") {
		t.Errorf("user = %+v", u)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := parse("[server]\ndata_dir = \"/srv/sm/\"\n")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := Server{Hostname: host, DataDir: "/srv/sm",
		RetryInterval:    DefaultRetryInterval,
		ProbeInterval:    DefaultProbeInterval,
		MaxMessageSize:   DefaultMaxMessageSize,
		MaxRecipients:    DefaultMaxRecipients,
		RelayConnections: DefaultRelayConnections}
	if c.Server != want {
		t.Errorf("server = %+v, want %+v", c.Server, want)
	}
	if !reflect.DeepEqual(c.SMTP.Listen, []string{"0.0.0.0:25"}) ||
		!reflect.DeepEqual(c.IMAP.Listen, []string{"0.0.0.0:143"}) ||
		c.IMAP.AllowInsecureAuth || c.TLS != (TLS{}) ||
		len(c.Domains) != 0 || len(c.Users) != 0 {
		t.Errorf("config = %+v", c)
	}
}

// TestParseValues checks values that are valid but not the usual.
func TestParseValues(t *testing.T) {
	c, err := parse(`[server]
data_dir = "/srv/sm"
retry_interval = "1h30m"
probe_interval = "100ms"
max_message_size = 1000
max_recipients = 1
[smtp]
listen = [":25", "127.0.0.1:0"]
[imap]
listen = []
[[domain]]
name = "example.com"
mode = "relay"
relay = "[2001:db8::1]:2525"
monitor = true
`)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.RetryInterval != 90*time.Minute ||
		s.ProbeInterval != 100*time.Millisecond ||
		s.MaxMessageSize != 1000 || s.MaxRecipients != 1 ||
		len(c.IMAP.Listen) != 0 || !c.Domains[0].Monitor {
		t.Errorf("config = %+v %+v", c, c.Domains[0])
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"25MiB", 25 << 20}, {"25 MiB", 25 << 20}, {"10MB", 10e6},
		{"1KB", 1000}, {"1KiB", 1024}, {"2GB", 2e9}, {"2GiB", 2 << 30},
		{"512B", 512}, {"4096", 4096}, {"0", 0}, {"", 0}, {"MiB", 0},
		{"25mib", 0}, {"1.5MiB", 0}, {"-1", 0}, {"25 MBs", 0},
		{"99999999999GiB", 0}, {"9223372036854775808", 0},
	} {
		got, err := parseSize(tc.in)
		if got != tc.want || (err == nil) != (tc.want > 0) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got,
				err, tc.want)
		}
	}
}

// TestParseBroken pins the error text of each broken configuration.
func TestParseBroken(t *testing.T) {
	for _, tc := range brokenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(tc.text)
			if c != nil || err == nil {
				t.Fatalf("got a config and error %v", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			var errs Errors
			var one *Error
			if !errors.As(err, &errs) || !errors.As(err, &one) {
				t.Errorf("%T is not Errors of *Error", err)
			}
		})
	}
}

// TestParseNoSecrets checks that a password written where its hash
// belongs is not repeated in the error.
func TestParseNoSecrets(t *testing.T) {
	_, err := parse(okDomains + `[[user]]
address = "a@example.com"
password = "hunter2"
`)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v", err)
	}
}

func TestLoad(t *testing.T) {
	path := t.TempDir() + "/s.toml"
	if _, err := Load(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
	text := okServer + "max_recipients = \"ten\"\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ":4: server.max_recipients: must be an integer, " +
		"not a string"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if err := os.WriteFile(path, []byte(okServer), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(path); err != nil || c.Path != path {
		t.Errorf("got %v, %v", c, err)
	}
}

// TestParseInlineTables checks that an array of inline tables is as
// good as [[domain]] entries.
func TestParseInlineTables(t *testing.T) {
	c, err := parse(`domain = [{name = "a.test", mode = "local"},
  {name = "b.test", mode = "relay", relay = "b.test:25"}]
` + okServer)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Domain("b.test"); len(c.Domains) != 2 || d == nil ||
		d.Mode != ModeRelay || d.Relay != "b.test:25" {
		t.Errorf("domains %+v", c.Domains)
	}
}

// TestParseMonitor checks the [monitor] and [alerts] tables and their
// defaults.
func TestParseMonitor(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		mon        Monitor
		alerts     Alerts
	}{
		{"defaults", "", Monitor{3, 2},
			Alerts{From: "stratamail@mx.test"}},
		{"empty tables", "[monitor]\n[alerts]\nemail = []\n",
			Monitor{3, 2}, Alerts{From: "stratamail@mx.test"}},
		{"all set", `[monitor]
down_after = 1
up_after = 100
[alerts]
email = ["Ops@Example.NET", "pager@example.net"]
from = "Alerts@MX.test"
webhook = "http://127.0.0.1:8080/hook?token=x"
`, Monitor{1, 100}, Alerts{
			Email:   []string{"ops@example.net", "pager@example.net"},
			From:    "alerts@mx.test",
			Webhook: "http://127.0.0.1:8080/hook?token=x"}},
		{"empty webhook", "[alerts]\nwebhook = \"\"\n", Monitor{3, 2},
			Alerts{From: "stratamail@mx.test"}},
		{"ipv6 webhook", "[alerts]\nwebhook = \"https://[::1]:8443/\"\n",
			Monitor{3, 2}, Alerts{From: "stratamail@mx.test",
				Webhook: "https://[::1]:8443/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(okServer + tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if c.Monitor != tc.mon {
				t.Errorf("monitor = %+v, want %+v", c.Monitor, tc.mon)
			}
			if !reflect.DeepEqual(c.Alerts, tc.alerts) {
				t.Errorf("alerts = %+v, want %+v", c.Alerts, tc.alerts)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5m", 5 * time.Minute, true},
		{"5d", 5 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0d", 0, true},
		{"d", 0, false},
		{"5dd", 0, false},
		{"-1d", 0, false},
		{"1d-2h", 0, false},
		{"1.5d", 0, false},
		{"99999d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok %v",
				tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestDomainRetryAndRelayTimeouts(t *testing.T) {
	c, err := parse(okServer + `retry_interval = "10m"
relay_connect_timeout = "5s"
relay_data_timeout = "1m"
[[domain]]
name = "a.test"
mode = "relay"
relay = "192.0.2.1:25"
[[domain]]
name = "b.test"
mode = "relay"
relay = "192.0.2.1:25"
retry_interval = "1m"
queue_lifetime = "10d"
`)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.RelayConnectTimeout != 5*time.Second || s.RelayCommandTimeout != 0 ||
		s.RelayDataTimeout != time.Minute {
		t.Errorf("relay timeouts %v %v %v", s.RelayConnectTimeout,
			s.RelayCommandTimeout, s.RelayDataTimeout)
	}
	a, b := c.Domain("a.test"), c.Domain("b.test")
	if a.RetryInterval != 10*time.Minute || b.RetryInterval != time.Minute {
		t.Errorf("retry intervals %v, %v; want the server's 10m and 1m",
			a.RetryInterval, b.RetryInterval)
	}
	if a.QueueLifetime != DefaultQueueLifetime ||
		b.QueueLifetime != 240*time.Hour {
		t.Errorf("queue lifetimes %v, %v", a.QueueLifetime, b.QueueLifetime)
	}
}
