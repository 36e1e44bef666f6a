package imapd

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stratamail/continuity/internal/authlimit"
)

// TestID: ID (RFC 2971) is offered and answered, before and after
// login, pipelined with other commands; forms the guard does not take
// (a literal) get imapserver's BAD and the connection goes on.
func TestID(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(false)
	if caps := r.cmd("CAPABILITY"); !strings.Contains(caps[0], " ID") {
		t.Errorf("no ID in %q", caps[0])
	}
	for _, tc := range []struct{ cmd, want string }{
		{"ID NIL", "OK ID completed"},
		{`ID ("name" "Roundcube" "x-originating-ip" "192.0.2.7")`,
			"OK ID completed"},
		{`id ("version" NIL "os" "Linux \"5\"")`, "OK ID completed"},
		{"ID (\"name\")", "BAD "},
	} {
		got := r.cmd(tc.cmd)
		tagged := last(got)
		if _, rest, _ := strings.Cut(tagged, " "); !strings.HasPrefix(rest,
			tc.want) {
			t.Errorf("%s: %q", tc.cmd, got)
		}
		if tc.want[0] == 'O' && got[0] != idReply {
			t.Errorf("%s: %q, want %s first", tc.cmd, got, idReply)
		}
	}
	// imapserver answers a command it does not know BAD, or BYE.
	r.send("a1 ID {4}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a1 BAD ") &&
		!strings.HasPrefix(l, "* BYE ") {
		t.Errorf("ID with a literal: %q", l)
	}
	r2 := h.raw(false)
	r2.send(fmt.Sprintf("p1 ID NIL\r\np2 LOGIN %s %q\r\n", alice, alicePW) +
		"p3 ID NIL\r\np4 NOOP\r\n")
	lines := r2.upTo("p4 ")
	want := []string{idReply, "p1 OK ID completed", "p2 OK",
		idReply, "p3 OK ID completed", "p4 OK"}
	if len(lines) != len(want) {
		t.Fatalf("pipelined: %q", lines)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("pipelined line %d: %q, want %q", i, lines[i], w)
		}
	}
}

// TestParseIDCommand covers the ID forms the guard rewrites, and where
// it stops holding a line back.
func TestParseIDCommand(t *testing.T) {
	for _, tc := range []struct {
		line   string
		ended  bool
		v      sortVerdict
		origin string
	}{
		{"a1 ID NIL\r\n", true, sortYes, ""},
		{"a1 ID (\"x-originating-ip\" \"2001:db8::1\")\r\n", true,
			sortYes, "2001:db8::1"},
		{"a1 ID (\"X-Originating-IP\" \"::ffff:192.0.2.1\")\n", true,
			sortYes, "192.0.2.1"},
		{"a1 ID (\"x-originating-ip\" \"not an address\")\r\n", true,
			sortYes, ""},
		{"a1 ID (\"x-originating-ip\" NIL)\r\n", true, sortYes, ""},
		{"a1 ID (NIL \"x\")\r\n", true, sortNo, ""},
		{"a1 ID (\"a\" \"b\r\n", true, sortNo, ""},
		{"a1 ID (\"a\" {1}\r\n", true, sortNo, ""},
		{"a1 I", false, sortMore, ""},
		{"a1 ID", false, sortMore, ""},
		{"a1 ID (", false, sortMore, ""},
		{"a1 IDLE\r\n", true, sortNo, ""},
		{"a1 IX", false, sortNo, ""},
		{"a+ ID NIL\r\n", true, sortNo, ""},
		{"a1 ID " + strings.Repeat("x", maxIDLine), false, sortNo, ""},
	} {
		noop, v, origin := parseIDCommand([]byte(tc.line), tc.ended)
		if v != tc.v || tc.origin != "" && origin !=
			netip.MustParseAddr(tc.origin) || tc.origin == "" &&
			origin.IsValid() {
			t.Errorf("%q: %v %v, want %v %s", tc.line, v, origin, tc.v,
				tc.origin)
		}
		if v == sortYes && string(noop) != "a1 NOOP\r\n" {
			t.Errorf("%q: %q", tc.line, noop)
		}
	}
}

// TestLoginLimitsByOrigin: a webmail on loopback that names its
// browser's address (ID x-originating-ip) has failures counted against
// that address: one browser guessing alice's password locks out only
// itself, and alice logs in through the same webmail from another
// browser. A peer that is not loopback cannot name an address.
func TestLoginLimitsByOrigin(t *testing.T) {
	h := start(t, t.TempDir())
	attacker := h.raw(false)
	attacker.cmd(`ID ("x-originating-ip" "192.0.2.66")`)
	for range authlimit.PerUser.Limit {
		attacker.cmd(fmt.Sprintf("LOGIN %s wrong", alice))
	}
	got := last(attacker.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW)))
	if !strings.Contains(got, "NO [UNAVAILABLE]") {
		t.Errorf("the guessing browser is not locked out: %q", got)
	}
	user := h.raw(false)
	user.cmd(`ID ("x-originating-ip" "198.51.100.9")`)
	got = last(user.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW)))
	if !strings.Contains(got, " OK ") {
		t.Errorf("alice from another browser: %q", got)
	}
	logs := h.log.String()
	if !strings.Contains(logs, "client=192.0.2.66") ||
		!strings.Contains(logs, `client=198.51.100.9 outcome=ok`) {
		t.Errorf("the login lines lack the browsers' addresses:\n%s", logs)
	}
	// Without ID, loopback failures are counted per user on loopback.
	plain := h.raw(false)
	got = last(plain.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW)))
	if !strings.Contains(got, " OK ") {
		t.Errorf("alice from loopback without ID: %q", got)
	}
}

// TestLoginLimitsAcrossOrigins: a local client naming a new address for
// every guess is still held, by the count of all of a user's logins
// named so (the per-address policy's limit); and naming a loopback
// address is no way around the loopback count.
func TestLoginLimitsAcrossOrigins(t *testing.T) {
	h := start(t, t.TempDir())
	// The per-address policy with a limit of 5 instead of 50: every
	// guess costs a bcrypt.
	policy := authlimit.PerAddr
	policy.Free, policy.Limit = 2, 5
	h.srv.webmailAuth = authlimit.New(policy, policy)
	r := h.raw(false)
	for i := range policy.Limit {
		r.cmd(fmt.Sprintf(`ID ("x-originating-ip" "192.0.2.%d")`, i+1))
		if got := last(r.cmd(fmt.Sprintf("LOGIN %s wrong", bob))); !strings.
			Contains(got, "NO [") {
			t.Fatalf("guess %d: %q", i, got)
		}
	}
	r.cmd(`ID ("x-originating-ip" "198.51.100.200")`)
	got := last(r.cmd(fmt.Sprintf("LOGIN %s %q", bob, alicePW)))
	if !strings.Contains(got, "NO [UNAVAILABLE]") {
		t.Errorf("bob from a fresh address after %d guesses: %q",
			policy.Limit, got)
	}
	// alice, locked out on loopback without ID, stays locked out when
	// a loopback address is named.
	a := h.raw(false)
	for range authlimit.PerUser.Limit {
		a.cmd(fmt.Sprintf("LOGIN %s wrong", alice))
	}
	for _, named := range []string{"::1", "127.0.0.2", "0.0.0.0"} {
		a.cmd(fmt.Sprintf(`ID ("x-originating-ip" %q)`, named))
		got := last(a.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW)))
		if !strings.Contains(got, "NO [UNAVAILABLE]") {
			t.Errorf("alice naming %s: %q", named, got)
		}
	}
}
