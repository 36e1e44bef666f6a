package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/internal/authlimit"
)

// TestLoginThrottle fails alice's login over a real socket until the
// lockout: the delays grow, an unknown user costs the same as a wrong
// password, and while locked out even the right password is refused.
func TestLoginThrottle(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(false)
	for i := 1; i < authlimit.PerUser.Limit; i++ {
		got := last(r.cmd(fmt.Sprintf("LOGIN %s wrong", alice)))
		if !strings.Contains(got, "NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("failure %d: %q", i, got)
		}
	}
	want := []time.Duration{0, 0, 0, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 15 * time.Second, 15 * time.Second,
		15 * time.Second}
	if got := slices.DeleteFunc(h.naps.take(), func(d time.Duration) bool {
		return d == 0
	}); !slices.Equal(got, slices.DeleteFunc(want,
		func(d time.Duration) bool { return d == 0 })) {
		t.Errorf("delays %v, want %v", got, want)
	}
	got := last(r.cmd(fmt.Sprintf("LOGIN %s wrong", alice)))
	if !strings.Contains(got, "NO [UNAVAILABLE]") {
		t.Errorf("at the limit: %q", got)
	}
	got = last(r.cmd(fmt.Sprintf("LOGIN %s %q", alice, alicePW)))
	if !strings.Contains(got, "NO [UNAVAILABLE]") {
		t.Errorf("right password while locked out: %q", got)
	}

	// An unknown user is answered as a wrong password is.
	r2 := h.raw(false)
	got = last(r2.cmd("LOGIN nobody@example.com wrong"))
	if !strings.Contains(got, "NO [AUTHENTICATIONFAILED]") {
		t.Errorf("unknown user: %q", got)
	}
	logs := h.log.String()
	for _, want := range []string{`outcome="locked out"`,
		`reason="bad password" failures=4 delay=2s`,
		`reason="unknown user" failures=1`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if strings.Contains(logs, alicePW) || strings.Contains(logs, "wrong") {
		t.Error("a password is in the log")
	}
}
