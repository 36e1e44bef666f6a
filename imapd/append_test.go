package imapd

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestAppendLimits: a literal over max_message_size is refused before
// it is sent (NO [TOOBIG], APPENDLIMIT advertised), and APPEND leaves
// the free space SMTP intake needs.
func TestAppendLimits(t *testing.T) {
	free := int64(1 << 40)
	h := startWith(t, t.TempDir(), func(o *Options) {
		o.FreeDisk = func(string) int64 { return free }
	})
	cfg := h.srv.opts.Config()
	r := h.raw(true)

	caps := strings.Join(r.cmd("CAPABILITY"), "\n")
	want := fmt.Sprintf("APPENDLIMIT=%d", cfg.Server.MaxMessageSize)
	if !strings.Contains(caps, want) {
		t.Errorf("no %s in %s", want, caps)
	}
	r.n++
	tag := fmt.Sprintf("t%d", r.n)
	fmt.Fprintf(r.c, "%s APPEND INBOX {%d}\r\n", tag,
		cfg.Server.MaxMessageSize+1)
	if got := r.line(); !strings.HasPrefix(got, tag+" NO [TOOBIG]") {
		t.Errorf("APPEND over the limit: %q", got)
	}
	if got := r.appendTo("INBOX", "Subject: x\r\n\r\nx\r\n"); !strings.
		Contains(got, " OK ") {
		t.Errorf("APPEND of a small message: %q", got)
	}
	free = 100 << 20 // less than appendReserve
	if got := r.appendTo("INBOX", "Subject: y\r\n\r\ny\r\n"); !strings.
		Contains(got, "NO [OVERQUOTA]") {
		t.Errorf("APPEND on a nearly full disk: %q", got)
	}
}

// TestConnectionsPerAddress turns away the 21st connection of one
// address with a BYE, and takes one again when a place frees.
func TestConnectionsPerAddress(t *testing.T) {
	h := startWith(t, t.TempDir(), func(o *Options) {
		o.CountLoopback = true
	})
	var open []*raw
	for range maxConnsPerAddr {
		open = append(open, h.raw(false))
	}
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	over := &raw{t: t, c: c, br: bufio.NewReader(c)}
	if got := over.line(); !strings.HasPrefix(got, "* BYE [UNAVAILABLE]") {
		t.Errorf("the 21st connection: %q", got)
	}
	c.Close()
	open[0].cmd("LOGOUT")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &raw{t: t, c: c, br: bufio.NewReader(c)}
		got := r.line()
		c.Close()
		if strings.HasPrefix(got, "* OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no place after a LOGOUT: %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
