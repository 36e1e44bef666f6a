package conf

import (
	"strings"
	"testing"
)

func TestCheckDomain(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"example.com", true}, {"a-b.example", true},
		{"xn--bcher-kva.example", true}, {"localhost", true},
		{"3com.example", true}, {strings.Repeat("a", 63) + ".x", true},
		{"", false}, {"example.com.", false}, {".example.com", false},
		{"a..b", false}, {"-a.example", false}, {"a-.example", false},
		{"a_b.example", false}, {"bücher.example", false},
		{strings.Repeat("a", 64) + ".x", false},
		{strings.Repeat("a.", 127) + "ab", false},
	} {
		if err := checkDomain(tc.name); (err == nil) != tc.ok {
			t.Errorf("checkDomain(%q) = %v", tc.name, err)
		}
	}
}

func TestSplitAddress(t *testing.T) {
	for _, tc := range []struct{ in, local, domain string }{
		{"Alice@Example.COM", "alice", "example.com"},
		{"first.last+tag@example.com", "first.last+tag", "example.com"},
		{".hidden@example.com", ".hidden", "example.com"},
		{"jörg@example.com", "jörg", "example.com"},
		{"alice", "", ""}, {"@example.com", "", ""},
		{"alice@", "", ""}, {"a b@example.com", "", ""},
		{"a\tb@example.com", "", ""}, {"a/b@example.com", "", ""},
		{".@example.com", "", ""}, {"..@example.com", "", ""},
		{"a@b@example.com", "", ""}, {"alice@example.com.", "", ""},
		{strings.Repeat("a", 65) + "@example.com", "", ""},
		{"\xff@example.com", "", ""},
	} {
		l, d, err := splitAddress(tc.in)
		if l != tc.local || d != tc.domain ||
			(err == nil) != (tc.local != "") {
			t.Errorf("splitAddress(%q) = %q, %q, %v", tc.in, l, d, err)
		}
	}
}

func TestCheckHostPort(t *testing.T) {
	for _, tc := range []struct {
		in     string
		listen bool
		ok     bool
	}{
		{"mail.example.com:25", false, true},
		{"192.0.2.1:2525", false, true},
		{"[2001:db8::1]:25", false, true},
		{"[fe80::1%eth0]:25", false, true},
		{":25", true, true}, {":25", false, false},
		{"127.0.0.1:0", true, true}, {"127.0.0.1:0", false, false},
		{"localhost:143", true, true},
		{"mail.example.com", false, false},
		{"mail.example.com:65536", false, false},
		{"mail.example.com:-1", false, false},
		{"mail.example.com:smtp", false, false},
		{"mail_x.example.com:25", false, false},
		{"", true, false}, {"::1", true, false},
	} {
		err := checkHostPort(tc.in, "25", tc.listen)
		if (err == nil) != tc.ok {
			t.Errorf("checkHostPort(%q, %v) = %v", tc.in, tc.listen,
				err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:143", true}, {"127.8.9.10:143", true},
		{"[::1]:143", true}, {"localhost:143", true},
		{"LocalHost:143", true}, {"[::ffff:127.0.0.1]:143", true},
		{"0.0.0.0:143", false}, {":143", false}, {"[::]:143", false},
		{"192.0.2.1:143", false}, {"localhost.example:143", false},
	} {
		if got := isLoopback(tc.addr); got != tc.want {
			t.Errorf("isLoopback(%q) = %v", tc.addr, got)
		}
	}
}
