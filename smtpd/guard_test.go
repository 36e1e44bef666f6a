package smtpd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// received returns n Received fields.
func receivedFields(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Received: from hop%d.test by hop%d.test; "+
			"Fri, 04 Dec 2026 12:00:00 +0000\r\n", i, i+1)
	}
	return b.String()
}

func TestHopCount(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"at the limit", receivedFields(maxHops), "250 "},
		{"one hop over", receivedFields(maxHops + 1), "554 5.4.0 "},
		{"upper case counts", strings.ReplaceAll(
			receivedFields(maxHops+1), "Received:", "RECEIVED:"),
			"554 5.4.0 "},
		{"X-Received does not count",
			strings.ReplaceAll(receivedFields(maxHops+5), "Received:",
				"X-Received:"), "250 "},
		{"in the body it does not count", "Subject: x\r\n\r\n" +
			receivedFields(maxHops+5), "250 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.dial()
			d.cmd("EHLO client.test", "250 ")
			d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
			d.cmd("RCPT TO:<alice@example.test>", "250 ")
			d.cmd("DATA", "354 ")
			msg := tt.header
			if !strings.Contains(msg, "\r\n\r\n") {
				msg += "Subject: hops\r\n\r\nbody\r\n"
			}
			d.write(msg)
			d.cmd(".", tt.want)
			if !strings.HasPrefix(tt.want, "250") {
				e.checkNothingStored()
			}
		})
	}
}

func TestHeaderChecker(t *testing.T) {
	big := "X-Big: " + strings.Repeat("a", 100) + "\r\n"
	tests := []struct {
		name, msg string
		chunk     int
		want      string // "" for no refusal
	}{
		{"small", "Subject: x\r\n\r\nbody", 7, ""},
		{"over 1 MiB of header", strings.Repeat(big,
			maxHeaderSection/len(big)+1) + "\r\nbody", 4096, "552"},
		{"1 MiB of body is fine", "Subject: x\r\n\r\n" +
			strings.Repeat(big, maxHeaderSection/len(big)+1), 4096, ""},
		{"hops split across reads", receivedFields(maxHops+1) +
			"\r\nbody", 3, "554"},
		{"hops after a short line", "To: x\r\n" +
			receivedFields(maxHops+1) + "\r\nbody", 5, "554"},
		{"too many short header lines", strings.Repeat("X-A: b\r\n",
			maxHeaderLines+1) + "\r\nbody", 4096, "552"},
		{"many lines are fine in the body", "Subject: x\r\n\r\n" +
			strings.Repeat("X-A: b\r\n", maxHeaderLines+1), 4096, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHeaderChecker()
			got := ""
			for p := tt.msg; p != "" && got == ""; {
				n := min(tt.chunk, len(p))
				if r, _ := h.check([]byte(p[:n])); r != nil {
					got = fmt.Sprint(r.Code)
				}
				p = p[n:]
			}
			if got != tt.want {
				t.Errorf("refusal %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTooManyRefusals ends a session of refused recipients with 421.
func TestTooManyRefusals(t *testing.T) {
	e := newEnv(t)
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	for i := 1; i < maxRefusals; i++ {
		d.cmd(fmt.Sprintf("RCPT TO:<nobody%d@example.test>", i),
			"550 5.1.1 ")
	}
	d.cmd("RCPT TO:<nobody@example.test>", "421 4.7.0 ")
	if _, err := d.r.ReadByte(); err != io.EOF {
		t.Errorf("connection open after the 421: %v", err)
	}
}

// TestConnectionsPerAddress turns away a client address holding the
// most connections, and takes it again once one closes. Loopback is
// exempt in production; the test counts it.
func TestConnectionsPerAddress(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.tune.exemptLoopback = false })
	var open []*dialogue
	for range maxConnsPerAddr {
		open = append(open, e.dial())
	}
	d := e.dial2()
	d.expect("421 4.7.0 Too many connections")
	open[0].cmd("QUIT", "221 ")
	waitUntil(t, func() bool {
		c := e.dial2()
		defer c.c.Close()
		return strings.HasPrefix(c.reply(), "220 ")
	})
}

// TestLowDisk refuses MAIL with 452 when the data directory is nearly
// full, before any data is taken.
func TestLowDisk(t *testing.T) {
	e := newEnv(t, func(s *Server) {
		s.tune.freeDisk = func(string) int64 { return 10 << 20 }
	})
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "452 4.3.1 ")
	e.checkNothingStored()
}

// dial2 connects without reading the greeting.
func (e *env) dial2() *dialogue {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &dialogue{t: e.t, c: c, r: bufio.NewReader(c)}
}

// waitUntil polls cond for up to 10 seconds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMIMECounter(t *testing.T) {
	nested := func(n int, ctype string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "Content-Type: %s; boundary=b%d\r\n\r\n", ctype, i)
		}
		return b.String()
	}
	parts := func(n int) string {
		return "Content-Type: multipart/mixed; boundary=x\r\n\r\n" +
			strings.Repeat("--x\r\n\r\n", n) + "--x--\r\n"
	}
	tests := []struct {
		name  string
		msg   string
		chunk int
		want  bool // refused
	}{
		{"a few parts", nested(10, "multipart/mixed"), 7, false},
		{"multiparts at the limit", nested(maxContainers,
			"MULTIPART/mixed"), 4096, false},
		{"one multipart over", nested(maxContainers+1, "multipart/mixed"),
			4096, true},
		{"split across every read", nested(maxContainers+1,
			"multipart/mixed"), 3, true},
		{"nested messages count too", nested(maxContainers+1,
			"message/rfc822"), 4096, true},
		{"parts at the limit", parts(maxParts - 1), 4096, false},
		{"too many parts", parts(maxParts + 1), 4096, true},
		{"signature dashes are not parts", strings.Repeat("-- \r\n",
			maxParts+1), 4096, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMIMECounter()
			refused := false
			for p := tt.msg; p != "" && !refused; {
				n := min(tt.chunk, len(p))
				r, _ := m.check([]byte(p[:n]))
				refused = r != nil
				p = p[n:]
			}
			if refused != tt.want {
				t.Errorf("refused %v, want %v (containers %d, parts %d)",
					refused, tt.want, m.containers, m.parts)
			}
		})
	}
}

// TestBodyLineLength: lines are limited in the body as in commands, so
// BDAT, which go-smtp does not limit, cannot pass a line the primary
// would refuse.
func TestBodyLineLength(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *smtp.SMTPError
	}{
		{"at the limit", strings.Repeat("x", MaxLineLength-1) + "\r\n", nil},
		{"over, split", strings.Repeat("x", MaxLineLength+1) + "\r\n",
			replyLineTooLong},
		{"many short lines", strings.Repeat("x\r\n", MaxLineLength), nil},
	}
	for _, tt := range tests {
		b := bodyChecker{max: 1 << 30}
		var got *smtp.SMTPError
		for p := tt.body; p != "" && got == nil; {
			n := min(4096, len(p))
			got, _ = b.check([]byte(p[:n]))
			p = p[n:]
		}
		if got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
