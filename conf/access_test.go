package conf

import (
	"net/netip"
	"testing"
)

func TestAcceptsFrom(t *testing.T) {
	c, err := parse(okServer + `[smtp]
accept_from = ["192.0.2.0/24", "2001:db8::/32"]
[[domain]]
name = "filtered.test"
mode = "relay"
relay = "192.0.2.1:25"
[[domain]]
name = "own.test"
mode = "relay"
relay = "192.0.2.1:25"
accept_from = ["198.51.100.7"]
[[domain]]
name = "anyone.test"
mode = "relay"
relay = "192.0.2.1:25"
accept_from = []
`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		domain, ip string
		want       bool
	}{
		{"filtered.test", "192.0.2.77", true},
		{"filtered.test", "::ffff:192.0.2.77", true}, // a dual-stack socket
		{"filtered.test", "2001:db8:5::1", true},
		{"filtered.test", "203.0.113.9", false},
		{"filtered.test", "127.0.0.1", false},
		{"own.test", "198.51.100.7", true},
		{"own.test", "198.51.100.8", false},
		{"own.test", "192.0.2.77", false}, // its own list replaces [smtp]'s
		{"anyone.test", "203.0.113.9", true},
	}
	for _, tt := range tests {
		got := c.AcceptsFrom(c.Domain(tt.domain),
			netip.MustParseAddr(tt.ip))
		if got != tt.want {
			t.Errorf("%s from %s: %v, want %v", tt.domain, tt.ip, got,
				tt.want)
		}
	}

	// Without any list, every domain accepts from anywhere.
	c, err = parse(okDomains)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("203.0.113.9")
	if !c.AcceptsFrom(c.Domain("example.com"), ip) {
		t.Error("a domain with no accept_from anywhere refused a client")
	}
}
