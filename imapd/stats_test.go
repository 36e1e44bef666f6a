package imapd

import (
	"strings"
	"testing"
	"time"
)

// TestStats checks the session gauge and the login counters over real
// connections.
func TestStats(t *testing.T) {
	h := start(t, t.TempDir())
	good := h.raw(true)
	bad := h.raw(false)
	if got := last(bad.cmd("LOGIN " + alice + " wrong")); !strings.Contains(
		got, "NO") {
		t.Fatalf("bad password: %q", got)
	}
	bad.cmd("LOGIN nobody@example.com wrong")
	st := h.srv.Stats()
	if st.Sessions != 2 || st.Logins["ok"] != 1 ||
		st.Logins["failed"] != 2 || st.Logins["error"] != 0 {
		t.Errorf("with two sessions open: %+v", st)
	}
	good.cmd("LOGOUT")
	bad.cmd("LOGOUT")
	deadline := time.Now().Add(10 * time.Second)
	for h.srv.Stats().Sessions != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions = %d after both logged out",
				h.srv.Stats().Sessions)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
