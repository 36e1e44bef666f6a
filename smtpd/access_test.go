package smtpd

import (
	"strings"
	"testing"
)

// TestAcceptFrom checks accept_from from a client on 127.0.0.1: a
// domain behind a filter refuses mail from elsewhere before it says
// anything about its users, and stores nothing.
func TestAcceptFrom(t *testing.T) {
	const domains = `
[[domain]]
name = "filtered.test"
mode = "relay"
relay = "127.0.0.1:1"
accept_from = ["192.0.2.0/24", "2001:db8::/32"]

[[domain]]
name = "loopback.test"
mode = "relay"
relay = "127.0.0.1:1"
accept_from = ["127.0.0.0/8"]

[[domain]]
name = "open.test"
mode = "relay"
relay = "127.0.0.1:1"
accept_from = []
`
	// The [smtp] list applies to domains without a list of their own.
	global := strings.Replace(testConfig, `listen = ["127.0.0.1:0"]`,
		`listen = ["127.0.0.1:0"]
accept_from = ["192.0.2.0/24"]`, 1)
	tests := []struct {
		name, config, rcpt, want string
	}{
		{"domain list without us", testConfig + domains,
			"x@filtered.test", "554 5.7.1 Mail for this domain is " +
				"accepted only from its mail filter"},
		{"domain list with us", testConfig + domains,
			"x@loopback.test", "250 "},
		{"no list anywhere", testConfig + domains,
			"alice@example.test", "250 "},
		{"global list without us", global + domains,
			"alice@example.test", "554 5.7.1 "},
		{"global list, unknown user: no user probing", global + domains,
			"nobody@example.test", "554 5.7.1 "},
		{"global list, domain opts out", global + domains,
			"x@open.test", "250 "},
		{"global list, domain's own list", global + domains,
			"x@loopback.test", "250 "},
		{"foreign domain stays a relay refusal", global + domains,
			"x@elsewhere.test", "554 5.7.1 Relay access denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.cfg.Store(parseConfig(t, tt.config, e.data))
			d := e.dial()
			d.cmd("EHLO client.test", "250 ")
			d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
			d.cmd("RCPT TO:<"+tt.rcpt+">", tt.want)
			if !strings.HasPrefix(tt.want, "250") {
				d.cmd("DATA", "502 ") // no recipient, no data
				e.checkNothingStored()
			}
			d.cmd("QUIT", "221 ")
		})
	}
}
